"""Adaptive polling end to end: the poller schedules from completion times it finds in the
database at start, and falls back to the providers' advice without them.

Real HTTP servers on loopback; time moves only when the test advances the manual clock.
"""

from __future__ import annotations

import math
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from support import running, until

from receiver.core.ids import new_id
from receiver.core.model import Report, Status, TaskSpec
from receiver.core.task import Task
from receiver.sandbox import SandboxConfig
from receiver.store.base import NewTask
from receiver.store.sqlite_store import SqliteStore

HISTORY = [25.0 + 15.0 * i / 49 for i in range(50)]  # apipod took 25-40 s lately
P15 = HISTORY[7]  # nearest rank: ceil(0.15 * 50) - 1


async def seed(db: Path, provider: str, durations: list[float]) -> None:
    """Completed tasks in the database, as a previous run of the service leaves them."""
    store = SqliteStore(db)
    await store.open()
    try:
        start = time.time() - 3600
        for i, seconds in enumerate(durations):
            created = start + i
            task = Task(
                id=new_id("task", created),
                provider=provider,
                status=Status.QUEUED,
                spec=TaskSpec(prompt=f"earlier {i}"),
                created_at=created,
                updated_at=created,
            )
            await store.create_task(NewTask(task, deadline_at=created + 900))
            pending = Report(Status.PENDING, provider_task_id=f"old-{i}")
            await store.apply_report(task.id, pending, created, settles_submit=True, poll_at=None)
            done = Report(Status.COMPLETED, result_urls=("https://x/1.png",))
            await store.apply_report(task.id, done, created + seconds)
    finally:
        await store.close()


def status_of(db: Path, task_id: str) -> str:
    with closing(sqlite3.connect(db)) as conn:
        return str(conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()[0])


def settled(db: Path, task_id: str, now: float) -> bool:
    """The last query's answer is recorded: the task is final, or its next query is due
    within one gap of the bulk (a claimed task's poll_at is its lease, 11 s away)."""
    with closing(sqlite3.connect(db)) as conn:
        status, poll_at = conn.execute(
            "SELECT status, poll_at FROM tasks WHERE id = ?", (task_id,)
        ).fetchone()
    return status in ("completed", "failed") or (poll_at is not None and now < poll_at <= now + 3)


def first_poll_delay(db: Path, task_id: str) -> float:
    with closing(sqlite3.connect(db)) as conn:
        poll_at, created_at = conn.execute(
            "SELECT poll_at, created_at FROM tasks WHERE id = ?", (task_id,)
        ).fetchone()
    return float(poll_at - created_at)


async def test_learned_history_moves_the_first_poll_and_spaces_the_rest(tmp_path: Path) -> None:
    await seed(tmp_path / "receiver.db", "apipod", HISTORY)
    config = SandboxConfig(pending_seconds=0, processing_seconds=33)
    async with running(tmp_path, sandbox_config=config) as h:
        task = await h.create(prompt="a lighthouse", provider="apipod")
        await h.wait_status(task["id"], "pending")
        delay = first_poll_delay(h.db, task["id"])
        assert abs(delay - P15) <= 0.25 + 0.05  # +/- a tenth of the spacing
        stats = h.sandbox.stats["apipod"]
        assert stats.status_queries == 0

        h.clock.advance(delay + 0.01)
        await until(lambda: settled(h.db, task["id"], h.clock.now()), what="the first query")
        assert stats.status_queries == 1
        # Then about every 2.5 s (+/-10 %): stepping 2.8 s, at most one query per step.
        for steps in range(1, 11):
            if status_of(h.db, task["id"]) == "completed":
                break
            h.clock.advance(2.8)
            await until(lambda: settled(h.db, task["id"], h.clock.now()), what="a query")
            assert stats.status_queries == steps + 1
        assert status_of(h.db, task["id"]) == "completed"
        every_two_seconds = math.ceil(33 / 2)
        assert stats.status_queries <= 1 + math.ceil((33 - P15) / 2.25) < every_two_seconds
        scrape = (await h.api.get("/metrics")).text
        assert 'receiver_poll_schedule_lag_seconds_count{provider="apipod"}' in scrape


async def test_without_history_the_first_poll_follows_the_providers_advice(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        task = await h.create(prompt="a lighthouse", provider="apipod")
        await h.wait_status(task["id"], "pending")
        assert 1.6 <= first_poll_delay(h.db, task["id"]) <= 2.4
        assert not h.runtime.polling.learned("apipod")
