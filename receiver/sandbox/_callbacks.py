"""Completion callbacks, sent when the injected clock reaches a task's final time.

One background runner keeps a heap of due callbacks and sleeps on the clock
until the earliest is due, or until a new one is scheduled. Each callback is
sent once (faults may drop it, send it twice, or follow it with a stale one);
every attempt is recorded in the provider's stats and nothing is raised.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import orjson

from receiver.clock import Clock
from receiver.sandbox._faults import Faults
from receiver.sandbox._state import CallbackRecord, Phase, ProviderStats, SimTask

logger = logging.getLogger(__name__)

Render = Callable[[SimTask, Phase], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class CallbackJob:
    task: SimTask
    url: str
    render: Render  # the provider's status answer for a task in a given phase
    state_word: Callable[[Phase], str]
    faults: Faults
    stats: ProviderStats


class CallbackRunner:
    def __init__(self, clock: Clock, *, client: httpx.AsyncClient | None, timeout: float) -> None:
        self._clock = clock
        self._injected = client
        self._client: httpx.AsyncClient | None = None
        self._timeout = timeout
        self._heap: list[tuple[float, int, CallbackJob]] = []
        self._seq = itertools.count()
        self._wake: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def scheduled(self) -> int:
        return len(self._heap)

    @property
    def in_flight(self) -> int:
        return len(self._sending)

    def schedule(self, due: float, job: CallbackJob) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), job))
        if self._wake is not None:
            self._wake.set()

    def clear(self) -> None:
        self._heap.clear()

    async def start(self) -> None:
        if self._runner is not None:
            return
        self._client = self._injected or httpx.AsyncClient(timeout=self._timeout)
        self._wake = asyncio.Event()
        self._runner = asyncio.create_task(self._run(), name="sandbox-callbacks")

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        tasks = [runner, *self._sending]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._sending.clear()
        client, self._client = self._client, None
        if client is not None and client is not self._injected:
            await client.aclose()
        self._wake = None

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        while True:
            wake.clear()
            now = self._clock.now()
            while self._heap and self._heap[0][0] <= now:
                _, _, job = heapq.heappop(self._heap)
                task = asyncio.create_task(self.deliver(job))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
            if self._heap:
                await self._clock.sleep_until(self._heap[0][0], wake)
            else:
                await wake.wait()

    async def deliver(self, job: CallbackJob) -> None:
        """Send a task's final callback now, applying the callback faults. Never raises."""
        try:
            if job.faults.take("drop_callbacks"):
                self._record(job, "final", job.task.final_phase, "dropped", None)
                return
            times = 2 if job.faults.take("duplicate_callbacks") else 1
            for i in range(times):
                await self._post(job, "final" if i == 0 else "duplicate", job.task.final_phase)
            if job.faults.take("stale_callbacks"):
                await self._post(job, "stale", Phase.PROCESSING)
        except Exception:  # a bug here must not stop the other callbacks
            logger.exception("sandbox callback for %s failed", job.task.task_id)

    async def _post(
        self, job: CallbackJob, kind: Literal["final", "duplicate", "stale"], phase: Phase
    ) -> None:
        client = self._client
        if client is None:
            self._record(job, kind, phase, "error: the sandbox is not running", None)
            return
        body = orjson.dumps(job.render(job.task, phase))
        try:
            response = await client.post(
                job.url, content=body, headers={"content-type": "application/json"}
            )
        except httpx.HTTPError as exc:
            self._record(job, kind, phase, f"error: {type(exc).__name__}: {exc}", None)
            return
        self._record(job, kind, phase, str(response.status_code), response.status_code)

    def _record(
        self,
        job: CallbackJob,
        kind: Literal["final", "duplicate", "stale"],
        phase: Phase,
        outcome: str,
        status_code: int | None,
    ) -> None:
        job.stats.callbacks.append(
            CallbackRecord(
                task_id=job.task.task_id,
                kind=kind,
                state=job.state_word(phase),
                url=job.url,
                at=self._clock.now(),
                early=job.task.early,
                outcome=outcome,
                status_code=status_code,
            )
        )
