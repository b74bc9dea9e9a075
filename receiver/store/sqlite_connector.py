"""SQLite access from asyncio: one writer thread with group commit, one reader thread.

Why not aiosqlite: it costs one thread hop per statement (25-80 us each, more
than a commit; see shared/benchmarks.md) and cannot run a whole transaction, or
several concurrent ones, in a single hop. Here a unit of work is a plain
function of a `sqlite3.Connection`, run on the connection's own thread:

- `write(fn)`: the writer takes every unit queued at that moment, runs them
  all within one `BEGIN IMMEDIATE` transaction, commits once
  (`synchronous=FULL`), then resolves every caller. When callers are
  concurrent and the batch is small, it first gathers a little longer (see
  `_Worker._gather`). A unit that raises is
  rolled back alone (see `_Worker._units`: the batch is redone with a
  savepoint per unit when a failing unit had written something, so a unit
  may run twice when another in its batch fails: units are plain functions
  of the database and keep no state of their own); a failed COMMIT fails the
  whole batch. Nobody's future is resolved before the commit that holds
  their work is durable.
- `read(fn)`: runs on a separate read connection (WAL lets it read while the
  writer writes) inside a transaction, so a multi-query read sees one snapshot.

Observers registered with `on_commit` hear of every write transaction, on the
event loop, with its units and how long its COMMIT took (the WAL frames
written and fsynced): the disk's latency, which every answer waits on.
"""

from __future__ import annotations

import asyncio
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from receiver.errors import StoreError

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], Any]
# What a unit runs its statements on: the connection, or one cursor the unit makes for
# them all (`conn.execute` makes a cursor per statement, ~0.25 us each; the callback
# unit runs five or more, B2).
Statements = sqlite3.Connection | sqlite3.Cursor

MAX_BATCH = 256
# Gathering (see _Worker._gather): a batch this big commits at once; a smaller one
# waits for more in slices this long, for at most this many slices.
GATHER_BELOW = 16
GATHER_SLICE = 0.002
GATHER_SLICES = 3


@dataclass(slots=True)
class _Job:
    work: Work
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    urgent: bool = False  # its batch commits without gathering (see _Worker._gather)


# Told of each write transaction committed: its units of work and its COMMIT's seconds.
CommitObserver = Callable[[int, float], None]


