"""Records the tests share: tasks and subscriptions (the store tests' `store` fixture is in
tests/unit/store/conftest.py)."""

from __future__ import annotations

from receiver.core.model import Status, TaskSpec
from receiver.core.task import Task
from receiver.store.records import Subscription

T0 = 1_800_000_000.0


def task(n: int, provider: str = "apipod") -> Task:
    return Task(
        id=f"task_{n:026d}",
        provider=provider,
        status=Status.QUEUED,
        spec=TaskSpec(prompt=f"p{n}"),
        created_at=T0 + n,
        updated_at=T0 + n,
    )


def subscription(
    name: str,
    event_types: tuple[str, ...] | None = None,
    *,
    url: str | None = None,
    secret: str = "whsec_" + "A" * 43,
    now: float = T0,
) -> Subscription:
    """An enabled subscription `sub_{name}` (to https://hooks.example/{name} unless `url`)."""
    return Subscription(
        id=f"sub_{name}",
        url=url or f"https://hooks.example/{name}",
        event_types=event_types,
        description=None,
        enabled=True,
        disabled_reason=None,
        secret=secret,
        previous_secret=None,
        previous_secret_expires_at=None,
        failing_since=None,
        created_at=now,
        updated_at=now,
    )
