"""Everything a running service shares: settings, clock, store, adapters, HTTP client, workers."""

from __future__ import annotations

import asyncio
import random
import secrets
from dataclasses import dataclass, field

import httpx

from receiver.clock import Clock
from receiver.core.adaptive import AdaptivePolling
from receiver.core.model import Report
from receiver.core.tokens import CallbackClaim, CallbackTokens
from receiver.delivery.addresses import CachedResolver, Resolver, system_resolver
from receiver.errors import TransientError
from receiver.metrics import Metrics
from receiver.outbound import NoAnswer, NotSent, Outbound
from receiver.providers import make_adapter
from receiver.providers.base import Adapter
from receiver.settings import Settings
from receiver.store.base import KEEP, Applied, InboxEntry, Store, _Keep


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    store: Store
    adapters: dict[str, Adapter]
    outbound: Outbound
    secret_key: str = ""
    tokens: CallbackTokens = field(default_factory=lambda: CallbackTokens("", lambda: 0.0))
    rng: random.Random = field(default_factory=random.Random)
    resolver: Resolver = field(default_factory=lambda: CachedResolver(system_resolver))
    metrics: Metrics = field(default_factory=Metrics)
    # When to ask providers about tasks, learned from completions (receiver/core/adaptive.py).
    polling: AdaptivePolling = field(default_factory=AdaptivePolling)
    # Set whenever new upstream work may be due (a task was created, a job ended).
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Set whenever deliveries may be due (an event was written, a redelivery asked for).
    deliveries_wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Deliveries were put in the outbox outside a hand-off since the dispatcher last
    # looked there (see `deliveries_enqueued`).
    outbox_changed: bool = False

    async def apply_report(
        self,
        task_id: str,
        report: Report,
        now: float,
        *,
        poll_at: float | _Keep | None = KEEP,
        settles_submit: bool = False,
        inbox: InboxEntry | None = None,
    ) -> Applied | None:
        """Reconcile through the store, and wake the dispatcher when events were written."""
        applied = await self.store.apply_report(
            task_id, report, now, poll_at=poll_at, settles_submit=settles_submit, inbox=inbox
        )
        if applied is not None and applied.event_ids:
            self.metrics.transitions.inc(applied.task.provider, applied.task.status.value)
            self.deliveries_wake.set()
        return applied

    def deliveries_enqueued(self) -> None:
        """Deliveries were written to the outbox, due now, by a request (redeliver,
        replay): the dispatcher looks there at once rather than at its next look."""
        self.outbox_changed = True
        self.deliveries_wake.set()

    @property
    def callback_max_age(self) -> float:
        # Far past the deadline: a late but genuine callback must still verify
        # (it is harmless: final states are final), while an old URL expires.
        return self.settings.task_deadline + 7 * 24 * 3600

    @property
    def lease(self) -> float:
        """How long a claimed job is ours before another worker may take it over."""
        return 2 * self.settings.upstream_timeout + 1.0

    async def start(self) -> None:
        self.store.on_commit(self._committed)
        await self.store.open()
        self.secret_key = self.settings.secret_key or await self.store.secret_key(
            secrets.token_urlsafe(32)
        )
        self.tokens = CallbackTokens(self.secret_key, self.clock.now)

    def _committed(self, units: int, seconds: float) -> None:
        self.metrics.db_commit.observe(seconds)
        self.metrics.db_commit_units.observe(units)

    def callback_url(self, task_id: str, provider: str) -> str:
        token = self.tokens.sign(CallbackClaim(task_id, provider))
        return f"{self.settings.public_url}/callbacks/{provider}/{token}"

    async def send(self, provider: str, request: httpx.Request) -> httpx.Response:
        """Send one upstream request, translating transport failures into TransientError."""
        try:
            return await self.outbound.send(request, self.settings.upstream_timeout)
        except NotSent as exc:
            # Never reached the provider: repeating cannot duplicate anything.
            raise TransientError(provider, "unreachable", str(exc)) from exc
        except NoAnswer as exc:
            # Sent, but the answer was lost: the provider may have acted on it.
            raise TransientError(provider, "no_answer", str(exc), outcome_unknown=True) from exc


def build_adapters(settings: Settings) -> dict[str, Adapter]:
    return {
        name: make_adapter(name, config.base_url, config.api_key)
        for name, config in settings.providers.items()
    }


def build_outbound(settings: Settings) -> Outbound:
    limit = settings.delivery_concurrency + settings.poll_concurrency * 4 + 32
    return Outbound(limit=limit, user_agent=f"receiver/{_version()}")


def _version() -> str:
    from receiver import __version__

    return __version__
