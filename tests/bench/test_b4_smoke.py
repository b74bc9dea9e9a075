"""B4 at smoke size: the benchmark runs end to end and reports its figures (no timing asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from benchmarks.b4_poller import run
from benchmarks.common import Options, Result

FIGURES = {
    "requests_ratio",
    "requests_per_task",
    "ceiling_requests_per_task",
    "median_detection_lag_s",
    "p90_detection_lag_s",
    "ceiling_median_lag_s",
    "schedule_lag_p99_s",
    "schedule_lag_within_100ms",
    "status_queries",
    "peak_in_flight",
    "creation_seconds",
    "incomplete",
}


def test_b4_runs_at_smoke_size() -> None:
    result = run(Options.for_run(smoke=True))
    assert isinstance(result, Result) and result.bench == "B4"
    assert set(result.figures) == FIGURES
    assert len(result.runs) == 1
    assert result.figures["incomplete"] == 0
    assert result.settings["load"]["tasks"] == 50
