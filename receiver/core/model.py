"""The domain's plain values: what a task asks for, what a provider reports.

Pure: no I/O, no clock. The records every callback and poll builds are
frozen `msgspec.Struct`s rather than frozen dataclasses: a frozen dataclass
sets each field through `object.__setattr__` (a 13-field one costs 1.7 us to
make, a Struct 0.1 us), and the store builds several per callback (B2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import msgspec


class Status(StrEnum):
    QUEUED = "queued"  # accepted by us, not yet acknowledged by the provider
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    # Plain attributes of each member, set below: read several times for every
    # callback and poll, where a property cost 0.3 us a read (B2).
    final: bool  # completed or failed: nothing moves it any more
    rank: int  # progress order; a report may only move a task to a higher rank


for _status, _rank in (
    (Status.QUEUED, 0),
    (Status.PENDING, 1),
    (Status.PROCESSING, 2),
    (Status.COMPLETED, 3),
    (Status.FAILED, 3),
):
    _status.final = _status in (Status.COMPLETED, Status.FAILED)
    _status.rank = _rank
del _status, _rank

PROVIDERS: tuple[str, ...] = ("apimall", "apipod", "dreamcore", "revidapi")
QUALITIES: tuple[str, ...] = ("2K", "4K")
EVENT_TYPES: tuple[str, ...] = (
    "task.submitted",
    "task.processing",
    "task.completed",
    "task.failed",
)


class TaskSpec(msgspec.Struct, frozen=True):
    """What the user asked for, in our own vocabulary (before any provider mapping)."""

    prompt: str
    aspect_ratio: str = "1:1"
    quality: str = "2K"
    image_urls: tuple[str, ...] = ()

    @property
    def is_edit(self) -> bool:
        return bool(self.image_urls)


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class TaskError(msgspec.Struct, frozen=True):
    code: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class Report:
    """One observation of an upstream task, normalized from any provider's wire format.

    `status` is None when the provider said something we cannot map (apimall's
    `unknown`): it is recorded but moves nothing.

    A dataclass, not a Struct like the records around it: `raw` is left out of
    equality, which a Struct cannot do for one field (one is made per callback
    or poll, on the event loop, not in the store's transaction).
    """

    status: Status | None
    provider_task_id: str | None = None
    result_urls: tuple[str, ...] = ()
    error: TaskError | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
