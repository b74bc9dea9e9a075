"""What adaptive polling reads from the store: recent completion times, and due times of polls."""

from __future__ import annotations

from store_fixtures import T0, task

from receiver.core.model import Report, Status
from receiver.core.task import Task
from receiver.store.base import NewTask
from receiver.store.sqlite_store import SqliteStore


async def submitted(store: SqliteStore, t: Task, poll_at: float) -> None:
    await store.create_task(NewTask(t, T0 + 900))
    report = Report(Status.PENDING, provider_task_id=f"up-{t.id}")
    await store.apply_report(t.id, report, t.created_at, settles_submit=True, poll_at=poll_at)


async def test_recent_durations_are_completed_tasks_of_the_provider_newest_first(
    store: SqliteStore,
) -> None:
    for n, provider in enumerate(["apipod", "apipod", "dreamcore", "apipod", "apipod"]):
        await submitted(store, task(n, provider), T0 + 100)
    done = Report(Status.COMPLETED, result_urls=("https://x/1.png",))
    for n, seconds in [(0, 20.0), (1, 31.5), (2, 25.0), (3, 22.0)]:
        await store.apply_report(task(n).id, done, T0 + n + seconds)
    failed = Report(Status.FAILED)
    await store.apply_report(task(4).id, failed, T0 + 4 + 3.0)  # failures teach nothing

    assert await store.recent_durations("apipod", 10) == [22.0, 31.5, 20.0]
    assert await store.recent_durations("apipod", 2) == [22.0, 31.5]
    assert await store.recent_durations("dreamcore", 10) == [25.0]
    assert await store.recent_durations("apimall", 10) == []


async def test_a_poll_claim_carries_its_due_time(store: SqliteStore) -> None:
    await submitted(store, task(1), T0 + 21.5)
    assert await store.claim_polls(T0 + 21.0, "apipod", 10, 40) == []
    [claim] = await store.claim_polls(T0 + 21.6, "apipod", 10, 40)
    assert claim.due_at == T0 + 21.5
