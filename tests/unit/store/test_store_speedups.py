"""What the store's speed-ups must not change: the outbox follows every subscription change at
once (the in-memory fan-out cache), a failing unit of work still fails alone (no savepoint per
unit), and rows are read by position in the right order."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from store_fixtures import subscription

from receiver.core.delivery import Decision, Next
from receiver.core.model import Report, Status, TaskSpec
from receiver.core.task import Task
from receiver.store.base import NewTask
from receiver.store.queries import load
from receiver.store.records import Attempt, AttemptRecord, DeliveryClaim
from receiver.store.sqlite_store import TASK_COLUMNS, SqliteStore

T0 = 1_800_000_000.0
Q = load("sqlite")


def task(n: int) -> Task:
    return Task(
        id=f"task_{n:026d}",
        provider="apipod",
        status=Status.QUEUED,
        spec=TaskSpec(prompt=f"p{n}"),
        created_at=T0 + n,
        updated_at=T0 + n,
    )


class Events:
    """Moves one task after another to `pending`, each one event; says who got a delivery."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.n = 0

    async def who_gets_the_next(self) -> set[str]:
        self.n += 1
        await self.store.create_task(NewTask(task(self.n), T0 + 900))
        applied = await self.store.apply_report(
            task(self.n).id, Report(Status.PENDING, f"up-{self.n}"), T0 + self.n
        )
        assert applied is not None and len(applied.event_ids) == 1
        deliveries = await self.store.list_deliveries(
            subscription_id=None, event_id=applied.event_ids[0], status=None, after=None, limit=10
        )
        return {d.subscription_id for d in deliveries}


async def test_the_outbox_follows_subscription_changes_at_once(store: SqliteStore) -> None:
    events = Events(store)
    assert await events.who_gets_the_next() == set()
    await store.create_subscription(subscription("all"))
    await store.create_subscription(subscription("done", ("task.completed",)))
    assert await events.who_gets_the_next() == {"sub_all"}
    await store.update_subscription("sub_done", {"event_types": ["task.submitted"]}, T0)
    assert await events.who_gets_the_next() == {"sub_all", "sub_done"}
    await store.update_subscription("sub_all", {"enabled": False}, T0)
    assert await events.who_gets_the_next() == {"sub_done"}
    await store.update_subscription("sub_all", {"enabled": True}, T0)
    assert await events.who_gets_the_next() == {"sub_all", "sub_done"}
    await store.rotate_secret("sub_all", "whsec_" + "B" * 43, T0, 60)  # not a fan-out change
    assert await events.who_gets_the_next() == {"sub_all", "sub_done"}
    assert await store.delete_subscription("sub_done", T0)
    assert await events.who_gets_the_next() == {"sub_all"}
    assert (
        await store.redeliver(
            (await store.list_events(event_type=None, task_id=None, after=None, limit=1))[0].id,
            None,
            T0,
        )
        == 1
    )


async def test_the_outbox_follows_a_subscription_disabled_for_failing(store: SqliteStore) -> None:
    events = Events(store)
    await store.create_subscription(subscription("a"))
    assert await events.who_gets_the_next() == {"sub_a"}
    claims = (await store.claim_deliveries(T0 + 10, 10, 30, {}, 10)).deliveries
    await store.record_attempts(
        [
            AttemptRecord(
                claims[0],
                Attempt(T0 + 10, 5.0, 500, "no", None),
                Decision(Next.DEAD, disable_reason="failing for 5 days", failing_since=T0),
            )
        ],
        T0 + 10,
    )
    assert await events.who_gets_the_next() == set()


async def test_the_outbox_sees_subscriptions_another_process_wrote(
    store: SqliteStore, tmp_path: Path
) -> None:
    events = Events(store)
    await store.create_subscription(subscription("a"))
    assert await events.who_gets_the_next() == {"sub_a"}
    other = sqlite3.connect(tmp_path / "r.db", isolation_level=None)
    other.execute("UPDATE subscriptions SET enabled = 0 WHERE id = 'sub_a'")
    assert await events.who_gets_the_next() == set()
    other.execute("UPDATE subscriptions SET enabled = 1 WHERE id = 'sub_a'")
    other.close()
    assert await events.who_gets_the_next() == {"sub_a"}


