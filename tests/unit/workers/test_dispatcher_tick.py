"""The dispatcher's tick: when it sleeps until, whatever the clock did meanwhile."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

from receiver.clock import ManualClock
from receiver.runtime import Runtime
from receiver.store.records import Claimed
from receiver.workers.dispatcher import Dispatcher


@dataclass
class _Settings:
    delivery_concurrency: int = 8
    subscription_concurrency: int = 8
    delivery_timeout: float = 15.0


@dataclass
class _Store:
    clock: ManualClock
    due: float | None
    moves: float = 0.0  # how far time moves while the tick reads the next due time
    claims: list[float] = field(default_factory=list)  # the times claimed at

    async def claim_deliveries(self, now: float, *args: Any) -> Claimed:
        self.claims.append(now)
        return Claimed([], frozenset())

    async def next_delivery_due(self) -> float | None:
        self.clock.advance(self.moves)
        return self.due


@dataclass
class _Runtime:
    clock: ManualClock
    store: _Store
    settings: _Settings = field(default_factory=_Settings)
    outbox_changed: bool = False
    deliveries_wake: asyncio.Event = field(default_factory=asyncio.Event)


def dispatcher(clock: ManualClock, store: _Store) -> Dispatcher:
    return Dispatcher(cast(Runtime, _Runtime(clock, store)))


async def test_a_retry_due_later_is_slept_for() -> None:
    clock = ManualClock(1000.0)
    assert await dispatcher(clock, _Store(clock, due=1002.5)).tick() == 1002.5


async def test_time_moving_during_the_tick_never_postpones_a_retry() -> None:
    """A retry due at +1 s, and the clock moves 1.5 s while the tick reads that: the
    dispatcher must look again at once, not sleep until 50 ms past the new time (with a
    manual clock that never moves again, it would never send the retry)."""
    clock = ManualClock(1000.0)
    store = _Store(clock, due=1001.0, moves=1.5)
    d = dispatcher(clock, store)
    next_at = await d.tick()
    assert next_at <= clock.now()
    store.moves = 0.0
    await d.tick()
    assert store.claims == [1000.0, 1001.5]  # and the next tick claims it
