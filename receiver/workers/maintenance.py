"""Retention: settled deliveries (with their attempts), events and stored callbacks older
than RECEIVER_RETENTION_DAYS are deleted, once an hour. Nothing still owed is touched."""

from __future__ import annotations

import asyncio
import logging

from receiver.runtime import Runtime

log = logging.getLogger("receiver.maintenance")

EVERY = 3600.0


class Maintenance:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.alive = False
        self.should_exit = False
        self.wake = asyncio.Event()
        self.last: dict[str, int] = {}

    async def run(self) -> None:
        self.alive = True
        try:
            while not self.should_exit:
                try:
                    await self.prune_once()
                except Exception:
                    log.exception("retention pruning failed")
                await self.rt.clock.sleep_until(self.rt.clock.now() + EVERY, self.wake)
        finally:
            self.alive = False

    async def prune_once(self) -> dict[str, int]:
        before = self.rt.clock.now() - self.rt.settings.retention
        self.last = await self.rt.store.prune(before)
        if any(self.last.values()):
            log.info("pruned %s", self.last)
        return self.last

    async def stop(self, grace: float = 10.0) -> None:
        self.should_exit = True
        self.wake.set()
