"""The upstream worker: creates and status queries, scheduled from the database.

One loop (modelled on uvicorn's server loop: a tick and a `should_exit` flag)
claims whatever is due from the database's due indexes, starts each job as its
own asyncio task within per-provider concurrency caps, and sleeps until the
next due time or until woken (a new task, a finished job). Due times live in
the database, so a restart resumes exactly where the last process stopped.
At start it loads what adaptive polling learns from (recent completion times,
per provider) from the database too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from receiver.core.model import PROVIDERS
from receiver.runtime import Runtime
from receiver.store.base import Claim
from receiver.workers.jobs import poll_once, submit_once

log = logging.getLogger("receiver.workers")

SUBMIT_CONCURRENCY = 32
IDLE_TICK = 30.0  # look at the database at least this often, even with nothing due
MIN_SLEEP = 0.01  # between ticks when work is due soon (was 0.05: 50 ms of schedule lag)


class UpstreamWorker:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.should_exit = False
        self.alive = False
        self.jobs: set[asyncio.Task[Any]] = set()
        self.polls_in_flight = dict.fromkeys(PROVIDERS, 0)
        self.submits_in_flight = 0

    async def run(self) -> None:
        self.alive = True
        try:
            await self.learn_from_history()
            while not self.should_exit:
                self.rt.wake.clear()
                try:
                    next_at = await self.tick()
                except Exception:  # a bad tick must not kill the worker
                    log.exception("upstream worker tick failed")
                    next_at = self.rt.clock.now() + 1.0
                if self.should_exit:
                    break
                await self.rt.clock.sleep_until(next_at, self.rt.wake)
        finally:
            self.alive = False

    async def learn_from_history(self) -> None:
        """Give the polling model the completion times of each provider's recent tasks."""
        polling = self.rt.polling
        for provider in PROVIDERS:
            try:
                durations = await self.rt.store.recent_durations(provider, polling.policy.window)
            except Exception:  # learning is an optimisation: never a reason not to run
                log.exception("could not load recent completion times of %s", provider)
                continue
            polling.load(provider, reversed(durations))

    async def tick(self) -> float:
        rt = self.rt
        now = rt.clock.now()
        free = SUBMIT_CONCURRENCY - self.submits_in_flight
        if free > 0:
            for claim in await rt.store.claim_submits(now, free, rt.lease):
                self.submits_in_flight += 1
                self._start(submit_once, claim, self._submit_done)
        for provider in PROVIDERS:
            free = rt.settings.poll_concurrency - self.polls_in_flight[provider]
            if free <= 0:
                continue
            for claim in await rt.store.claim_polls(now, provider, free, rt.lease):
                self.polls_in_flight[provider] += 1
                self._start(poll_once, claim, self._poll_done)
        next_due = await rt.store.next_due()
        idle = rt.clock.now() + IDLE_TICK
        if next_due is None:
            return idle
        # Work that is due but not claimable (every slot busy) waits for a job
        # to finish, which sets `wake`; never spin on it. Work due within
        # MIN_SLEEP of this tick is claimed together, so a status query starts at
        # most that late; counted from this tick's `now`, not the clock's: if time
        # moved past next_due meanwhile, the next tick comes at once and claims it.
        if next_due > now:
            return max(next_due, now + MIN_SLEEP)
        return min(idle, now + 1.0)

    def _start(
        self,
        job: Callable[[Runtime, Claim], Awaitable[object]],
        claim: Claim,
        done: Callable[[Claim], None],
    ) -> None:
        async def run() -> None:
            try:
                await job(self.rt, claim)
            except Exception:
                # The lease expires and the job is claimed again; nothing is lost.
                log.exception("%s for task %s failed", job.__name__, claim.task.id)
            finally:
                done(claim)
                self.rt.wake.set()

        task = asyncio.create_task(run(), name=f"{job.__name__}:{claim.task.id}")
        self.jobs.add(task)
        task.add_done_callback(self.jobs.discard)

    def _submit_done(self, claim: Claim) -> None:
        self.submits_in_flight -= 1

    def _poll_done(self, claim: Claim) -> None:
        self.polls_in_flight[claim.task.provider] -= 1

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; give jobs in flight `grace` seconds, then cancel them (their
        leases expire and another run picks them up)."""
        self.should_exit = True
        self.rt.wake.set()
        if self.jobs:
            _, pending = await asyncio.wait(set(self.jobs), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
