"""Time, injected.

Workers and simulators never call `time.time()` or `asyncio.sleep()` for
scheduling: they ask a Clock. Production uses SystemClock; tests use
ManualClock and move time forward themselves, so no test sleeps to wait for
time to pass.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Any, Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Unix time in seconds."""
        ...

    async def sleep_until(self, when: float, wake: asyncio.Event | None = None) -> None:
        """Return at `when`, or earlier if `wake` is set (the caller clears it)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep_until(self, when: float, wake: asyncio.Event | None = None) -> None:
        delay = when - time.time()
        if delay <= 0:
            await asyncio.sleep(0)
            return
        if wake is None:
            await asyncio.sleep(delay)
            return
        if wake.is_set():
            return
        # asyncio.timeout rather than wait_for: no task per sleep (the dispatcher sleeps
        # between every refill).
        try:
            async with asyncio.timeout(delay):
                await wake.wait()
        except TimeoutError:
            pass


class ManualClock:
    """A clock that only moves when told to. Sleepers wake when `advance` passes their time."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep_until(self, when: float, wake: asyncio.Event | None = None) -> None:
        if when <= self._now:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, next(self._counter), fut))
        if wake is None:
            await fut
            return
        waiter: asyncio.Future[bool] = asyncio.ensure_future(wake.wait())
        both: set[asyncio.Future[Any]] = {fut, waiter}
        try:
            await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not fut.done():
                fut.cancel()

    def advance(self, seconds: float) -> None:
        """Move time forward and wake everyone whose time has come."""
        self.set(self._now + seconds)

    def set(self, when: float) -> None:
        self._now = max(self._now, when)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)