def _resolve(
    results: list[tuple[asyncio.Future[Any], BaseException | None, Any]],
    committed: tuple[list[CommitObserver], int, float] | None = None,
) -> None:
    for future, error, value in results:
        if future.done():  # the caller was cancelled; the work is done regardless
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
    if committed is not None:  # after the answers: observers never hold one back
        observers, units, seconds = committed
        for observe in observers:
            observe(units, seconds)


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
    def __init__(
        self,
        name: str,
        conn: sqlite3.Connection,
        batch: bool,
        resets: list[Callable[[], None]] | None = None,
        pause: Callable[[float], None] = time.sleep,
        observers: list[CommitObserver] | None = None,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.conn = conn
        self.batch = batch
        self.pause = pause
        self.observers = observers or []
        # Whether work came in while the last transaction ran (see _gather).
        self.concurrent = False
        # Emptiers of caches kept beside this connection (see SqliteConnector.on_reset).
        self.resets = resets or []
        self.data_version: int | None = None
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # Transactions run and units of work in them, for the batch size (benchmarks).
        self.transactions = 0
        self.units = 0

    def run(self) -> None:
        if self.batch:
            _no_wakeup_preemption()
        try:
            while True:
                first = self.jobs.get()
                if first is None:
                    return
                jobs = [first]
                stop = self._take(jobs)
                if self.batch and self.concurrent and not stop:
                    stop = self._gather(jobs)
                self._run_batch(jobs)
                if stop:
                    return
        finally:
            self.conn.close()

    def _take(self, jobs: list[_Job]) -> bool:
        """Add what is queued now to `jobs` (a write batch) and say whether to stop."""
        while self.batch and len(jobs) < MAX_BATCH:
            try:
                nxt = self.jobs.get_nowait()
            except queue.Empty:
                return False
            if nxt is None:
                return True
            jobs.append(nxt)
        return False

    def _gather(self, jobs: list[_Job]) -> bool:
        """Wait a little for more units before a small batch commits.

        Called when work came in while the last transaction ran: the callers are
        concurrent (not one caller waiting on its own last write, which would gain
        nothing by waiting and is never held back). Then a batch of fewer than
        GATHER_BELOW units waits a slice (GATHER_SLICE) for more, and again while a
        slice brings any, GATHER_SLICES at most: a commit costs about the same for
        one unit or ten (the pages, the fsync, the wake-ups of both threads), so at a
        moderate rate fewer, larger transactions save CPU. Under full load batches
        are large already, and a closed loop of callers stops sending once all wait,
        so the first empty slice ends the wait (B1 unchanged). B5 at 1,800
        callbacks/s: 534-542 -> 418-433 us of CPU per event, 4,800-5,400 -> 1,150
        transactions, the rate the service keeps up with ~1,700 -> ~2,000/s
        (BENCHMARKS.md). Returns whether to stop, as `_take` does.
        """
        for _ in range(GATHER_SLICES):
            had = len(jobs)
            if had >= GATHER_BELOW or any(job.urgent for job in jobs):
                break
            self.pause(GATHER_SLICE)
            if self._take(jobs):
                return True
            if len(jobs) == had:
                break
        return False

    def _run_batch(self, jobs: list[_Job]) -> None:
        conn = self.conn
        committed = None
        try:
            results = self._units(jobs) if self.batch else self._one(jobs)
            started = time.perf_counter()
            conn.execute("COMMIT")
            if self.batch:
                self.transactions += 1
                self.units += len(jobs)
                if self.observers:
                    committed = (self.observers, len(jobs), time.perf_counter() - started)
        except sqlite3.Error as exc:
            self._reset()
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = StoreError(f"database transaction failed: {exc}")
            error.__cause__ = exc
            results = [(job.future, error, None) for job in jobs]
        # Before anyone learns the outcome: what is queued now came in while this
        # transaction ran, not in answer to it (see _gather).
        self.concurrent = not self.jobs.empty()
        loops = {job.loop for job in jobs}
        if len(loops) == 1:  # the service's case: one event loop
            by_loop = {loops.pop(): results}
        else:
            by_loop = {}
            for job, result in zip(jobs, results, strict=True):
                by_loop.setdefault(job.loop, []).append(result)
        for loop, items in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, items, committed)
                committed = None  # observed once, on the first loop

    def _one(self, jobs: list[_Job]) -> list[_Outcome]:
        """Reads: each job in a plain transaction (a snapshot), never written to."""
        self.conn.execute("BEGIN")
        return [_run(job, self.conn) for job in jobs]

    def _units(self, jobs: list[_Job]) -> list[_Outcome]:
        """The units of one write transaction, each one's failure undone alone.

        A savepoint per unit makes every page a unit writes go to the statement
        sub-journal first, which doubles the cost of a unit's writes (see B2 in
        scripts/benchmarks). So units run bare, and `total_changes` tells
        whether a failing one had written anything: if not, there is nothing to
        undo and the batch goes on. If it had, the whole transaction is rolled
        back and the other units run again, each in its own savepoint, while the
        failed one keeps its error and never runs twice. (`total_changes` counts
        rows inserted, updated and deleted, not schema changes or PRAGMAs: a
        unit making those must not fail after them.)
        """
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        if self.resets:
            # Holding the write lock now: nobody else can commit until we do, so a
            # cache checked here stays true for the whole transaction.
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self.data_version:  # another connection committed meanwhile
                self.data_version = version
                self._reset()
        results: list[_Outcome] = []
        for index, job in enumerate(jobs):
            changes = conn.total_changes
            try:  # _run, inline: this runs for every unit
                results.append((job.future, None, job.work(conn)))
                continue
            except BaseException as exc:  # handed to the caller, not lost
                outcome = (job.future, exc, None)
            results.append(outcome)
            if not conn.in_transaction:  # SQLite rolled it all back (disk full, I/O error)
                raise sqlite3.OperationalError(f"the transaction was rolled back: {outcome[1]}")
            if conn.total_changes == changes:
                continue
            conn.execute("ROLLBACK")
            self._reset()
            conn.execute("BEGIN IMMEDIATE")
            others = [*jobs[:index], *jobs[index + 1 :]]
            redone = iter(self._in_savepoints(others))
            return [outcome if i == index else next(redone) for i in range(len(jobs))]
        return results

    def _in_savepoints(self, jobs: list[_Job]) -> list[_Outcome]:
        conn = self.conn
        results: list[_Outcome] = []
        for job in jobs:
            conn.execute("SAVEPOINT unit")
            outcome = _run(job, conn)
            if outcome[1] is not None:
                conn.execute("ROLLBACK TO unit")
                self._reset()
            conn.execute("RELEASE unit")
            results.append(outcome)
        return results

    def _reset(self) -> None:
        for reset in self.resets:
            reset()


_Outcome = tuple[asyncio.Future[Any], BaseException | None, Any]


