"""B5 reads the service's commit histograms from /metrics: the figures it derives."""

from __future__ import annotations

import pytest
from benchmarks.b5_end_to_end import SLOW_COMMIT_S, commit_figures

from receiver.metrics import COMMIT_BUCKETS, Metrics


def test_mean_slow_share_and_units_come_from_the_histograms() -> None:
    metrics = Metrics()
    for seconds, units in ((0.001, 10), (0.004, 20), (SLOW_COMMIT_S, 30), (0.03, 60)):
        metrics.db_commit.observe(seconds)
        metrics.db_commit_units.observe(units)
    figures = commit_figures(metrics.render().decode())
    assert figures["commit_mean_ms"] == pytest.approx((1 + 4 + 10 + 30) / 4)
    # A commit of exactly the bound is not slow (Prometheus buckets are inclusive).
    assert figures["commits_slow_pct"] == pytest.approx(25.0)
    assert figures["commit_mean_units"] == pytest.approx(30.0)


def test_a_service_that_committed_nothing_reads_as_zeros() -> None:
    figures = commit_figures(Metrics().render().decode())
    assert figures == {"commit_mean_ms": 0.0, "commits_slow_pct": 0.0, "commit_mean_units": 0.0}


def test_the_slow_bound_is_one_of_the_service_buckets() -> None:
    assert SLOW_COMMIT_S in COMMIT_BUCKETS