async def test_a_change_rolled_back_does_not_stay_in_the_cache(store: SqliteStore) -> None:
    events = Events(store)
    await store.create_subscription(subscription("a"))
    assert await events.who_gets_the_next() == {"sub_a"}

    def disable_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE subscriptions SET enabled = 0")
        assert store.subscribers.matching(conn, "task.submitted") == ()
        raise ValueError("boom")

    with pytest.raises(ValueError):
        await store.db.write(disable_then_fail)
    assert await events.who_gets_the_next() == {"sub_a"}


async def test_units_failing_with_or_without_writes_fail_alone(store: SqliteStore) -> None:
    runs = {"clean": 0, "dirty": 0, "good": 0}

    def clean(conn: sqlite3.Connection) -> None:  # fails before writing anything
        runs["clean"] += 1
        conn.execute("SELECT 1").fetchone()
        raise LookupError("clean")

    def dirty(conn: sqlite3.Connection) -> None:  # fails after writing
        runs["dirty"] += 1
        conn.execute("INSERT INTO meta (key, value) VALUES ('dirty', '1')")
        raise ValueError("dirty")

    def good(key: str) -> Callable[[sqlite3.Connection], str]:
        def work(conn: sqlite3.Connection) -> str:
            runs["good"] += 1
            conn.execute("INSERT INTO meta (key, value) VALUES (?, 'ok')", (key,))
            return key

        return work

    # A unit that holds the writer until the five are queued behind it, so that
    # they share one transaction (events, not sleeps).
    started, release = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        started.set()
        release.wait(10)

    before, _ = store.db.batching()
    slow = store.db.write(hold)
    await asyncio.to_thread(started.wait, 10)
    queued: list[asyncio.Future[Any]] = [
        store.db.write(good("a")),
        store.db.write(clean),
        store.db.write(good("b")),
        store.db.write(dirty),
        store.db.write(good("c")),
    ]
    release.set()
    results: list[object] = list(await asyncio.gather(*queued, return_exceptions=True))
    assert results[0] == "a" and results[2] == "b" and results[4] == "c"
    assert isinstance(results[1], LookupError) and isinstance(results[3], ValueError)
    await slow
    assert store.db.batching()[0] - before == 2
    assert runs["dirty"] == 1  # the unit that failed after writing never runs twice
    assert runs["good"] == 5  # the two before it ran again, in savepoints
    keys = await store.db.read(
        lambda c: [r[0] for r in c.execute("SELECT key FROM meta WHERE value = 'ok' ORDER BY key")]
    )
    assert keys == ["a", "b", "c"]
    assert (
        await store.db.read(
            lambda c: c.execute("SELECT * FROM meta WHERE key = 'dirty'").fetchall()
        )
        == []
    )


async def test_a_cancelled_caller_does_not_undo_its_work(store: SqliteStore) -> None:
    started = asyncio.Event()

    async def caller() -> Task:
        started.set()
        created, _ = await store.create_task(NewTask(task(1), T0 + 900))
        return created

    pending = asyncio.create_task(caller())
    await started.wait()
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    await store.db.write(lambda conn: None)  # the next transaction: the first one is done
    assert await store.get_task(task(1).id) is not None


async def test_task_rows_are_read_by_position_in_task_columns_order(store: SqliteStore) -> None:
    names = [name.strip() for name in TASK_COLUMNS.split(",")]

    def columns(conn: sqlite3.Connection) -> list[str]:
        cursor = conn.execute(Q["task_get"], ("none",))
        return [d[0] for d in cursor.description]

    assert (await store.db.read(columns))[: len(names)] == names
    table = await store.db.read(lambda c: [r[1] for r in c.execute("PRAGMA table_info(tasks)")])
    assert set(names) <= set(table)
    await store.create_task(NewTask(task(1), T0 + 900))
    await store.apply_report(task(1).id, Report(Status.COMPLETED, "up", ("https://x/1",)), T0 + 5)
    got = await store.get_task(task(1).id)
    listed = await store.list_tasks(status=None, provider=None, limit=5, after=None)
    assert got is not None and listed == [got]
    assert got.status is Status.COMPLETED and got.result_urls == ("https://x/1",)
    assert got.spec == task(1).spec and got.provider_task_id == "up" and got.event_seq == 1