def _no_wakeup_preemption() -> None:
    """Put the calling thread (the writer) under SCHED_BATCH, where Linux does not let
    a thread that wakes up preempt the one running.

    The writer wakes whenever the event loop queues work. Under the default policy it
    then preempts the loop at once, only to need the interpreter lock the loop holds:
    it blocks, the loop runs on, and the pair of switches bought nothing. On one core
    (the benchmarks' pinning, a small VM) that was ~0.5 involuntary switches of the
    loop per event in B5. Under SCHED_BATCH the writer runs when the loop waits (for
    the network, or for the lock, which it gives up during SQLite's own work) or
    when the loop's time slice ends, with what has queued by then: B5 driver at
    2,300/s, service CPU 423/428 -> 390/401 us per event and p50 202/385 -> 14/24 ms;
    B1 driver 4,707/4,968/4,489 -> 5,454/5,374/5,050 callbacks/s; B3 driver
    7,597/6,897/6,973 -> 7,675/7,663/7,167 deliveries/s (interleaved pairs, one
    build). With a core of its own (more cores than threads) it changes nothing. Not
    a priority: the writer gets its fair share of the CPU as before. Elsewhere than
    Linux there is no such policy, and the thread keeps the default."""
    setscheduler = getattr(os, "sched_setscheduler", None)
    batch = getattr(os, "SCHED_BATCH", None)
    if setscheduler is None or batch is None:
        return
    try:
        setscheduler(0, batch, os.sched_param(0))
    except OSError:  # a sandbox that forbids it: run as before
        pass


def _run(job: _Job, conn: sqlite3.Connection) -> _Outcome:
    try:
        return (job.future, None, job.work(conn))
    except BaseException as exc:  # handed to the caller, not lost
        return (job.future, exc, None)


class SqliteConnector:
    def __init__(self, path: Path, pause: Callable[[float], None] = time.sleep) -> None:
        self.path = path
        self.pause = pause  # how the writer waits while it gathers a batch (tests step it)
        self._writer: _Worker | None = None
        self._reader: _Worker | None = None
        self._resets: list[Callable[[], None]] = []
        self._observers: list[CommitObserver] = []

    def on_commit(self, observer: CommitObserver) -> None:
        """Have `observer(units, seconds)` called on the event loop after each write
        transaction commits: how many units of work it held and how long its COMMIT
        took. Register before `open`."""
        self._observers.append(observer)

    def on_reset(self, reset: Callable[[], None]) -> None:
        """Have the writer call `reset` (on its thread) whenever a cache of what its
        transactions read may have gone wrong: when it rolled anything back, and when
        another connection (another process) committed since its last transaction.
        Register before `open`."""
        self._resets.append(reset)

    def open(self) -> None:
        if self._writer is not None:
            return
        try:
            writer = connect(self.path)
            reader = connect(self.path, readonly=True)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        self._writer = _Worker(
            "receiver-db-writer",
            writer,
            batch=True,
            resets=self._resets,
            pause=self.pause,
            observers=self._observers,
        )
        self._reader = _Worker("receiver-db-reader", reader, batch=False)
        self._writer.start()
        self._reader.start()

    def batching(self) -> tuple[int, int]:
        """(transactions committed, units of work in them) by the writer so far."""
        writer = self._writer
        return (writer.transactions, writer.units) if writer is not None else (0, 0)

    def write(
        self, work: Callable[[sqlite3.Connection], T], *, urgent: bool = False
    ) -> asyncio.Future[T]:
        """Run `work` on the writer in the next group commit; the future resolves once
        durable. `urgent`: its batch does not wait to gather more (for a caller whose
        own pace depends on the answer, like the dispatcher's claims)."""
        return self._submit(self._writer, work, urgent)

    def read(self, work: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Run `work` on the reader, in a transaction of its own (one snapshot)."""
        return self._submit(self._reader, work)

    def _submit(
        self, worker: _Worker | None, work: Callable[[sqlite3.Connection], T], urgent: bool = False
    ) -> asyncio.Future[T]:
        # A plain future rather than a coroutine: one await, no task step of its own.
        # A caller cancelled while it waits cancels only this future; the work is
        # still done (and maybe committed), and its result is simply dropped.
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if worker is None:
            future.set_exception(StoreError("the database is not open"))
        else:
            worker.jobs.put(_Job(work, future, loop, urgent))
        return future

    async def close(self) -> None:
        for worker in (self._writer, self._reader):
            if worker is not None:
                worker.jobs.put(None)
        for worker in (self._writer, self._reader):
            if worker is not None:
                await asyncio.to_thread(worker.join)
        self._writer = self._reader = None
