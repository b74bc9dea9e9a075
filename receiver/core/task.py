"""The task record and its public JSON shape."""

from __future__ import annotations

from typing import Any

import msgspec

from receiver.core.model import Status, TaskError, TaskSpec
from receiver.core.times import to_rfc3339


class Task(msgspec.Struct, frozen=True):
    """A task as stored (a frozen Struct: see receiver.core.model)."""

    id: str
    provider: str
    status: Status
    spec: TaskSpec
    created_at: float
    updated_at: float
    provider_task_id: str | None = None
    result_urls: tuple[str, ...] = ()
    error: TaskError | None = None
    metadata: dict[str, Any] | None = None
    completed_at: float | None = None
    # How many events this task has produced; the next one gets event_seq + 1.
    event_seq: int = 0
    # The provider will POST the result to us (revidapi); polls are only a safety net.
    callback_mode: bool = False


def task_json(task: Task) -> dict[str, Any]:
    """The public shape, for orjson (every response and event body goes through it):
    tuples and the status enum as they are, which orjson writes as arrays and the
    status' value, without a list or a lookup of `.value` each (event bodies, B2)."""
    spec = task.spec
    error = task.error
    completed_at = task.completed_at
    return {
        "id": task.id,
        "provider": task.provider,
        "provider_task_id": task.provider_task_id,
        "status": task.status,
        "mode": "callback" if task.callback_mode else "poll",
        "prompt": spec.prompt,
        "aspect_ratio": spec.aspect_ratio,
        "quality": spec.quality,
        "image_urls": spec.image_urls,
        "result_urls": task.result_urls,
        "error": error.as_json() if error else None,
        "metadata": task.metadata,
        "created_at": to_rfc3339(task.created_at),
        "updated_at": to_rfc3339(task.updated_at),
        "completed_at": to_rfc3339(completed_at) if completed_at else None,
    }