@pytest.mark.parametrize(
    ("decisions", "left"),
    [
        # failed, then succeeded: healthy again
        ([Decision(Next.RETRY, T0 + 60, failing_since=T0 + 1), Decision(Next.DELIVERED)], None),
        # succeeded, then failed: failing since that failure
        ([Decision(Next.DELIVERED), Decision(Next.RETRY, T0 + 60, failing_since=T0 + 2)], T0 + 2),
    ],
)
async def test_a_subscriptions_health_is_what_its_last_attempt_in_a_write_left(
    store: SqliteStore, decisions: list[Decision], left: float | None
) -> None:
    # Written once per subscription and write, after its attempts: the last one counts.
    events = Events(store)
    await store.create_subscription(subscription("a"))
    await events.who_gets_the_next()
    await events.who_gets_the_next()
    claims = (await store.claim_deliveries(T0 + 10, 10, 30, {}, 10)).deliveries
    assert len(claims) == 2
    records = [
        AttemptRecord(claim, Attempt(T0 + 10, 5.0, 204, None, None), decision)
        for claim, decision in zip(claims, decisions, strict=True)
    ]
    await store.record_attempts(records, T0 + 10)
    sub = await store.get_subscription("sub_a")
    assert sub is not None and sub.failing_since == left


def _answered(claim: DeliveryClaim, code: int, decision: Decision) -> AttemptRecord:
    return AttemptRecord(claim, Attempt(T0 + 10, 5.0, code, "", None), decision)


async def test_attempts_written_together_skip_a_delivery_ended_meanwhile(
    store: SqliteStore,
) -> None:
    """Attempts go in one statement each for all deliveries; one whose subscription was
    removed while its attempt was out keeps its ending, and gets no attempt row."""
    events = Events(store)
    await store.create_subscription(subscription("kept"))
    await store.create_subscription(subscription("gone"))
    assert await events.who_gets_the_next() == {"sub_kept", "sub_gone"}
    claims = (await store.claim_deliveries(T0 + 10, 10, 30, {}, 10)).deliveries
    assert await store.delete_subscription("sub_gone", T0 + 11)
    await store.record_attempts(
        [_answered(c, 204, Decision(Next.DELIVERED)) for c in claims], T0 + 12
    )
    by_sub = {c.subscription.id: c.delivery_id for c in claims}
    kept = await store.get_delivery(by_sub["sub_kept"])
    gone = await store.get_delivery(by_sub["sub_gone"])
    assert kept is not None and gone is not None
    assert (kept[0].status, kept[0].attempts, [a.status_code for a in kept[1]]) == (
        "delivered",
        1,
        [204],
    )
    assert (gone[0].status, gone[0].attempts, gone[1]) == ("cancelled", 0, [])


async def test_an_attempt_beside_one_that_disables_its_subscription_is_logged(
    store: SqliteStore,
) -> None:
    """Two attempts to one subscription, written together: the first disables it. Both
    were made, so both are logged; the second's delivery, a retry, is then ended with
    the subscription."""
    events = Events(store)
    await store.create_subscription(subscription("a"))
    await events.who_gets_the_next()
    await events.who_gets_the_next()
    first, second = (await store.claim_deliveries(T0 + 10, 10, 30, {}, 10)).deliveries
    await store.record_attempts(
        [
            _answered(first, 500, Decision(Next.DEAD, disable_reason="failing", failing_since=T0)),
            _answered(second, 503, Decision(Next.RETRY, next_attempt_at=T0 + 60)),
        ],
        T0 + 12,
    )
    for claim, code in ((first, 500), (second, 503)):
        found = await store.get_delivery(claim.delivery_id)
        assert found is not None
        assert (found[0].status, [a.status_code for a in found[1]]) == ("dead", [code])
    sub = await store.get_subscription("sub_a")
    assert sub is not None and not sub.enabled and sub.disabled_reason == "failing"
