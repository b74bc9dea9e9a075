"""Adaptive polling: the schedule it makes for a known distribution, and its guard rails."""

from __future__ import annotations

import math
import random
import statistics

from receiver.core.adaptive import AdaptivePolling, PollPolicy
from receiver.core.schedule import POLL_BACKOFF

UNIFORM_20_40 = [20 + 20 * (i + 0.5) / 1000 for i in range(1000)]  # the B4 simulator's spread


def learned(durations: list[float], policy: PollPolicy | None = None) -> AdaptivePolling:
    model = AdaptivePolling(policy)
    model.load("apipod", durations)
    return model


def polls_until(model: AdaptivePolling, duration: float, rng: random.Random) -> tuple[int, float]:
    """Follow the schedule for a task that completes `duration` s after creation:
    (status queries sent, seconds from completion to the query that saw it)."""
    elapsed, polls = 0.0, 0
    while True:
        elapsed += model.next_delay("apipod", elapsed, attempt=polls, draw=rng.random())
        polls += 1
        if elapsed >= duration:
            return polls, elapsed - duration


def test_with_few_samples_the_fixed_backoff_is_kept() -> None:
    model = learned([30.0] * 19)
    assert not model.learned("apipod") and model.bounds("apipod") is None
    for attempt in range(6):
        for draw in (0.0, 0.5, 0.99):
            want = POLL_BACKOFF.delay(attempt, draw)
            assert model.next_delay("apipod", 0.0, attempt=attempt, draw=draw) == want
    # First query about 2 s after the create, as before (+/-20 %).
    assert 1.6 <= model.next_delay("apipod", 0.0, attempt=0, draw=0.5) <= 2.4
    assert model.next_delay("apimall", 0.0, attempt=0, draw=0.5) == POLL_BACKOFF.delay(0, 0.5)
    model.load("apipod", [30.0])
    assert model.learned("apipod")


def test_bounds_of_a_known_distribution() -> None:
    bounds = learned(UNIFORM_20_40).bounds("apipod")
    assert bounds is not None
    assert math.isclose(bounds.lo, 23.0, abs_tol=0.05)  # p15
    assert math.isclose(bounds.hi, 39.0, abs_tol=0.05)  # p95


def test_the_schedule_follows_the_distribution() -> None:
    model, p = learned(UNIFORM_20_40), PollPolicy()
    # First query near p15 after creation, with a little jitter.
    first = [model.next_delay("apipod", 0.0, attempt=0, draw=d) for d in (0.0, 0.5, 0.999)]
    assert math.isclose(first[1], 23.0, abs_tol=0.05)
    assert 22.7 <= min(first) and max(first) <= 23.3
    # Inside the bulk: every 2.5 s +/-10 %, from the first query on, even one that
    # came a little before p15 (its jitter).
    for elapsed in (min(first), 23.0, 30.0, 38.9):
        for draw in (0.0, 0.5, 0.999):
            gap = model.next_delay("apipod", elapsed, attempt=5, draw=draw)
            assert p.spacing * 0.9 <= gap <= p.spacing * 1.1
    # Past p95 the gaps grow again (x1.3 per query), up to the cap.
    gaps, elapsed = [], 39.0
    for _ in range(30):
        gaps.append(model.next_delay("apipod", elapsed, attempt=9, draw=0.5))
        elapsed += gaps[-1]
    assert gaps == sorted(gaps) and math.isclose(gaps[0], p.spacing, abs_tol=0.01)
    assert gaps[-1] == p.cap
    assert math.isclose(gaps[2] / gaps[1], 1.3, rel_tol=0.01)


def test_fewer_queries_than_every_two_seconds_with_a_bounded_lag() -> None:
    model, rng = learned(UNIFORM_20_40), random.Random(4)
    durations = [rng.uniform(20, 40) for _ in range(2000)]
    runs = [polls_until(model, d, rng) for d in durations]
    polls = sum(n for n, _ in runs)
    every_two_seconds = sum(math.ceil(d / 2) for d in durations)
    lags = [lag for _, lag in runs]
    assert polls <= every_two_seconds / 3
    assert statistics.median(lags) <= 1.5
    # Up to p95 no completion waits longer than one gap (2.5 s + 10 %) or than the
    # first query (p15 is 3 s past the fastest); past it the gaps grow slowly.
    assert max(lag for d, (_, lag) in zip(durations, runs, strict=True) if d <= 39) <= 3.25
    assert max(lags) <= 4.0


