"""B1, B3 and B5 at smoke size: each runs end to end with real processes and reports every
figure it promises. Nothing about speed is asserted here; the benchmarks themselves judge that.
What is asserted is what they check on the way: every callback durable, every delivery made."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from benchmarks import b1_ingest, b3_delivery, b5_end_to_end
from benchmarks.common import Options, Result

SMOKE = Options.for_run(smoke=True)
Bench = Callable[[Options], Result]


@pytest.mark.parametrize(
    ("run", "figures"),
    [
        (
            b1_ingest.run,
            {
                "receiver_callbacks_per_s",
                "bare_requests_per_s",
                "ratio",
                "receiver_p50_ms",
                "receiver_p99_ms",
                "bare_p99_ms",
                "tasks_completed",
            },
        ),
        (b3_delivery.run, {"receiver_deliveries_per_s", "raw_posts_per_s", "ratio"}),
        (
            b5_end_to_end.run,
            {
                "rate_per_s",
                "published",
                "delivered",
                "missing",
                "p50_ms",
                "p99_ms",
                "max_ms",
                "load_late_p99_ms",
                "host_steal_core0_pct",
                "commit_mean_ms",
                "commits_slow_pct",
                "commit_mean_units",
            },
        ),
    ],
)
def test_runs_at_smoke_size(run: Bench, figures: set[str]) -> None:
    result = run(SMOKE)
    assert set(result.figures) == figures
    assert all(value >= 0 for value in result.figures.values())
    assert result.settings and result.target


def test_end_to_end_loses_nothing_at_smoke_size() -> None:
    figures = b5_end_to_end.run(SMOKE).figures
    assert figures["published"] > 0
    assert figures["delivered"] == figures["published"] and figures["missing"] == 0
    # The service's own commits were read from its /metrics: each carried work.
    assert figures["commit_mean_ms"] > 0 and figures["commit_mean_units"] >= 1
