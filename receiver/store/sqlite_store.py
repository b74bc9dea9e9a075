"""The Store on SQLite: each domain operation is one unit of work on the writer or reader thread."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import orjson

from receiver.core.events import event_body
from receiver.core.ids import new_id
from receiver.core.model import Report, Status, TaskError, TaskSpec
from receiver.core.reconcile import Outcome, Verdict, reconcile
from receiver.core.task import Task
from receiver.store.base import (
    KEEP,
    Applied,
    Claim,
    IdempotencyConflict,
    InboxEntry,
    NewTask,
    _Keep,
)
from receiver.store.migrate import migrate_sqlite
from receiver.store.queries import load
from receiver.store.sqlite_connector import SqliteConnector, Statements, connect
from receiver.store.sqlite_webhooks import Subscribers, WebhookOps, enqueue_event

Q = load("sqlite")
_TASK_GET, _BY_UPSTREAM, _EVENT_INSERT, _CALLBACK_INSERT = (
    Q["task_get"],
    Q["task_by_upstream_id"],
    Q["event_insert"],
    Q["callback_insert"],
)
_UPDATE_STATE = Q["task_update_state"]
_STATUS = {status.value: status for status in Status}

# The columns a Task is made of, in the order `_task_from` reads them by position
# (by name, sqlite3.Row scans every column name for each lookup). task_get selects
# these and then poll_at; list_tasks selects these.
TASK_COLUMNS = (
    "id, provider, status, prompt, aspect_ratio, quality, image_urls, created_at, updated_at, "
    "provider_task_id, result_urls, error_code, error_message, metadata, completed_at, "
    "event_seq, callback_mode"
)


def _urls(text: str) -> tuple[str, ...]:
    return () if text == "[]" else tuple(orjson.loads(text))


def _task_from(row: sqlite3.Row) -> Task:
    """A Task from a row that starts with TASK_COLUMNS (positional arguments: this runs
    for every callback and poll, and keywords cost a third more)."""
    error_code, metadata, status, image_urls, result_urls = (
        row[11],
        row[13],
        row[2],
        row[6],
        row[10],
    )
    return Task(
        row[0],
        row[1],
        _STATUS.get(status) or Status(status),
        TaskSpec(
            row[3], row[4], row[5], () if image_urls == "[]" else tuple(orjson.loads(image_urls))
        ),
        row[7],
        row[8],
        row[9],
        () if result_urls == "[]" else tuple(orjson.loads(result_urls)),
        TaskError(error_code, row[12] or "") if error_code else None,
        orjson.loads(metadata) if metadata is not None else None,
        row[14],
        row[15],
        bool(row[16]),
    )


def _row_to_task(row: sqlite3.Row) -> Task:
    """A Task from any row holding the task's columns (`SELECT *`), by name."""
    error = TaskError(row["error_code"], row["error_message"] or "") if row["error_code"] else None
    metadata = row["metadata"]
    status = row["status"]
    return Task(
        id=row["id"],
        provider=row["provider"],
        status=_STATUS.get(status) or Status(status),
        spec=TaskSpec(
            prompt=row["prompt"],
            aspect_ratio=row["aspect_ratio"],
            quality=row["quality"],
            image_urls=_urls(row["image_urls"]),
        ),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        provider_task_id=row["provider_task_id"],
        result_urls=_urls(row["result_urls"]),
        error=error,
        metadata=orjson.loads(metadata) if metadata is not None else None,
        completed_at=row["completed_at"],
        event_seq=row["event_seq"],
        callback_mode=bool(row["callback_mode"]),
    )


