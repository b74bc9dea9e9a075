"""Checks for create-request fields; each failure names the field the way the provider does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Invalid(Exception):
    """A create request the provider refuses; the message names the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def text(
    obj: Mapping[str, Any],
    key: str,
    *,
    required: bool = True,
    default: str = "",
    max_len: int | None = None,
    choices: tuple[str, ...] | None = None,
    where: str = "",
) -> str:
    value = obj.get(key)
    name = where + key
    if value is None:
        if required:
            raise Invalid(f"{name} is required")
        return default
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a string")
    if choices is not None and value not in choices:
        raise Invalid(f"{name} must be one of: {', '.join(choices)}")
    if required and not value.strip():
        raise Invalid(f"{name} must not be empty")
    if max_len is not None and len(value) > max_len:
        raise Invalid(f"{name} is longer than {max_len} characters")
    return value


def text_list(obj: Mapping[str, Any], key: str, *, where: str = "") -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise Invalid(f"{where}{key} must be an array of URLs")
    return tuple(value)
