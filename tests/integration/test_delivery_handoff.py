"""Hand-off: fresh events' deliveries go from the transaction straight to the dispatcher.

Real parts: the service's Runtime, SqliteStore and Dispatcher, a subscriber on
loopback, a manual clock that never moves here (so nothing below waits for a
lease to run out).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from store_fixtures import subscription
from support import Received, Subscriber, eventually, subscriber, until

from receiver.clock import ManualClock
from receiver.core.model import Report, Status, TaskSpec
from receiver.core.signing import new_secret
from receiver.core.task import Task
from receiver.runtime import Runtime, build_outbound
from receiver.settings import Settings
from receiver.store.base import NewTask
from receiver.store.records import Claimed, DeliveryClaim, Subscription
from receiver.store.sqlite_store import SqliteStore
from receiver.workers import dispatcher as dispatcher_module
from receiver.workers.dispatcher import Dispatcher


async def _runtime(
    tmp_path: Path,
    clock: ManualClock,
    *,
    slots: int | None = None,
    per_subscription: int | None = None,
    **env: str,
) -> Runtime:
    """The service's runtime on a fresh file; `slots`: delivery slots in all, and per
    subscription too unless `per_subscription` says otherwise."""
    if slots is not None:
        env["RECEIVER_DELIVERY_CONCURRENCY"] = env["RECEIVER_SUBSCRIPTION_CONCURRENCY"] = str(slots)
    if per_subscription is not None:
        env["RECEIVER_SUBSCRIPTION_CONCURRENCY"] = str(per_subscription)
    settings = Settings.from_env(
        {
            "RECEIVER_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
            "RECEIVER_ALLOW_PRIVATE_URLS": "true",
            "RECEIVER_DELIVERY_TIMEOUT": "60",
            **env,
        }
    )
    rt = Runtime(settings, clock, SqliteStore(tmp_path / "r.db"), {}, build_outbound(settings))
    await rt.start()
    return rt


async def _event(rt: Runtime, n: int) -> None:
    await rt.store.create_task(NewTask(task(n), rt.clock.now() + 900))
    await rt.apply_report(task(n).id, Report(Status.PENDING, f"up-{n}"), rt.clock.now())


async def test_waiting_hand_offs_are_due_again_when_the_dispatcher_stops(tmp_path: Path) -> None:
    clock = ManualClock(start=time.time())
    rt = await _runtime(tmp_path, clock, per_subscription=2)
    store = rt.store
    async with subscriber() as stuck:
        stuck.hold = True  # answers nothing until released: its two slots stay taken
        await store.create_subscription(_subscription(stuck.url, clock.now()))
        dispatcher = Dispatcher(rt)
        runner = await _started(dispatcher)
        for n in range(1, 7):
            await _event(rt, n)
        await stuck.wait_for(2)
        assert len(dispatcher.ready) == 4  # handed over, waiting for a slot
        # Nothing is due in the outbox: the four are claimed for the dispatcher.
        assert (await store.claim_deliveries(clock.now(), 10, 30, {}, 10)).deliveries == []
        await _stopped(dispatcher, runner, grace=0.1)
        stuck.release.set()
    # Stopped: the four it never attempted are due again at once, not after a lease.
    again = (await store.claim_deliveries(clock.now(), 10, 30, {}, 10)).deliveries
    assert len(again) == 4
    await _closed(rt)


async def test_hand_offs_never_overtake_deliveries_waiting_in_the_outbox(tmp_path: Path) -> None:
    clock = ManualClock(start=time.time())
    rt = await _runtime(tmp_path, clock, slots=1)
    async with subscriber() as endpoint:
        endpoint.hold = True  # its one slot stays taken until released
        await rt.store.create_subscription(_subscription(endpoint.url, clock.now()))
        dispatcher = Dispatcher(rt)
        runner = await _started(dispatcher)
        kept = dispatcher_module.READY_PER_SLOT  # the hand-offs it keeps waiting, for one slot
        for n in range(1, kept + 2):  # one in flight, the rest waiting
            await _event(rt, n)
        await endpoint.wait_for(1)
        assert len(dispatcher.ready) == kept
        handed = {claim.delivery_id for _, claim in dispatcher.ready}
        await _event(rt, kept + 2)  # no room: left in the outbox, due
        # Half a lease later the ones waiting are given back to the outbox too.
        clock.advance(dispatcher.lease / 2 + 1)
        await until(
            lambda: not handed & {claim.delivery_id for _, claim in dispatcher.ready},
            within=5,
            what="the stale hand-offs released",
        )
        last = kept + 3
        await _event(rt, last)  # deliveries are due in the outbox: this one is left there too
        assert task(last).id not in _waiting(dispatcher)
        endpoint.release.set()
        received = await endpoint.wait_for(last)
        tasks = _tasks(received)
        assert tasks[-1] == task(last).id  # the newest event went out last
        assert sorted(tasks) == [task(n).id for n in range(1, last + 1)]
        await _stopped(dispatcher, runner, grace=1)
    await _closed(rt)


async def test_after_a_restart_new_events_wait_behind_what_the_outbox_owes(
    tmp_path: Path,
) -> None:
    clock = ManualClock(start=time.time())
    rt = await _runtime(tmp_path, clock, slots=1)
    async with subscriber() as endpoint:
        await rt.store.create_subscription(_subscription(endpoint.url, clock.now()))
        for n in range(1, 4):  # written while no dispatcher runs: owed in the outbox
            await _event(rt, n)
        endpoint.hold = True
        dispatcher = Dispatcher(rt)
        runner = await _started(dispatcher)
        await endpoint.wait_for(1)  # the oldest, from the outbox; two more are owed
        await _event(rt, 4)
        assert task(4).id not in _waiting(dispatcher)  # not handed over ahead of the two
        endpoint.release.set()
        received = await endpoint.wait_for(4)
        assert _tasks(received) == [task(n).id for n in (1, 2, 3, 4)]
        await _stopped(dispatcher, runner, grace=1)
    await _closed(rt)


async def test_new_events_wait_behind_what_a_subscriptions_cap_left_in_the_outbox(
    tmp_path: Path,
) -> None:
    # More slots than one subscription may hold: a claim can stop short of the room
    # because of the subscription's cap while deliveries are still due for it.
    clock = ManualClock(start=time.time())
    rt = await _runtime(tmp_path, clock, slots=4, per_subscription=1)
    async with subscriber() as endpoint:
        await rt.store.create_subscription(_subscription(endpoint.url, clock.now()))
        for n in range(1, 5):  # owed in the outbox when the dispatcher starts
            await _event(rt, n)
        endpoint.hold = True
        dispatcher = Dispatcher(rt)
        runner = await _started(dispatcher)
        await endpoint.wait_for(1)
        # The claim took what the cap allows (ROUNDS rounds of it: one started, one
        # waiting); two are still due.
        assert _waiting(dispatcher) == [task(2).id]
        await _event(rt, 5)
        assert task(5).id not in _waiting(dispatcher)  # not handed over ahead of 3 and 4
        endpoint.release.set()
        received = await endpoint.wait_for(5)
        assert _tasks(received) == [task(n).id for n in range(1, 6)]
        await _stopped(dispatcher, runner, grace=1)
    await _closed(rt)


async def test_a_capped_subscriptions_backlog_is_claimed_in_rounds_and_in_order(
    tmp_path: Path,
) -> None:
    clock = ManualClock(start=time.time())
    rt = await _runtime(tmp_path, clock, slots=8, per_subscription=2)
    owed = 40
    async with subscriber() as endpoint:
        await rt.store.create_subscription(_subscription(endpoint.url, clock.now()))
        for n in range(1, owed + 1):  # owed in the outbox when the dispatcher starts
            await _event(rt, n)
        claims: list[int] = []
        claim = rt.store.claim_deliveries

        async def counted(*args: Any, **kwargs: Any) -> Claimed:
            claimed = await claim(*args, **kwargs)
            claims.append(len(claimed.deliveries))
            return claimed

        rt.store.claim_deliveries = counted  # type: ignore[method-assign]
        dispatcher = Dispatcher(rt)
        runner = await _started(dispatcher)
        received = await endpoint.wait_for(owed)
        assert _tasks(received) == [task(n).id for n in range(1, owed + 1)]
        # Each claim may leave ROUNDS rounds of the cap (4) waiting beside the two in
        # flight, so it brings 2-4: 13 claims here (counting those in flight against
        # the 4, as before, made claims of 2 after the first: 19).
        taken = [n for n in claims if n]
        assert sum(taken) == owed
        assert len(taken) <= 16
        await _stopped(dispatcher, runner, grace=1)
    await _closed(rt)


async def test_a_second_round_is_claimed_ahead_and_given_back_at_stop(tmp_path: Path) -> None:
    clock = ManualClock(start=time.time())
    rt = await _runtime(tmp_path, clock, slots=2)
    store = rt.store
    async with subscriber() as endpoint:
        await store.create_subscription(_subscription(endpoint.url, clock.now()))
        for n in range(1, 7):  # written while no dispatcher runs: owed in the outbox
            await _event(rt, n)
            clock.advance(0.001)
        endpoint.hold = True  # its two slots stay taken
        dispatcher = Dispatcher(rt)
        runner = await _started(dispatcher)
        await endpoint.wait_for(2)
        # The next two are claimed already, waiting for a slot: another worker (a second
        # replica) finds only the last two due.
        assert _waiting(dispatcher) == [task(3).id, task(4).id]
        others = (await store.claim_deliveries(clock.now(), 10, 30, {}, 10)).deliveries
        assert [_task_of(claim) for claim in others] == [task(5).id, task(6).id]
        await _stopped(dispatcher, runner, grace=0.1)
        endpoint.release.set()
    # Stopped: the two it held and never attempted are due again at once.
    again = (await store.claim_deliveries(clock.now(), 10, 30, {}, 10)).deliveries
    assert [_task_of(claim) for claim in again] == [task(3).id, task(4).id]
    await _closed(rt)


def _waiting(dispatcher: Dispatcher) -> list[str]:
    """The tasks whose deliveries wait in the dispatcher for a slot (handed over, or
    claimed ahead from the outbox)."""
    return [_task_of(claim) for _, claim in dispatcher.ready]


def _tasks(received: list[Received]) -> list[str]:
    """The tasks of the events a subscriber received, in the order it received them."""
    return [r.json["data"]["task"]["id"] for r in received]


def _task_of(claim: DeliveryClaim) -> str:
    task_id: str = orjson.loads(claim.body)["data"]["task"]["id"]
    return task_id


async def _started(dispatcher: Dispatcher) -> asyncio.Task[None]:
    runner = asyncio.create_task(dispatcher.run())
    await until(lambda: dispatcher.alive, within=5, what="the dispatcher")
    return runner


async def _stopped(dispatcher: Dispatcher, runner: asyncio.Task[None], grace: float) -> None:
    await dispatcher.stop(grace=grace)
    await runner


async def _closed(rt: Runtime) -> None:
    await rt.outbound.close()
    await rt.store.close()


def task(n: int) -> Task:
    now = time.time()
    return Task(f"task_{n:026d}", "apipod", Status.QUEUED, TaskSpec(f"p{n}"), now, now)


def _subscription(url: str, now: float) -> Subscription:
    return subscription("endpoint", url=url, secret=new_secret(32), now=now)


async def test_a_slot_is_free_once_the_subscriber_answered_before_the_attempt_is_written(
    tmp_path: Path,
) -> None:
    clock = ManualClock(start=time.time())
    rt = await _runtime(tmp_path, clock, slots=1)
    store = rt.store
    write_attempts = store.record_attempts
    writes_may_go = asyncio.Event()

    async def held_record_attempts(*args: Any, **kwargs: Any) -> None:
        await writes_may_go.wait()  # a slow disk: nothing recorded yet
        await write_attempts(*args, **kwargs)

    store.record_attempts = held_record_attempts  # type: ignore[method-assign]
    async with subscriber() as endpoint:
        await store.create_subscription(_subscription(endpoint.url, clock.now()))
        dispatcher = Dispatcher(rt)
        runner = await _started(dispatcher)
        for n in range(1, 4):
            await _event(rt, n)
        # One slot, and the first attempt is not written: the next ones went out anyway.
        await endpoint.wait_for(3)
        assert [d.status for d in await store.list_deliveries(**_ALL)] == ["pending"] * 3
        writes_may_go.set()
        await _stopped(dispatcher, runner, grace=1)  # returns once what was attempted is written
    deliveries = await store.list_deliveries(**_ALL)
    assert [(d.status, d.attempts) for d in deliveries] == [("delivered", 1)] * 3
    await _closed(rt)


async def test_a_retry_written_after_the_dispatcher_went_to_sleep_still_goes_out_on_time(
    tmp_path: Path,
) -> None:
    clock = ManualClock(start=time.time())
    rt = await _runtime(tmp_path, clock, RECEIVER_RETRY_SCHEDULE="1,1")
    store = rt.store
    write_attempts = store.record_attempts
    writes_may_go, ticks, ticks_before_write = asyncio.Event(), [0], [-1]

    async def held_record_attempts(*args: Any, **kwargs: Any) -> None:
        ticks_before_write[0] = ticks[0]
        await writes_may_go.wait()
        await write_attempts(*args, **kwargs)

    store.record_attempts = held_record_attempts  # type: ignore[method-assign]
    async with subscriber() as endpoint:
        endpoint.script = [(500, {})]
        await store.create_subscription(_subscription(endpoint.url, clock.now()))
        dispatcher = Dispatcher(rt)
        tick = dispatcher.tick

        async def counted_tick() -> float:
            next_at = await tick()
            ticks[0] += 1  # and the loop goes to sleep until next_at, or a wake
            return next_at

        dispatcher.tick = counted_tick  # type: ignore[method-assign]
        runner = await _started(dispatcher)
        await _event(rt, 1)
        await endpoint.wait_for(1)
        # The 500 is not written yet: the dispatcher, woken by the attempt's end, finds
        # nothing due before the lease would run out (over a minute away) and sleeps.
        await until(
            lambda: ticks[0] > ticks_before_write[0] >= 0,
            within=5,
            what="the dispatcher to tick once the attempt ended",
        )
        writes_may_go.set()  # the retry is written: due a second after the attempt
        clock.advance(1.5)
        await endpoint.wait_for(2)
        await _stopped(dispatcher, runner, grace=1)
    (delivery,) = await store.list_deliveries(**_ALL)
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    await _closed(rt)


async def test_an_attempt_that_failed_unexpectedly_is_made_again_when_its_lease_ends(
    tmp_path: Path,
) -> None:
    clock = ManualClock(start=time.time())
    rt = await _runtime(tmp_path, clock, RECEIVER_DELIVERY_TIMEOUT="5")  # lease: 15 s
    async with subscriber() as endpoint:
        await rt.store.create_subscription(_subscription(endpoint.url, clock.now()))
        dispatcher = Dispatcher(rt)
        send, failed = dispatcher._send, list[bool]()

        async def send_failing_once(claim: DeliveryClaim, now: float) -> Any:
            if not failed:
                failed.append(True)
                raise RuntimeError("a bug")
            return await send(claim, now)

        dispatcher._send = send_failing_once  # type: ignore[method-assign]
        runner = await _started(dispatcher)
        await _event(rt, 1)
        await until(lambda: bool(failed) and not dispatcher.inflight, within=5, what="the failure")
        assert endpoint.received == []
        clock.advance(dispatcher.lease + 1)  # less than the dispatcher's idle tick
        received = await endpoint.wait_for(1)
        assert received[0].json["data"]["task"]["id"] == task(1).id
        await _stopped(dispatcher, runner, grace=1)
    await _closed(rt)


_ALL: dict[str, Any] = {
    "subscription_id": None,
    "event_id": None,
    "status": None,
    "after": None,
    "limit": 10,
}


async def _delivered(rt: Runtime) -> int:
    done = await rt.store.list_deliveries(
        subscription_id=None, event_id=None, status="delivered", after=None, limit=100
    )
    assert all(d.attempts == 1 for d in done)
    return len(done)


@contextlib.asynccontextmanager
async def _quick_and_stuck(
    tmp_path: Path, quick_events: int, *, hold_quick: bool = False
) -> AsyncIterator[tuple[Runtime, ManualClock, Subscriber, Subscriber]]:
    """Four delivery slots, three at most per subscription. `stuck` (task.submitted
    events) holds its requests until released, and `quick` (task.processing) too if
    asked. Owed in the outbox, in this order: six deliveries to stuck, then
    `quick_events` to quick. The first claim takes all the room, two rounds of the
    slots: stuck's six (three in flight, its cap, and three waiting) and quick's first
    two (one in flight, one waiting). Once quick's are done, stuck holds six of the
    eight, less room than a refill waits for right after the last one."""
    clock = ManualClock(start=time.time())
    rt = await _runtime(tmp_path, clock, slots=4, per_subscription=3)
    async with subscriber() as quick, subscriber() as stuck:
        quick.hold, stuck.hold = hold_quick, True
        await rt.store.create_subscription(
            subscription("quick", ("task.processing",), url=quick.url, secret=new_secret(32))
        )
        await rt.store.create_subscription(
            subscription("stuck", ("task.submitted",), url=stuck.url, secret=new_secret(32))
        )
        for n in range(1, 7):
            await _event(rt, n)
            clock.advance(0.001)
        for n in range(1, quick_events + 1):
            report = Report(Status.PROCESSING, f"up-{n}")
            await rt.apply_report(task(n).id, report, clock.now())
            clock.advance(0.001)
        yield rt, clock, quick, stuck
        stuck.release.set()
    await _closed(rt)


async def test_records_waiting_for_the_next_claim_are_written_when_none_comes(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr(dispatcher_module, "RECORD_WAIT", 0.05)
    async with _quick_and_stuck(tmp_path, 2) as (rt, _clock, quick, stuck):
        dispatcher = Dispatcher(rt)
        runner = await _started(dispatcher)
        await quick.wait_for(2)
        await stuck.wait_for(3)  # it keeps six of the room: no refill, so no claim
        # The quick ones' records are written on their own, not when the stuck end.
        await eventually(
            lambda: _delivered(rt), lambda n: n == 2, within=5, what="the quick attempts recorded"
        )
        stuck.release.set()
        await _stopped(dispatcher, runner, grace=1)


async def test_records_waiting_for_the_next_claim_are_written_at_stop(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr(dispatcher_module, "RECORD_WAIT", 3600.0)  # only a claim or stop
    async with _quick_and_stuck(tmp_path, 2) as (rt, _clock, quick, stuck):
        dispatcher = Dispatcher(rt)
        runner = await _started(dispatcher)
        await quick.wait_for(2)
        await stuck.wait_for(3)  # it keeps six of the room: no refill, so no claim
        await until(lambda: len(dispatcher._unwritten) == 2, within=5, what="two records held")
        await _stopped(dispatcher, runner, grace=0.1)  # the stuck ones are cut off
        assert await _delivered(rt) == 2  # the quick two, written at stop


async def test_when_subscribers_are_slow_freed_room_is_refilled_while_others_still_wait(
    tmp_path: Path,
) -> None:
    async with _quick_and_stuck(tmp_path, 3, hold_quick=True) as (rt, clock, quick, stuck):
        dispatcher = Dispatcher(rt)
        runner = await _started(dispatcher)
        await quick.wait_for(1)
        await stuck.wait_for(3)  # every slot taken, and all the room
        clock.advance(1.0)  # the last refill is long past: refills no longer wait for more
        quick.release.set()
        # Quick's two done, stuck still holds six of eight: the room freed is refilled
        # now (with quick's third), not once three quarters of it is free.
        await quick.wait_for(3)
        stuck.release.set()
        await _stopped(dispatcher, runner, grace=1)
