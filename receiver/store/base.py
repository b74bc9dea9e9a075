"""The store interface: the domain operations the rest of the service uses.

The SQLite store implements it; a PostgreSQL store can implement it later
without touching the HTTP layer or the workers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any, Protocol

import msgspec

from receiver.core.model import Report
from receiver.core.reconcile import Verdict
from receiver.core.task import Task
from receiver.errors import ReceiverError
from receiver.store.records import (
    Attempt,
    AttemptRecord,
    Claimed,
    Delivery,
    DeliveryClaim,
    Event,
    StoredCallback,
    Subscription,
)


class IdempotencyConflict(ReceiverError):
    """The Idempotency-Key was used before with another request body."""

    def __init__(self, key: str, task_id: str) -> None:
        self.key = key
        self.task_id = task_id
        super().__init__(f"Idempotency-Key {key!r} was used for task {task_id} with another body")


class _Keep(Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP


class NewTask(msgspec.Struct, frozen=True):
    task: Task
    deadline_at: float
    idempotency_key: str | None = None
    request_hash: str | None = None


class Claim(msgspec.Struct, frozen=True):
    """A task handed to a worker, with what the worker needs to decide."""

    task: Task
    deadline_at: float
    attempts: int  # previous attempts of this kind (creates, or status queries)
    # For creates: the previous attempt was sent and never settled (a timeout,
    # or a crash), so it may have created an upstream task.
    was_inflight: bool = False
    # For status queries: when this one was due (the row's poll_at), for the schedule lag.
    due_at: float = 0.0


class InboxEntry(msgspec.Struct, frozen=True):
    """An upstream callback as received, kept so it can be inspected and replayed."""

    id: str
    provider: str
    received_at: float
    body: bytes


class Handoff(Protocol):
    """Takes deliveries claimed for it by the transactions that wrote their events."""

    @property
    def handoff_lease(self) -> float | None:
        """How long to claim new deliveries for; None to leave them to the outbox."""
        ...

    def take(self, claims: Sequence[DeliveryClaim]) -> None: ...


class Applied(msgspec.Struct, frozen=True):
    task: Task
    verdict: Verdict
    event_ids: tuple[str, ...]
    # Deliveries of these events claimed in the same transaction, for the dispatcher to
    # send at once (see WebhookStore.handoff_lease); empty when nobody takes them.
    claims: tuple[DeliveryClaim, ...] = ()


class TaskStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    async def secret_key(self, candidate: str) -> str:
        """The callback-signing key kept in the database: `candidate` if none was kept yet."""
        ...

    async def create_task(self, new: NewTask) -> tuple[Task, bool]:
        """Insert the task (queued, create due now). With an Idempotency-Key already
        used for the same request, the earlier task and False; for another request,
        IdempotencyConflict."""
        ...

    async def get_task(self, task_id: str) -> Task | None: ...

    async def list_tasks(
        self, *, status: str | None, provider: str | None, limit: int, after: str | None
    ) -> list[Task]: ...

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
        """Reconcile `report` into the task and write the task, its events and the
        inbox entry in one transaction. `poll_at` sets the next status query for a
        task that is not final; `settles_submit` ends the create attempts. None when
        the task does not exist."""
        ...

    async def claim_submits(self, now: float, limit: int, lease: float) -> list[Claim]: ...

    async def retry_submit(
        self, task_id: str, at: float, *, inflight: bool, error: str
    ) -> None: ...

    async def claim_polls(
        self, now: float, provider: str, limit: int, lease: float
    ) -> list[Claim]: ...

    async def reschedule_poll(self, task_id: str, at: float, error: str | None) -> None: ...

    async def recent_durations(self, provider: str, limit: int) -> list[float]:
        """Seconds from creation to completion of the provider's last `limit` completed
        tasks (by creation), newest first: what adaptive polling learns from at start."""
        ...

    async def next_due(self) -> float | None:
        """The earliest time at which a create or a status query is owed."""
        ...


class WebhookStore(Protocol):
    # While set, the transaction that writes an event also claims its deliveries for
    # `handoff.handoff_lease` seconds and, once committed, gives them to `handoff.take`, so
    # the dispatcher sends them without claiming them from the outbox again (even if
    # the caller that wrote the event has gone away). Set and cleared by the dispatcher.
    handoff: Handoff | None

    async def release_deliveries(self, delivery_ids: Sequence[str], now: float) -> None:
        """Give claimed deliveries that were not attempted back to the outbox, due now."""
        ...

    async def create_subscription(self, sub: Subscription) -> Subscription: ...

    async def get_subscription(self, subscription_id: str) -> Subscription | None: ...

    async def list_subscriptions(self) -> list[Subscription]: ...

    async def update_subscription(
        self, subscription_id: str, changes: Mapping[str, Any], now: float
    ) -> Subscription | None: ...

    async def delete_subscription(self, subscription_id: str, now: float) -> bool: ...

    async def rotate_secret(
        self, subscription_id: str, secret: str, now: float, overlap: float
    ) -> Subscription | None: ...

    async def list_events(
        self, *, event_type: str | None, task_id: str | None, after: str | None, limit: int
    ) -> list[Event]: ...

    async def get_event(self, event_id: str) -> Event | None: ...

    async def redeliver(self, event_id: str, subscription_id: str | None, now: float) -> int: ...

    async def replay(
        self,
        sub: Subscription,
        since: float,
        until: float,
        event_types: tuple[str, ...] | None,
        now: float,
    ) -> int: ...

    async def claim_deliveries(
        self,
        now: float,
        limit: int,
        lease: float,
        busy: Mapping[str, int],
        per_subscription: int,
        records: Sequence[AttemptRecord] = (),
    ) -> Claimed:
        """Due deliveries, leased, at most `per_subscription` held (counting `busy`) for
        any one subscription; `records` (attempts made) are written first, in the same
        transaction."""
        ...

    async def record_attempts(self, attempts: Sequence[AttemptRecord], now: float) -> None:
        """Attempts made (each with its delivery's new state and its subscription's
        health), all in one transaction."""
        ...

    async def next_delivery_due(self) -> float | None: ...

    async def list_deliveries(
        self,
        *,
        subscription_id: str | None,
        event_id: str | None,
        status: str | None,
        after: str | None,
        limit: int,
    ) -> list[Delivery]: ...

    async def get_delivery(self, delivery_id: str) -> tuple[Delivery, list[Attempt]] | None: ...

    async def list_callbacks(
        self, *, provider: str | None, task_id: str | None, after: str | None, limit: int
    ) -> list[StoredCallback]: ...

    async def get_callback(self, callback_id: str) -> StoredCallback | None: ...

    async def due_counts(self, now: float) -> dict[str, int]:
        """How many creates, polls and deliveries are due at `now` (for the metrics)."""
        ...

    async def prune(self, before: float) -> dict[str, int]:
        """Delete settled deliveries (with their attempts), events and callbacks older than `before`."""
        ...


class Store(TaskStore, WebhookStore, Protocol):
    """Everything the service asks of its database."""

    def on_commit(self, observer: Callable[[int, float], None]) -> None:
        """Have `observer(units, seconds)` called, on the event loop, after each write
        transaction commits: the units of work it held and how long the commit took
        (for the metrics: the disk's latency, which every answer waits on). Before `open`."""
        ...
