"""What every provider adapter offers.

An adapter builds `httpx.Request` objects and parses `httpx.Response` objects;
it never sends anything. Workers send, so the I/O policy (client, pool,
timeouts, retries) lives in one place and adapters stay testable with respx
or with plain Response objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

from receiver.core.model import FieldError, Report, TaskSpec


@dataclass(frozen=True, slots=True)
class ProviderLimits:
    """What a provider accepts, checked before any upstream call."""

    prompt_max: int | None  # None: the provider states no limit
    aspect_ratios: tuple[str, ...]
    qualities: tuple[str, ...] = ("2K", "4K")
    supports_edit: bool = False
    max_image_urls: int = 10


class Adapter(Protocol):
    name: str
    limits: ProviderLimits
    # The provider POSTs the final status to a callBackUrl we give it.
    supports_callback: bool
    # The provider de-duplicates creates by an Idempotency-Key header, so a
    # create whose outcome is unknown can be repeated safely.
    idempotent_create: bool

    def validate(self, spec: TaskSpec) -> list[FieldError]:
        """Field errors (our field names) for a spec this provider would refuse."""
        ...

    def build_create(
        self,
        spec: TaskSpec,
        *,
        idempotency_key: str,
        callback_url: str | None,
    ) -> httpx.Request: ...

    def parse_create(self, response: httpx.Response) -> str:
        """The provider's task id, or raise TransientError / PermanentError."""
        ...

    def build_status(self, provider_task_id: str) -> httpx.Request: ...

    def parse_status(self, response: httpx.Response) -> Report:
        """The normalized report, or raise TransientError / PermanentError."""
        ...

    def parse_callback(self, body: bytes) -> Report:
        """A callback body as received; raise ValueError when it is not the
        provider's JSON. Only adapters with supports_callback implement it."""
        ...
