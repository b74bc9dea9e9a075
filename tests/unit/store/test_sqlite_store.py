from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from store_fixtures import T0, task

from receiver.core.model import Report, Status
from receiver.core.reconcile import Verdict
from receiver.store.base import IdempotencyConflict, InboxEntry, NewTask
from receiver.store.sqlite_store import SqliteStore


async def test_a_created_task_is_due_for_submission_at_once(store: SqliteStore) -> None:
    created, fresh = await store.create_task(NewTask(task(1), deadline_at=T0 + 900))
    assert fresh and created.status is Status.QUEUED
    assert await store.next_due() == T0 + 1
    claims = await store.claim_submits(T0 + 1, 10, lease=40)
    assert [c.task.id for c in claims] == [created.id]
    assert claims[0].attempts == 0 and not claims[0].was_inflight
    # Claimed: not claimable again until the lease runs out...
    assert await store.claim_submits(T0 + 2, 10, lease=40) == []
    # ...after which the unsettled attempt shows as in flight.
    again = await store.claim_submits(T0 + 42, 10, lease=40)
    assert again[0].was_inflight and again[0].attempts == 1


async def test_idempotency_key_returns_the_same_task_or_conflicts(store: SqliteStore) -> None:
    first, _ = await store.create_task(NewTask(task(1), T0 + 900, "key-1", "hash-a"))
    again, fresh = await store.create_task(NewTask(task(2), T0 + 900, "key-1", "hash-a"))
    assert not fresh and again.id == first.id
    with pytest.raises(IdempotencyConflict):
        await store.create_task(NewTask(task(3), T0 + 900, "key-1", "hash-b"))
    assert len(await store.list_tasks(status=None, provider=None, limit=10, after=None)) == 1


async def test_report_writes_state_and_events_in_one_transaction(
    store: SqliteStore, tmp_path: Path
) -> None:
    await store.create_task(NewTask(task(1), T0 + 900))
    tid = task(1).id
    applied = await store.apply_report(
        tid,
        Report(Status.PENDING, provider_task_id="up-1"),
        T0 + 2,
        settles_submit=True,
        poll_at=T0 + 4,
    )
    assert applied is not None and applied.verdict is Verdict.APPLIED
    assert await store.claim_submits(T0 + 100, 10, 40) == []  # create settled
    polls = await store.claim_polls(T0 + 4, "apipod", 10, 40)
    assert [c.task.provider_task_id for c in polls] == ["up-1"]

    done = Report(Status.COMPLETED, result_urls=("https://x/1.png",))
    inbox = InboxEntry("cb_1", "apipod", T0 + 5, b'{"raw": true}')
    final = await store.apply_report(tid, done, T0 + 5, inbox=inbox)
    assert final is not None and final.task.status is Status.COMPLETED
    again = await store.apply_report(tid, done, T0 + 6)
    assert again is not None and again.verdict is Verdict.DUPLICATE and again.event_ids == ()
    assert await store.next_due() is None  # a final task owes nothing

    db = sqlite3.connect(tmp_path / "r.db")
    events = db.execute("SELECT type, sequence FROM events ORDER BY sequence").fetchall()
    assert events == [("task.submitted", 1), ("task.completed", 2)]
    assert db.execute("SELECT body, verdict FROM callbacks").fetchall() == [
        (b'{"raw": true}', "applied")
    ]


async def test_list_pages_newest_first_with_filters(store: SqliteStore) -> None:
    for n in range(5):
        await store.create_task(NewTask(task(n, "apipod" if n % 2 else "dreamcore"), T0 + 900))
    page = await store.list_tasks(status=None, provider=None, limit=2, after=None)
    assert [t.id for t in page] == [task(4).id, task(3).id]
    rest = await store.list_tasks(status=None, provider=None, limit=10, after=page[-1].id)
    assert [t.id for t in rest] == [task(2).id, task(1).id, task(0).id]
    apipod = await store.list_tasks(status="queued", provider="apipod", limit=10, after=None)
    assert [t.id for t in apipod] == [task(3).id, task(1).id]


async def test_concurrent_writes_commit_together_and_a_failing_one_alone_rolls_back(
    store: SqliteStore,
) -> None:
    def bad(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO meta (key, value) VALUES ('x', '1')")
        raise ValueError("boom")

    results = await asyncio.gather(
        *(store.create_task(NewTask(task(n), T0 + 900)) for n in range(50)),
        store.db.write(bad),
        return_exceptions=True,
    )
    assert isinstance(results[-1], ValueError)
    assert all(isinstance(r, tuple) for r in results[:-1])
    assert len(await store.list_tasks(status=None, provider=None, limit=100, after=None)) == 50
    assert (
        await store.db.read(lambda c: c.execute("SELECT * FROM meta WHERE key='x'").fetchall())
        == []
    )


async def test_the_secret_key_is_kept_once(store: SqliteStore) -> None:
    assert await store.secret_key("first") == "first"
    assert await store.secret_key("second") == "first"


async def test_a_report_naming_another_tasks_upstream_id_changes_nothing(
    store: SqliteStore,
) -> None:
    for n in (1, 2):
        await store.create_task(NewTask(task(n), T0 + 900))
    await store.apply_report(task(1).id, Report(Status.PENDING, provider_task_id="up-1"), T0)
    applied = await store.apply_report(
        task(2).id, Report(Status.COMPLETED, provider_task_id="up-1"), T0
    )
    assert applied is not None and applied.verdict is Verdict.MISMATCH
    assert applied.task.status is Status.QUEUED and applied.task.provider_task_id is None
