"""Helpers the store tests share (the `store` fixture is in conftest.py)."""

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


def subscription(name: str, event_types: tuple[str, ...] | None = None) -> Subscription:
    return Subscription(
        id=f"sub_{name}",
        url=f"https://hooks.example/{name}",
        event_types=event_types,
        description=None,
        enabled=True,
        disabled_reason=None,
        secret="whsec_" + "A" * 43,
        previous_secret=None,
        previous_secret_expires_at=None,
        failing_since=None,
        created_at=T0,
        updated_at=T0,
    )
