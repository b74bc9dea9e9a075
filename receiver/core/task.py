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
    return {
        "id": task.id,
        "provider": task.provider,
        "provider_task_id": task.provider_task_id,
        "status": task.status.value,
        "mode": "callback" if task.callback_mode else "poll",
        "prompt": task.spec.prompt,
        "aspect_ratio": task.spec.aspect_ratio,
        "quality": task.spec.quality,
        "image_urls": list(task.spec.image_urls),
        "result_urls": list(task.result_urls),
        "error": task.error.as_json() if task.error else None,
        "metadata": task.metadata,
        "created_at": to_rfc3339(task.created_at),
        "updated_at": to_rfc3339(task.updated_at),
        "completed_at": to_rfc3339(task.completed_at) if task.completed_at else None,
    }
