"""What the four simulators share: configuration, task timelines and stats.

A task's state is never stored: it is derived from the injected clock and the
timeline fixed at creation (pending, then processing, then final), so a
simulator with thousands of tasks runs no timer per task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

PROVIDER_NAMES: tuple[str, ...] = ("apimall", "apipod", "dreamcore", "revidapi")
HANG_CAP_SECONDS = 30.0
FAIL_MESSAGE = "Image generation failed upstream (sandbox fault)"


def default_api_keys() -> dict[str, str]:
    return {name: f"sandbox-{name}-key" for name in PROVIDER_NAMES}


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    pending_seconds: float = 1.0
    processing_seconds: float = 2.0
    # Each task processes for processing_seconds plus a uniform draw in [0, jitter].
    processing_jitter_seconds: float = 0.0
    api_keys: Mapping[str, str] = field(default_factory=default_api_keys)
    # How long a `create_hang` create keeps its answer back (never more than 30 s).
    hang_seconds: float = HANG_CAP_SECONDS
    # Result files answer 404 this long after completion (None: never expire).
    result_ttl_seconds: float | None = None
    # Base of result URLs; None: the base URL the create request came in on.
    public_base_url: str | None = None
    initial_credits: int = 100_000
    callback_timeout_seconds: float = 10.0
    seed: int | None = None

    def api_key(self, provider: str) -> str:
        return self.api_keys.get(provider, f"sandbox-{provider}-key")


class Phase(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (Phase.COMPLETED, Phase.FAILED)


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A create request that passed validation, in the sandbox's own words."""

    model: str
    prompt: str
    aspect_ratio: str
    quality: str
    image_urls: tuple[str, ...] = ()
    callback_url: str | None = None


@dataclass(slots=True)
class SimTask:
    provider: str
    task_id: str
    request: CreateRequest
    body: dict[str, Any]  # the create body exactly as received
    created_at: float
    processing_at: float
    final_at: float
    fails: bool
    early: bool
    result_url: str
    credits: int

    @property
    def final_phase(self) -> Phase:
        return Phase.FAILED if self.fails else Phase.COMPLETED

    def phase(self, now: float) -> Phase:
        if now >= self.final_at:
            return self.final_phase
        if now >= self.processing_at:
            return Phase.PROCESSING
        return Phase.PENDING

    def changed_at(self, phase: Phase) -> float:
        if phase.final:
            return self.final_at
        return self.processing_at if phase is Phase.PROCESSING else self.created_at


@dataclass(frozen=True, slots=True)
class CallbackRecord:
    task_id: str
    kind: Literal["final", "duplicate", "stale"]
    state: str  # the state word the body carried
    url: str
    at: float  # clock time of the attempt
    early: bool
    outcome: str  # the HTTP status as text, "dropped", or "error: ..."
    status_code: int | None = None


@dataclass(slots=True)
class ProviderStats:
    create_requests: int = 0  # authorized creates, whatever their answer
    creates: int = 0  # tasks created
    idempotent_replays: int = 0
    rejected: int = 0  # validation errors
    unauthorized: int = 0
    create_faults: int = 0  # create_5xx and create_error answers
    create_hangs: int = 0
    status_queries: int = 0  # authorized status queries, 429s included
    rate_limited: int = 0  # 429s served
    not_found: int = 0
    callbacks: list[CallbackRecord] = field(default_factory=list)

    @property
    def callbacks_sent(self) -> int:
        return sum(1 for r in self.callbacks if r.outcome != "dropped")

    @property
    def callbacks_dropped(self) -> int:
        return sum(1 for r in self.callbacks if r.outcome == "dropped")

    def clear(self) -> None:
        for f in fields(self):
            if f.name != "callbacks":
                setattr(self, f.name, 0)
        self.callbacks.clear()

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["callbacks_sent"] = self.callbacks_sent
        out["callbacks_dropped"] = self.callbacks_dropped
        return out


class HangGate:
    """Holds back the answers of `create_hang` creates, on real time (capped at 30 s)."""

    def __init__(self, seconds: float) -> None:
        self._seconds = max(0.0, min(seconds, HANG_CAP_SECONDS))
        self._release = asyncio.Event()
        self.waiting = 0

    async def hang(self) -> None:
        release = self._release
        self.waiting += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(release.wait(), self._seconds)
        finally:
            self.waiting -= 1

    def release(self) -> int:
        """Let every held create answer now; returns how many were held."""
        held = self.waiting
        self._release.set()
        self._release = asyncio.Event()
        return held


def iso_ms(t: float) -> str:
    """2026-03-12T09:30:00.000Z, as apimall writes it."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def iso_s(t: float) -> str:
    """2025-06-14T05:21:11Z, as dreamcore writes it."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unix_ms(t: float) -> int:
    return round(t * 1000)
