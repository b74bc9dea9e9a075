"""Helpers the store tests share (the `store` fixture is in conftest.py)."""

from __future__ import annotations

from receiver.core.model import Status, TaskSpec
from receiver.core.task import Task

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
