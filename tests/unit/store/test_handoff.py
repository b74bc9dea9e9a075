"""Deliveries handed straight to the dispatcher by the transaction that wrote their event.

While a Handoff is registered, a new event's deliveries are written already
claimed (not due in the outbox) and given to it once committed, with the
event's body and the subscription as it was; given back (release) they are
due again. A caller that goes away mid-write does not lose them, and without
a Handoff (or while it declines) they are simply due in the outbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson
from store_fixtures import T0, subscription, task

from receiver.core.model import Report, Status
from receiver.store.base import NewTask
from receiver.store.records import DeliveryClaim
from receiver.store.sqlite_store import SqliteStore

LEASE = 65.0


class Taker:
    def __init__(self, lease: float | None = LEASE) -> None:
        self.lease: float | None = lease
        self.taken: list[DeliveryClaim] = []

    @property
    def handoff_lease(self) -> float | None:
        return self.lease

    def take(self, claims: Sequence[DeliveryClaim]) -> None:
        self.taken += claims


async def _event(store: SqliteStore, n: int) -> str:
    await store.create_task(NewTask(task(n), T0 + 900))
    applied = await store.apply_report(task(n).id, Report(Status.PENDING, f"up-{n}"), T0 + n)
    assert applied is not None and len(applied.event_ids) == 1
    return applied.event_ids[0]


async def test_a_new_events_deliveries_are_handed_over_claimed(store: SqliteStore) -> None:
    await store.create_subscription(subscription("a"))
    await store.create_subscription(subscription("b", ("task.completed",)))
    taker = Taker()
    store.handoff = taker
    event_id = await _event(store, 1)
    [claim] = taker.taken  # only sub_a wants task.submitted
    assert claim.subscription.id == "sub_a" and claim.event_id == event_id
    assert claim.attempt == 1 and claim.subscription.secret == subscription("a").secret
    assert orjson.loads(claim.body)["id"] == event_id
    assert claim.body == (await store.get_event(event_id)).body  # type: ignore[union-attr]
    # Claimed for the lease: nothing is due in the outbox for anyone else to send.
    assert await store.next_delivery_due() == T0 + 1 + LEASE
    assert (await store.claim_deliveries(T0 + 2, 10, 30, {}, 10)).deliveries == []
    # Given back, it is due again, and claimed like any other.
    await store.release_deliveries([claim.delivery_id], T0 + 3)
    [again] = (await store.claim_deliveries(T0 + 3, 10, 30, {}, 10)).deliveries
    assert again.delivery_id == claim.delivery_id


async def test_a_hand_off_carries_the_subscription_as_it_is_now(store: SqliteStore) -> None:
    """The writer keeps subscriptions in memory; any change to one shows in the next claim."""
    await store.create_subscription(subscription("a"))
    taker = Taker()
    store.handoff = taker
    await _event(store, 1)
    await store.rotate_secret("sub_a", "whsec_bmV3", T0 + 2, 3600)
    await _event(store, 3)
    await store.update_subscription("sub_a", {"url": "http://127.0.0.1:9/moved"}, T0 + 4)
    await _event(store, 5)
    first, rotated, moved = (claim.subscription for claim in taker.taken)
    assert first.secret == subscription("a").secret and first.previous_secret is None
    assert rotated.secret == "whsec_bmV3" and rotated.previous_secret == first.secret
    assert moved.url == "http://127.0.0.1:9/moved" and moved.secret == "whsec_bmV3"


async def test_without_a_taker_or_while_it_declines_deliveries_are_due_at_once(
    store: SqliteStore,
) -> None:
    await store.create_subscription(subscription("a"))
    await _event(store, 1)
    assert await store.next_delivery_due() == T0 + 1
    taker = Taker(lease=None)
    store.handoff = taker
    await _event(store, 2)
    assert taker.taken == []
    assert len((await store.claim_deliveries(T0 + 5, 10, 30, {}, 10)).deliveries) == 2


async def test_a_claim_says_when_it_passed_over_due_deliveries_for_a_cap(
    store: SqliteStore,
) -> None:
    await store.create_subscription(subscription("a"))
    await store.create_subscription(subscription("b"))
    for n in range(1, 4):  # three events, each due to both subscriptions
        await _event(store, n)
    # At most three each, and sub_a holds one already: two of its three, all of sub_b's.
    claimed = await store.claim_deliveries(T0 + 5, 10, 30, {"sub_a": 1}, 3)
    assert sorted(c.subscription.id for c in claimed.deliveries) == ["sub_a"] * 2 + ["sub_b"] * 3
    assert claimed.capped == {"sub_a"}  # its third is still owed
    rest = await store.claim_deliveries(T0 + 5, 10, 30, {}, 3)
    assert [c.subscription.id for c in rest.deliveries] == ["sub_a"]
    assert rest.capped == frozenset()


async def test_a_caller_that_goes_away_mid_write_still_hands_over(store: SqliteStore) -> None:
    await store.create_subscription(subscription("a"))
    await store.create_task(NewTask(task(1), T0 + 900))
    taker = Taker()
    store.handoff = taker
    caller = asyncio.create_task(
        store.apply_report(task(1).id, Report(Status.PENDING, "up-1"), T0 + 1)
    )
    await asyncio.sleep(0)  # the unit is queued on the writer
    caller.cancel()
    await store.db.write(lambda conn: None)  # the next transaction: the first one is done
    await asyncio.sleep(0)
    assert [c.subscription.id for c in taker.taken] == ["sub_a"]


async def test_hand_offs_committed_after_the_taker_left_go_back_to_the_outbox(
    store: SqliteStore,
) -> None:
    await store.create_subscription(subscription("a"))
    await store.create_task(NewTask(task(1), T0 + 900))
    taker = Taker()
    store.handoff = taker
    writing = asyncio.create_task(
        store.apply_report(task(1).id, Report(Status.PENDING, "up-1"), T0 + 1)
    )
    await asyncio.sleep(0)
    store.handoff = None  # the dispatcher stops while the event is being written
    await writing
    await store.close()  # waits for the release
    await store.open()
    assert taker.taken == []
    assert await store.next_delivery_due() == T0 + 1
