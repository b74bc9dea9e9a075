"""Retry-After values: delay-seconds or an HTTP date, relative to a `now` passed in."""

from __future__ import annotations

import math
from datetime import UTC
from email.utils import parsedate_to_datetime


def http_date(value: str) -> float | None:
    """Unix time of an HTTP date, or None; a date without a zone (`-0000`) is UTC."""
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a Retry-After value (delay-seconds or an HTTP date), or None."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        when = http_date(value)
        return None if when is None else max(0.0, when - now)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
