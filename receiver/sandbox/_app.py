"""The Sandbox: the four simulators behind one Starlette app, plus Python handles."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from receiver.clock import Clock
from receiver.sandbox._callbacks import CallbackRunner
from receiver.sandbox._control import control_routes
from receiver.sandbox._faults import Faults
from receiver.sandbox._provider import ProviderSim, SimEnv
from receiver.sandbox._state import (
    HangGate,
    ProviderStats,
    SandboxConfig,
    SimTask,
)
from receiver.sandbox.apimall import ApimallSim
from receiver.sandbox.apipod import ApipodSim
from receiver.sandbox.dreamcore import DreamcoreSim
from receiver.sandbox.revidapi import RevidapiSim

SIMULATORS: tuple[type[ProviderSim], ...] = (ApimallSim, ApipodSim, DreamcoreSim, RevidapiSim)


class Sandbox:
    """Simulated apimall, apipod, dreamcore and revidapi, on an injected clock.

    `app` serves each provider under `/<provider>` and the control API under
    `/_sim`. Callbacks are only sent while `run()` (the app's lifespan) is active.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        config: SandboxConfig | None = None,
        callback_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.clock = clock
        self.config = config or SandboxConfig()
        self.callbacks = CallbackRunner(
            clock, client=callback_client, timeout=self.config.callback_timeout_seconds
        )
        self.hangs = HangGate(self.config.hang_seconds)
        env = SimEnv(
            clock, self.config, self.callbacks, self.hangs, random.Random(self.config.seed)
        )
        self.providers: dict[str, ProviderSim] = {sim.name: sim(env) for sim in SIMULATORS}
        self.faults: Mapping[str, Faults] = {n: p.faults for n, p in self.providers.items()}
        self.stats: Mapping[str, ProviderStats] = {n: p.stats for n, p in self.providers.items()}
        self.app = Starlette(
            routes=[
                *control_routes(self),
                *(Mount(f"/{name}", app=p.router()) for name, p in self.providers.items()),
            ],
            lifespan=self._lifespan,
        )

    def tasks(self, provider: str) -> list[SimTask]:
        """The provider's tasks, oldest first."""
        return list(self.providers[provider].tasks.values())

    def task_states(self, provider: str) -> list[dict[str, Any]]:
        """Each task as `GET /_sim/tasks/{provider}` shows it, with its state at the clock's now."""
        sim, now = self.providers[provider], self.clock.now()
        return [sim.task_json(task, now) for task in sim.tasks.values()]

    def stats_json(self) -> dict[str, Any]:
        return {name: p.stats.as_json() for name, p in self.providers.items()}

    def reset(self) -> None:
        """Forget every task, fault, counter and scheduled callback (handles stay valid)."""
        for sim in self.providers.values():
            sim.reset()
        self.callbacks.clear()

    def release_hangs(self) -> int:
        """Let every create held by `create_hang` answer now; returns how many."""
        return self.hangs.release()

    @asynccontextmanager
    async def run(self) -> AsyncIterator[Sandbox]:
        """Start the callback runner; on exit, release held creates and stop it."""
        await self.callbacks.start()
        try:
            yield self
        finally:
            self.hangs.release()
            await self.callbacks.stop()

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with self.run():
            yield


def create_sandbox_app(
    clock: Clock,
    *,
    config: SandboxConfig | None = None,
    callback_client: httpx.AsyncClient | None = None,
) -> Sandbox:
    return Sandbox(clock, config=config, callback_client=callback_client)
