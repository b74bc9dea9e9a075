"""Adaptive polling: when to ask a provider about a task, from how long its tasks take.

Pure: no I/O and no clock; times and random draws come in as arguments.

The policy, per provider:

- **Learn.** Completion times in seconds from the task's creation to its
  completion: loaded at start from the database (completed_at - created_at of
  the last 500), then added to whenever a status query finds a task completed.
  A completion seen by a query happened between that query and the previous
  one, so the sample is their midpoint; a task already complete at its first
  query counts as completing at a random point of the spacing before it (as
  if we had asked one spacing earlier; a random point rather than one fixed
  offset, or the low quantile flips between two values). The window holds the
  last 500, plus every completion of the last ten minutes (at most 20,000):
  the last few hundred alone would, after a burst created together, be the
  burst's slowest.
- **Few samples** (under 20): the fixed backoff, unchanged (`POLL_BACKOFF`:
  first query ~2 s after the create, x1.3 up to 30 s, +/-20 % jitter).
- **Enough samples.** With lo the low quantile (p15) and hi the high one
  (p95): the first query comes lo after creation (+/-0.25 s); inside the
  bulk, from lo to hi, one every `spacing` (2.5 s +/-10 %), so a completion
  is seen about spacing/2 (~1.25 s) after it happens; past hi the gap grows
  by 30 % of the time spent past it (x1.3 per query). No gap is ever longer
  than the cap (30 s), whatever was learned. Why p15: the tasks done before
  the first query wait for it about as long as the others wait for their
  next query (1.5 s against 1.25 s on average for B4's 20-40 s spread),
  while every query before the bulk is one that mostly finds nothing (p10
  sent ~5 % more queries in simulation, for 0.1 s less median lag). Tasks
  done before their first query pull lo earlier (see above), so a provider
  that got faster is followed.

The caller (`receiver.workers.jobs`) honours a 429's Retry-After (`at_least`) and
the task deadline.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from receiver.core.schedule import POLL_BACKOFF, Backoff


@dataclass(frozen=True, slots=True)
class PollPolicy:
    window: int = 500  # completions kept per provider, however old
    horizon: float = 600.0  # ... and every completion of the last ten minutes
    window_max: int = 20_000  # ... but never more than this
    min_samples: int = 20  # below this, the fixed backoff
    low: float = 0.15  # quantile of the first query
    high: float = 0.95  # quantile past which queries thin out again
    spacing: float = 2.5  # seconds between queries inside the bulk
    jitter: float = 0.1  # +/- this fraction of each gap (of the spacing, for the first)
    growth: float = 0.3  # past `high`, the gap is spacing + growth * (time past it)
    cap: float = 30.0  # no gap longer than this
    min_gap: float = 0.25  # no gap shorter than this
    tracked: int = 100_000  # tasks whose last query time is remembered, at most


@dataclass(frozen=True, slots=True)
class Bounds:
    lo: float  # first query, seconds after creation
    hi: float  # end of the bulk


class Durations:
    """The recent completion times of one provider's tasks, with their quantiles.

    Kept in completion order: at least the last `window`, plus everything that
    completed within `horizon` of the newest, at most `window_max`. A window of
    the last few hundred alone would, after a burst of thousands of tasks
    created together, hold only the burst's slowest (they complete last).
    """

    def __init__(self, policy: PollPolicy) -> None:
        self.policy = policy
        self._samples: deque[tuple[float, float]] = deque()  # (completed at, seconds)
        self._bounds: Bounds | None = None
        self._added = 0  # since the bounds were computed

    def __len__(self) -> int:
        return len(self._samples)

    def add(self, seconds: float, at: float) -> None:
        p, samples = self.policy, self._samples
        samples.append((at, seconds))
        while len(samples) > p.window_max or (
            len(samples) > p.window and samples[0][0] < at - p.horizon
        ):
            samples.popleft()
        self._added += 1

    def bounds(self) -> Bounds:
        # Sorting thousands of samples at every completion is waste: recompute
        # once 2 % of the window is new.
        if self._bounds is None or self._added * 50 >= len(self._samples):
            p = self.policy
            values = sorted(seconds for _, seconds in self._samples)
            lo = values[_rank(p.low, len(values))]
            hi = max(lo, values[_rank(p.high, len(values))])
            self._bounds, self._added = Bounds(lo, hi), 0
        return self._bounds


def _rank(q: float, n: int) -> int:
    """Nearest-rank index (0-based) of quantile q among n sorted values."""
    return min(n - 1, max(0, math.ceil(q * n) - 1))


class AdaptivePolling:
    """Per-provider completion times, and the delay before each task's next status query."""

    def __init__(self, policy: PollPolicy | None = None, fallback: Backoff = POLL_BACKOFF) -> None:
        self.policy = policy or PollPolicy()
        self.fallback = fallback
        self._durations: dict[str, Durations] = {}
        self._looked: dict[str, float] = {}  # task id -> time of its last unfinished answer

    def _of(self, provider: str) -> Durations:
        durations = self._durations.get(provider)
        if durations is None:
            durations = self._durations[provider] = Durations(self.policy)
        return durations

    # Learning -------------------------------------------------------------

    def load(self, provider: str, seconds: Iterable[float]) -> None:
        """Completion times known from before (oldest first), e.g. from the database."""
        durations = self._of(provider)
        for value in seconds:
            if value >= 0:
                durations.add(value, -math.inf)

    def looked(self, task_id: str, at: float) -> None:
        """A status query at `at` found the task not finished."""
        self._looked.pop(task_id, None)
        self._looked[task_id] = at
        while len(self._looked) > self.policy.tracked:
            del self._looked[next(iter(self._looked))]

    def forget(self, task_id: str) -> None:
        """The task ended otherwise (failed, timed out): nothing to learn from it."""
        self._looked.pop(task_id, None)

    def completed(
        self,
        provider: str,
        task_id: str,
        created_at: float,
        at: float,
        *,
        first_look: bool,
        draw: float = 0.5,
    ) -> float:
        """A status query at `at` found the task completed: learn (and return) when it did.

        `draw` (uniform in [0, 1)) places a task done before its first query."""
        previous = self._looked.pop(task_id, None)
        if previous is not None and created_at <= previous <= at:
            seconds = (previous + at) / 2 - created_at
        elif first_look:
            # Done before we first asked: count it as if we had asked one spacing
            # earlier, so that when many are, the first query moves earlier.
            seconds = at - created_at - self.policy.spacing * draw
        else:  # the previous query was forgotten (a restart): it ended by now
            seconds = at - created_at
        seconds = max(0.0, seconds)
        self._of(provider).add(seconds, at)
        return seconds

    def samples(self, provider: str) -> int:
        durations = self._durations.get(provider)
        return len(durations) if durations is not None else 0

    def learned(self, provider: str) -> bool:
        return self.samples(provider) >= self.policy.min_samples

    def bounds(self, provider: str) -> Bounds | None:
        """The learned first query and end of bulk, or None while samples are too few."""
        if not self.learned(provider):
            return None
        return self._of(provider).bounds()

    # Scheduling -----------------------------------------------------------

    def next_delay(
        self,
        provider: str,
        elapsed: float,
        *,
        attempt: int,
        draw: float,
        at_least: float | None = None,
    ) -> float:
        """Seconds until the next status query of a task created `elapsed` seconds ago.

        `attempt` counts the queries before (for the fixed backoff, while samples
        are too few), `draw` is uniform in [0, 1), and `at_least` is a Retry-After.
        """
        bounds = self.bounds(provider)
        if bounds is None:
            return self.fallback.delay(attempt, draw, at_least=at_least)
        delay = gap(self.policy, bounds, elapsed, draw)
        return delay if at_least is None else max(delay, at_least)

    def next_at(
        self,
        provider: str,
        created_at: float,
        now: float,
        deadline_at: float,
        *,
        attempt: int,
        draw: float,
        at_least: float | None = None,
    ) -> float:
        """When to send the next status query: `next_delay` from now, never after the deadline."""
        delay = self.next_delay(
            provider, now - created_at, attempt=attempt, draw=draw, at_least=at_least
        )
        return min(now + delay, deadline_at)


def gap(policy: PollPolicy, bounds: Bounds, elapsed: float, draw: float) -> float:
    """The learned schedule: seconds from `elapsed` (since creation) to the next query."""
    p = policy
    wobble = p.jitter * (2 * draw - 1)  # in [-jitter, +jitter)
    if elapsed < bounds.lo - p.jitter * p.spacing:  # before the earliest first query
        delay = bounds.lo - elapsed + wobble * p.spacing
    elif elapsed < bounds.hi:
        delay = p.spacing * (1 + wobble)
    else:
        delay = (p.spacing + p.growth * (elapsed - bounds.hi)) * (1 + wobble)
    return min(p.cap, max(p.min_gap, delay))
