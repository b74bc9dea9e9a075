"""SQLite access from asyncio: one writer thread with group commit, one reader thread.

Why not aiosqlite: it costs one thread hop per statement (25-80 us each, more
than a commit; see shared/benchmarks.md) and cannot run a whole transaction, or
several concurrent ones, in a single hop. Here a unit of work is a plain
function of a `sqlite3.Connection`, run on the connection's own thread:

- `write(fn)`: the writer takes every unit queued at that moment, runs each
  inside its own SAVEPOINT within one `BEGIN IMMEDIATE` transaction, commits
  once (`synchronous=FULL`), then resolves every caller. A unit that raises is
  rolled back alone; a failed COMMIT fails the whole batch. Nobody's future is
  resolved before the commit that holds their work is durable.
- `read(fn)`: runs on a separate read connection (WAL lets it read while the
  writer writes) inside a transaction, so a multi-query read sees one snapshot.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from receiver.errors import StoreError

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], Any]

MAX_BATCH = 256


@dataclass(slots=True)
class _Job:
    work: Work
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _resolve(results: list[tuple[asyncio.Future[Any], BaseException | None, Any]]) -> None:
    for future, error, value in results:
        if future.done():  # the caller was cancelled; the work is done regardless
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 10000")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    return conn


class _Worker(threading.Thread):
    def __init__(self, name: str, conn: sqlite3.Connection, batch: bool) -> None:
        super().__init__(name=name, daemon=True)
        self.conn = conn
        self.batch = batch
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()

    def run(self) -> None:
        try:
            while True:
                first = self.jobs.get()
                if first is None:
                    return
                jobs = [first]
                stop = False
                while self.batch and len(jobs) < MAX_BATCH:
                    try:
                        nxt = self.jobs.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    jobs.append(nxt)
                self._run_batch(jobs)
                if stop:
                    return
        finally:
            self.conn.close()

    def _run_batch(self, jobs: list[_Job]) -> None:
        results: list[tuple[asyncio.Future[Any], BaseException | None, Any]] = []
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE" if self.batch else "BEGIN")
            for job in jobs:
                conn.execute("SAVEPOINT unit")
                try:
                    value = job.work(conn)
                except BaseException as exc:  # handed to the caller, not lost
                    conn.execute("ROLLBACK TO unit")
                    conn.execute("RELEASE unit")
                    results.append((job.future, exc, None))
                else:
                    conn.execute("RELEASE unit")
                    results.append((job.future, None, value))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = StoreError(f"database transaction failed: {exc}")
            error.__cause__ = exc
            results = [(job.future, error, None) for job in jobs]
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for job, result in zip(jobs, results, strict=True):
            by_loop.setdefault(job.loop, []).append(result)
        for loop, items in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, items)


class SqliteConnector:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: _Worker | None = None
        self._reader: _Worker | None = None

    def open(self) -> None:
        if self._writer is not None:
            return
        try:
            writer = connect(self.path)
            reader = connect(self.path, readonly=True)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        self._writer = _Worker("receiver-db-writer", writer, batch=True)
        self._reader = _Worker("receiver-db-reader", reader, batch=False)
        self._writer.start()
        self._reader.start()

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._submit(self._writer, work)

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._submit(self._reader, work)

    async def _submit(self, worker: _Worker | None, work: Callable[[sqlite3.Connection], T]) -> T:
        if worker is None:
            raise StoreError("the database is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        worker.jobs.put(_Job(work, future, loop))
        # Shielded: a cancelled caller must not make us forget work the writer
        # may already have committed; the result is simply dropped.
        return await asyncio.shield(future)

    async def close(self) -> None:
        for worker in (self._writer, self._reader):
            if worker is not None:
                worker.jobs.put(None)
        for worker in (self._writer, self._reader):
            if worker is not None:
                await asyncio.to_thread(worker.join)
        self._writer = self._reader = None
