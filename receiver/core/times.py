"""Times on the wire are RFC 3339 in UTC with milliseconds; inside, unix seconds."""

from __future__ import annotations

import re
from datetime import UTC, datetime


def to_rfc3339(ts: float) -> str:
    return (
        datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_rfc3339(text: str) -> float:
    """Unix seconds; raise ValueError for anything that is not an RFC 3339 time with an offset."""
    if not _RFC3339.match(text):
        raise ValueError("expected YYYY-MM-DDTHH:MM:SS[.fff] with Z or +HH:MM")
    text = re.sub(r"\.(\d{6})\d+", r".\1", text)  # Python parses at most microseconds
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("time needs a UTC offset, e.g. 2026-01-31T12:00:00Z")
    return value.timestamp()
