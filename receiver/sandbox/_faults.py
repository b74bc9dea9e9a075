"""Faults to inject, per provider: counters that each injection uses up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal


@dataclass(slots=True)
class CreateErrorFault:
    """The next `n` creates answer `status` (402, 451, ...) in the provider's error shape."""

    status: int
    n: int = 1
    message: str | None = None


Counter = Literal[
    "fail_tasks",
    "poll_429",
    "create_5xx",
    "create_hang",
    "drop_callbacks",
    "early_callbacks",
    "duplicate_callbacks",
    "stale_callbacks",
]
CALLBACK_FAULTS = frozenset(
    {"drop_callbacks", "early_callbacks", "duplicate_callbacks", "stale_callbacks"}
)


@dataclass(slots=True)
class Faults:
    """Counters of faults still to inject; each injection uses one up."""

    fail_tasks: int = 0
    poll_429: int = 0
    retry_after: int = 1
    create_5xx: int = 0
    create_error: CreateErrorFault | None = None
    create_hang: int = 0
    drop_callbacks: int = 0
    early_callbacks: int = 0
    duplicate_callbacks: int = 0
    stale_callbacks: int = 0

    def take(self, name: Counter) -> bool:
        left = int(getattr(self, name))
        if left <= 0:
            return False
        setattr(self, name, left - 1)
        return True

    def take_create_error(self) -> CreateErrorFault | None:
        fault = self.create_error
        if fault is None or fault.n <= 0:
            self.create_error = None
            return None
        fault.n -= 1
        if fault.n == 0:
            self.create_error = None
        return fault

    def clear(self) -> None:
        for f in fields(self):
            setattr(self, f.name, f.default)

    def update(self, changes: Mapping[str, Any], *, callbacks: bool) -> None:
        """Set fields from a JSON object; ValueError names the first bad one (nothing is set)."""
        staged: dict[str, Any] = {}
        names = {f.name for f in fields(self)}
        for name, value in changes.items():
            if name not in names:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(names))}")
            if name in CALLBACK_FAULTS and not callbacks:
                raise ValueError(f"{name} only applies to a provider that sends callbacks")
            if name == "create_error":
                staged[name] = _parse_create_error(value)
            elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                staged[name] = value
            else:
                raise ValueError(f"{name} must be a non-negative integer, not {value!r}")
        for name, value in staged.items():
            setattr(self, name, value)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _parse_create_error(value: Any) -> CreateErrorFault | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError('create_error must be an object like {"status": 402, "n": 1}')
    status, n, message = value.get("status"), value.get("n", 1), value.get("message")
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError("create_error.status must be an HTTP error status (400-599)")
    if not isinstance(n, int) or n < 0:
        raise ValueError("create_error.n must be a non-negative integer")
    if message is not None and not isinstance(message, str):
        raise ValueError("create_error.message must be a string")
    unknown = set(value) - {"status", "n", "message"}
    if unknown:
        raise ValueError(f"create_error has unknown fields: {', '.join(sorted(unknown))}")
    return CreateErrorFault(status=status, n=n, message=message)