def _fetch_task(conn: sqlite3.Connection, task_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(Q["task_get"], (task_id,)).fetchone()
    return row


class SqliteStore(WebhookOps):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = SqliteConnector(path)
        self.subscribers = Subscribers()
        self.db.on_reset(self.subscribers.clear)
        self._releasing: set[asyncio.Future[None]] = set()

    def on_commit(self, observer: Callable[[int, float], None]) -> None:
        self.db.on_commit(observer)

    async def open(self) -> None:
        conn = connect(self.path)
        try:
            migrate_sqlite(conn)
        finally:
            conn.close()
        self.db.open()
        await self.db.write(self.subscribers.install)
        self.subscribers.start()  # the triggers are committed: the cache may keep what it reads

    async def close(self) -> None:
        if self._releasing:
            await asyncio.wait(set(self._releasing))
        await self.db.close()
        self.subscribers.stop()

    async def ping(self) -> None:
        await self.db.read(lambda conn: conn.execute("SELECT 1").fetchone())

    async def secret_key(self, candidate: str) -> str:
        def work(conn: sqlite3.Connection) -> str:
            conn.execute(Q["meta_insert"], ("callback_secret_key", candidate))
            value: str = conn.execute(Q["meta_get"], ("callback_secret_key",)).fetchone()[0]
            return value

        return await self.db.write(work)

    async def create_task(self, new: NewTask) -> tuple[Task, bool]:
        task = new.task

        def work(conn: sqlite3.Connection) -> tuple[Task, bool]:
            if new.idempotency_key is not None:
                seen = conn.execute(Q["task_by_idempotency_key"], (new.idempotency_key,)).fetchone()
                if seen is not None:
                    if seen["request_hash"] != new.request_hash:
                        raise IdempotencyConflict(new.idempotency_key, seen["id"])
                    row = _fetch_task(conn, seen["id"])
                    assert row is not None
                    return _task_from(row), False
            conn.execute(
                Q["task_insert"],
                (
                    task.id,
                    task.provider,
                    task.spec.prompt,
                    task.spec.aspect_ratio,
                    task.spec.quality,
                    orjson.dumps(list(task.spec.image_urls)).decode(),
                    orjson.dumps(task.metadata).decode() if task.metadata is not None else None,
                    int(task.callback_mode),
                    task.created_at,
                    task.updated_at,
                    new.deadline_at,
                    new.idempotency_key,
                    new.request_hash,
                    task.created_at,
                ),
            )
            return task, True

        return await self.db.write(work)

    async def get_task(self, task_id: str) -> Task | None:
        row = await self.db.read(lambda conn: _fetch_task(conn, task_id))
        return _task_from(row) if row is not None else None

    async def list_tasks(
        self, *, status: str | None, provider: str | None, limit: int, after: str | None
    ) -> list[Task]:
        clauses, params = [], []
        for column, value in (("status", status), ("provider", provider)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if after is not None:
            clauses.append("id < ?")
            params.append(after)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT {TASK_COLUMNS} FROM tasks {where} ORDER BY id DESC LIMIT ?"
        rows = await self.db.read(lambda conn: conn.execute(sql, (*params, limit)).fetchall())
        return [_task_from(row) for row in rows]

    async def apply_report(
        self,
        task_id: str,
        report: Report,
        now: float,
        *,
        poll_at: float | _Keep | None = KEEP,
        settles_submit: bool = False,
        inbox: InboxEntry | None = None,
    ) -> Applied | None:
        def work(conn: sqlite3.Connection) -> Applied | None:
            # Every callback and poll runs this on the writer (B2): SQL texts are module
            # constants and the common path looks nothing up twice.
            cur = conn.cursor()  # for all its statements (see Statements)
            row = cur.execute(_TASK_GET, (task_id,)).fetchone()
            if row is None:
                return None
            before = _task_from(row)
            outcome = reconcile(before, report, now)
            task = outcome.task
            if task.provider_task_id != before.provider_task_id and (
                cur.execute(_BY_UPSTREAM, (before.provider, task.provider_task_id)).fetchone()
            ):
                # The report names an upstream task that is already another of ours.
                outcome = Outcome(before, (), Verdict.MISMATCH)
                task = before
            if task != before:
                _write_state(cur, before, task)
            event_ids, claims = [], []
            for event in outcome.events:
                event_id = new_id("evt", now)
                body = event_body(event_id, event.type, event.sequence, now, task)
                cur.execute(
                    _EVENT_INSERT, (event_id, task.id, event.type, event.sequence, now, body)
                )
                claims += enqueue_event(
                    cur, event_id, event.type, now, self.subscribers, body=body, lease=lease
                )
                event_ids.append(event_id)
            # A final task's work was ended by its state update; the others get their
            # next create attempt or status query settled here.
            if not task.status.final:
                if settles_submit:
                    next_poll = row["poll_at"] if poll_at is KEEP else poll_at
                    cur.execute(Q["task_submit_settled"], (next_poll, task.id))
                elif poll_at is not KEEP:
                    cur.execute(Q["task_poll_reschedule"], (poll_at, None, task.id))
            if inbox is not None:
                cur.execute(
                    _CALLBACK_INSERT,
                    (
                        inbox.id,
                        inbox.provider,
                        task.id,
                        inbox.received_at,
                        inbox.body,
                        str(outcome.verdict),  # its value (StrEnum), without the property
                    ),
                )
            return Applied(task, outcome.verdict, tuple(event_ids), tuple(claims))

        handoff = self.handoff
        lease = handoff.handoff_lease if handoff is not None else None
        future = self.db.write(work)
        if lease is None:
            return await future
        # Claimed deliveries reach the dispatcher from the commit itself: shielded, a
        # caller that goes away (a client disconnecting) cannot drop them.
        future.add_done_callback(self._hand_over)
        return await asyncio.shield(future)

    def _hand_over(self, future: asyncio.Future[Applied | None]) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        applied = future.result()
        if applied is None or not applied.claims:
            return
        handoff = self.handoff
        if handoff is not None:
            handoff.take(applied.claims)
        else:  # the dispatcher stopped meanwhile: back to the outbox, due as they were
            ids = [claim.delivery_id for claim in applied.claims]
            task = asyncio.ensure_future(
                self.release_deliveries(ids, applied.claims[0].enqueued_at)
            )
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)

    async def claim_submits(self, now: float, limit: int, lease: float) -> list[Claim]:
        def work(conn: sqlite3.Connection) -> list[Claim]:
            rows = conn.execute(Q["task_submit_due"], (now, limit)).fetchall()
            for row in rows:
                conn.execute(Q["task_submit_claim"], (now + lease, row["id"]))
            return [
                Claim(
                    task=_row_to_task(row),
                    deadline_at=row["deadline_at"],
                    attempts=row["submit_attempts"],
                    was_inflight=bool(row["submit_inflight"]),
                )
                for row in rows
            ]

        return await self.db.write(work)

    async def retry_submit(self, task_id: str, at: float, *, inflight: bool, error: str) -> None:
        await self.db.write(
            lambda conn: conn.execute(Q["task_submit_retry"], (at, int(inflight), error, task_id))
        )

    async def claim_polls(self, now: float, provider: str, limit: int, lease: float) -> list[Claim]:
        def work(conn: sqlite3.Connection) -> list[Claim]:
            rows = conn.execute(Q["task_poll_due"], (now, provider, limit)).fetchall()
            for row in rows:
                conn.execute(Q["task_poll_claim"], (now + lease, row["id"]))
            return [
                Claim(
                    _row_to_task(row),
                    row["deadline_at"],
                    row["poll_attempts"],
                    due_at=row["poll_at"],
                )
                for row in rows
            ]

        return await self.db.write(work)

    async def reschedule_poll(self, task_id: str, at: float, error: str | None) -> None:
        await self.db.write(
            lambda conn: conn.execute(Q["task_poll_reschedule"], (at, error, task_id))
        )

    async def recent_durations(self, provider: str, limit: int) -> list[float]:
        rows = await self.db.read(
            lambda conn: conn.execute(Q["task_recent_durations"], (provider, limit)).fetchall()
        )
        return [row[0] for row in rows]

    async def next_due(self) -> float | None:
        def work(conn: sqlite3.Connection) -> float | None:
            times = [
                conn.execute(Q["next_submit_due"]).fetchone()[0],
                conn.execute(Q["next_poll_due"]).fetchone()[0],
            ]
            present = [t for t in times if t is not None]
            return min(present) if present else None

        return await self.db.read(work)


def _write_state(conn: Statements, before: Task, task: Task) -> None:
    error = task.error
    params = (
        task.provider_task_id,
        str(task.status),  # its value (StrEnum), without the property
        orjson.dumps(task.result_urls).decode() if task.result_urls else "[]",
        error.code if error else None,
        error.message if error else None,
        task.updated_at,
        task.completed_at,
        task.event_seq,
        task.status.final,
        task.id,
        before.event_seq,
    )
    if conn.execute(_UPDATE_STATE, params).rowcount != 1:
        raise RuntimeError(f"task {task.id} changed under us (event_seq {before.event_seq})")
