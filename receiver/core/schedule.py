"""When to try again: pure functions of the attempt count and a jitter draw in [0, 1)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    first: float
    factor: float
    cap: float
    jitter: float = 0.2  # +/- this fraction, so many tasks created together spread out

    def delay(self, attempt: int, draw: float, at_least: float | None = None) -> float:
        """Seconds to wait before attempt number `attempt + 1` (attempt counts from 0)."""
        base = min(self.cap, self.first * self.factor ** min(attempt, 64))
        value = base * (1 - self.jitter + 2 * self.jitter * draw)
        if at_least is not None:
            value = max(value, at_least)
        return value


# Creates: 1 s, 2 s, 4 s ... up to a minute, until the task deadline.
SUBMIT_BACKOFF = Backoff(first=1.0, factor=2.0, cap=60.0)
# Status queries: providers advise every 2-3 s and say most tasks finish in
# 10-30 s, so start at their cadence and back off gently for slow ones.
POLL_BACKOFF = Backoff(first=2.0, factor=1.3, cap=30.0)
