"""Times on the wire are RFC 3339 in UTC with milliseconds; inside, unix seconds."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_LAST_SECOND = 253402300800.0  # 10000-01-01: beyond it isoformat has no 4-digit year
_SECONDS: dict[int, str] = {}  # "YYYY-MM-DDTHH:MM:SS" by unix second, a small memo
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))  # the tail for each millisecond
# The last two answers: an event body holds its own time and the task's creation
# time, and repeats the first up to three times.
_last: tuple[float, str] = (-1.0, "")
_before: tuple[float, str] = (-1.0, "")


def to_rfc3339(ts: float) -> str:
    """`datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")`, with Z.

    Done by hand for speed (every event body carries four, of two distinct
    times): the same rounding as `fromtimestamp` (to the microsecond, half to
    even), then the milliseconds truncated as `isoformat` does, the date and
    time of day memoized by second, and the last two answers kept.
    """
    global _last, _before
    last = _last
    if ts == last[0]:
        return last[1]
    before = _before
    if ts == before[0]:
        return before[1]
    if not 0.0 <= ts < _LAST_SECOND:  # also NaN: the library's answer, or its error
        return _to_rfc3339(ts)
    second = int(ts)
    micros = round((ts - second) * 1e6)  # the fraction, exactly (as math.modf has it)
    if micros >= 1_000_000:
        second += 1
        micros -= 1_000_000
    prefix = _SECONDS.get(second)
    if prefix is None:
        if second >= _LAST_SECOND:
            return _to_rfc3339(ts)
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        prefix = _SECONDS[second] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    text = prefix + _MILLIS[micros // 1000]
    _last, _before = (ts, text), last
    return text


def _to_rfc3339(ts: float) -> str:
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
