"""Everything a running service shares: settings, clock, store, adapters, HTTP client, workers."""

from __future__ import annotations

import asyncio
import random
import secrets
from dataclasses import dataclass, field

import httpx

from receiver.clock import Clock
from receiver.core.tokens import CallbackClaim, sign_callback
from receiver.errors import TransientError
from receiver.providers import make_adapter
from receiver.providers.base import Adapter
from receiver.settings import Settings
from receiver.store.base import Store


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    store: Store
    adapters: dict[str, Adapter]
    client: httpx.AsyncClient
    secret_key: str = ""
    rng: random.Random = field(default_factory=random.Random)
    # Set whenever new upstream work may be due (a task was created, a job ended).
    wake: asyncio.Event = field(default_factory=asyncio.Event)

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
        await self.store.open()
        self.secret_key = self.settings.secret_key or await self.store.secret_key(
            secrets.token_urlsafe(32)
        )

    def callback_url(self, task_id: str, provider: str) -> str:
        token = sign_callback(self.secret_key, CallbackClaim(task_id, provider), self.clock.now())
        return f"{self.settings.public_url}/callbacks/{provider}/{token}"

    async def send(self, provider: str, request: httpx.Request) -> httpx.Response:
        """Send one upstream request, translating transport failures into TransientError."""
        try:
            return await self.client.send(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Never reached the provider: repeating cannot duplicate anything.
            raise TransientError(provider, "unreachable", f"{type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:
            # Sent, but the answer was lost: the provider may have acted on it.
            raise TransientError(
                provider, "no_answer", f"{type(exc).__name__}: {exc}", outcome_unknown=True
            ) from exc


def build_adapters(settings: Settings) -> dict[str, Adapter]:
    return {
        name: make_adapter(name, config.base_url, config.api_key)
        for name, config in settings.providers.items()
    }


def build_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.upstream_timeout, connect=10.0),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        follow_redirects=False,
        headers={"user-agent": f"receiver/{_version()}"},
    )


def _version() -> str:
    from receiver import __version__

    return __version__
