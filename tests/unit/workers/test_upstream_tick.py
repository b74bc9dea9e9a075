"""The upstream worker's tick: when it sleeps until, whatever the clock did meanwhile."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from receiver.clock import ManualClock
from receiver.runtime import Runtime
from receiver.store.base import Claim
from receiver.workers.upstream import MIN_SLEEP, UpstreamWorker


@dataclass
class _Settings:
    poll_concurrency: int = 16


@dataclass
class _Store:
    clock: ManualClock
    due: float | None
    moves: float = 0.0  # how far time moves while the tick reads next_due

    async def claim_submits(self, now: float, limit: int, lease: float) -> list[Claim]:
        return []

    async def claim_polls(self, now: float, provider: str, limit: int, lease: float) -> list[Claim]:
        return []

    async def next_due(self) -> float | None:
        self.clock.advance(self.moves)
        return self.due


@dataclass
class _Runtime:
    clock: ManualClock
    store: _Store
    settings: _Settings = field(default_factory=_Settings)
    lease: float = 11.0


def worker(clock: ManualClock, store: _Store) -> UpstreamWorker:
    return UpstreamWorker(cast(Runtime, _Runtime(clock, store)))


async def test_work_due_soon_is_slept_for_with_a_small_floor() -> None:
    clock = ManualClock(1000.0)
    assert await worker(clock, _Store(clock, due=1002.5)).tick() == 1002.5
    assert await worker(clock, _Store(clock, due=1000.001)).tick() == 1000.0 + MIN_SLEEP


async def test_time_moving_during_the_tick_never_postpones_due_work() -> None:
    """A poll due at +0.25 s, and the clock jumps 2.8 s while the tick looks: the
    worker must tick again at once, not sleep until 10 ms past the new time (with a
    manual clock that never moves again, it would never claim the poll)."""
    clock = ManualClock(1000.0)
    next_at = await worker(clock, _Store(clock, due=1000.25, moves=2.8)).tick()
    assert next_at <= clock.now()