def test_no_gap_is_longer_than_the_cap_and_retry_after_is_honoured() -> None:
    slow = learned([600 + i for i in range(100)])  # p10 is 10 minutes after creation
    p = slow.policy
    for elapsed in (0.0, 100.0, 590.0, 650.0, 5000.0):
        for draw in (0.0, 0.999):
            assert slow.next_delay("apipod", elapsed, attempt=3, draw=draw) <= p.cap
    assert slow.next_delay("apipod", 5000.0, attempt=3, draw=0.5, at_least=120.0) == 120.0
    model = learned(UNIFORM_20_40)
    assert model.next_delay("apipod", 25.0, attempt=3, draw=0.5, at_least=7.0) == 7.0
    assert model.next_delay("apipod", 25.0, attempt=3, draw=0.5, at_least=1.0) == p.spacing
    # Without samples, the fixed backoff's own Retry-After handling.
    fresh = AdaptivePolling()
    assert fresh.next_delay("apipod", 5.0, attempt=1, draw=0.5, at_least=9.0) == 9.0


def test_the_deadline_is_never_passed() -> None:
    created, deadline = 1000.0, 1000.0 + 900
    for model in (AdaptivePolling(), learned(UNIFORM_20_40), learned([600.0] * 50)):
        for now in (created, created + 21, created + 890, created + 899.9):
            at = model.next_at("apipod", created, now, deadline, attempt=40, draw=0.999)
            assert now < at <= deadline
    at = learned(UNIFORM_20_40).next_at(
        "apipod", created, created + 880, deadline, attempt=4, draw=0.5, at_least=60.0
    )
    assert at == deadline


def test_a_completion_is_learned_at_the_midpoint_of_the_last_two_queries() -> None:
    model = AdaptivePolling()
    model.looked("task_1", 1020.0)
    assert model.completed("apipod", "task_1", 1000.0, 1022.5, first_look=False) == 21.25
    # Done at the first query: counted at a point of the spacing before it.
    for draw, seconds in ((0.0, 22.0), (0.5, 20.75), (0.999, 19.5025)):
        done = model.completed("apipod", "task_2", 1000.0, 1022.0, first_look=True, draw=draw)
        assert math.isclose(done, seconds)
    # The previous query forgotten (a restart): done by then.
    assert model.completed("apipod", "task_3", 1000.0, 1030.0, first_look=False) == 30.0
    model.looked("task_4", 1010.0)
    model.forget("task_4")
    assert model.completed("apipod", "task_4", 1000.0, 1030.0, first_look=False) == 30.0
    assert model.samples("apipod") == 6


def test_tasks_done_before_their_first_query_pull_it_earlier() -> None:
    """A provider that got faster: everything is complete at the first query, yet the
    first query moves down towards the new durations instead of staying put."""
    model, now = learned(UNIFORM_20_40), 10_000.0
    bounds = model.bounds("apipod")
    assert bounds is not None
    first = bounds.lo
    for i in range(3000):  # now every task takes 5 s
        now += 0.2
        created = now - 5.0
        delay = model.next_delay("apipod", 0.0, attempt=0, draw=0.5)
        at = created + delay
        model.completed("apipod", f"t{i}", created, at, first_look=True, draw=(i % 10) / 10)
    bounds = model.bounds("apipod")
    assert bounds is not None and bounds.lo < first * 0.6  # ~2 s per 1,000 completions


def test_a_burst_is_learned_whole_not_only_its_slowest() -> None:
    """Completions of a burst come in order of duration; the window keeps the last ten
    minutes, so after a burst of 5,000 the first query is not at the slowest tasks."""
    model, rng = AdaptivePolling(), random.Random(7)
    durations = sorted(rng.uniform(20, 40) for _ in range(5000))
    for i, d in enumerate(durations):
        model.looked(f"t{i}", 1000.0 + d - 1.0)
        model.completed("apipod", f"t{i}", 1000.0, 1000.0 + d + 1.0, first_look=False)
    bounds = model.bounds("apipod")
    assert bounds is not None and 22.0 <= bounds.lo <= 24.0 and 38.0 <= bounds.hi <= 40.0
    # Long after, only the last `window` completions stay.
    model.completed("apipod", "late", 5000.0, 5030.0, first_look=False)
    assert model.samples("apipod") == model.policy.window


def test_remembered_queries_are_bounded() -> None:
    model = AdaptivePolling(PollPolicy(tracked=3))
    for i in range(5):
        model.looked(f"t{i}", float(i))
    assert model.completed("apipod", "t0", 0.0, 10.0, first_look=False) == 10.0  # forgotten
    assert model.completed("apipod", "t4", 0.0, 10.0, first_look=False) == 7.0  # (4 + 10) / 2


def test_loading_ignores_negative_durations() -> None:
    model = AdaptivePolling()
    model.load("apipod", [-1.0, 5.0])
    assert model.samples("apipod") == 1
