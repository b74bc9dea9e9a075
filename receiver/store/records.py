"""Plain records the store hands out for subscriptions, events, deliveries and callbacks."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from receiver.core.delivery import Decision
from receiver.core.times import to_rfc3339


def _time(value: float | None) -> str | None:
    return to_rfc3339(value) if value is not None else None


class Subscription(msgspec.Struct, frozen=True):
    id: str
    url: str
    event_types: tuple[str, ...] | None  # None: every type
    description: str | None
    enabled: bool
    disabled_reason: str | None
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: float | None
    failing_since: float | None
    created_at: float
    updated_at: float

    def signing_secrets(self, now: float) -> list[str]:
        """The current secret, and the previous one while its overlap lasts."""
        expires = self.previous_secret_expires_at
        if self.previous_secret and expires is not None and now < expires:
            return [self.secret, self.previous_secret]
        return [self.secret]

    def as_json(self, *, with_secret: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "url": self.url,
            "event_types": list(self.event_types) if self.event_types is not None else None,
            "description": self.description,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "failing_since": _time(self.failing_since),
            "created_at": to_rfc3339(self.created_at),
            "updated_at": to_rfc3339(self.updated_at),
        }
        if with_secret:
            out["secret"] = self.secret
            out["previous_secret_expires_at"] = _time(self.previous_secret_expires_at)
        return out


class Event(msgspec.Struct, frozen=True):
    id: str
    task_id: str
    type: str
    sequence: int
    created_at: float
    body: bytes

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = orjson.loads(self.body)
        return out


class Attempt(msgspec.Struct, frozen=True):
    attempted_at: float
    duration_ms: float
    status_code: int | None
    response_body: str | None
    error: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "attempted_at": to_rfc3339(self.attempted_at),
            "duration_ms": round(self.duration_ms, 3),
            "status_code": self.status_code,
            "response_body": self.response_body,
            "error": self.error,
        }


class Delivery(msgspec.Struct, frozen=True):
    id: str
    event_id: str
    subscription_id: str
    status: str  # pending, delivered, dead, cancelled
    origin: str  # event, redeliver, replay
    attempts: int
    next_attempt_at: float | None
    last_status_code: int | None
    last_error: str | None
    created_at: float
    updated_at: float

    def as_json(self, attempts: list[Attempt] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "event_id": self.event_id,
            "subscription_id": self.subscription_id,
            "status": self.status,
            "origin": self.origin,
            "attempt_count": self.attempts,
            "next_attempt_at": _time(self.next_attempt_at),
            "last_status_code": self.last_status_code,
            "last_error": self.last_error,
            "created_at": to_rfc3339(self.created_at),
            "updated_at": to_rfc3339(self.updated_at),
        }
        if attempts is not None:
            out["attempts"] = [a.as_json() for a in attempts]
        return out


class DeliveryClaim(msgspec.Struct, frozen=True):
    delivery_id: str
    event_id: str
    attempt: int  # the number of the attempt about to be made, from 1
    body: bytes
    subscription: Subscription
    enqueued_at: float = 0.0


class Claimed(msgspec.Struct, frozen=True):
    """What a claim took from the outbox: `deliveries`, in the order they were due, and
    the subscriptions it passed over due ones of for their cap (`capped`): the outbox
    still owes those, however few the claim took."""

    deliveries: list[DeliveryClaim]
    capped: frozenset[str]


class AttemptRecord(msgspec.Struct, frozen=True):
    """One attempt made on a claimed delivery, and what `decide` made of it."""

    claim: DeliveryClaim
    attempt: Attempt
    decision: Decision


class StoredCallback(msgspec.Struct, frozen=True):
    id: str
    provider: str
    task_id: str
    received_at: float
    body: bytes
    verdict: str

    def as_json(self) -> dict[str, Any]:
        try:
            body: Any = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            body = self.body.decode("utf-8", "replace")
        return {
            "id": self.id,
            "provider": self.provider,
            "task_id": self.task_id,
            "received_at": to_rfc3339(self.received_at),
            "verdict": self.verdict,
            "body": body,
        }
