"""B2 and B6 at smoke size: each runs end to end and reports its figures (no timing asserted)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from benchmarks import b2_storage, b6_scale
from benchmarks.common import Options, Result

B6_QUERIES = (
    "get_task",
    "list_first_page",
    "list_by_status",
    "list_by_provider",
    "list_by_status_and_provider",
    "list_deep_page",
    "task_events",
    "get_event",
)


def test_b2_runs_at_smoke_size() -> None:
    result = b2_storage.run(Options.for_run(smoke=True))
    assert isinstance(result, Result) and result.bench == "B2"
    assert set(result.figures) == {
        "store_callbacks_per_s",
        "ceiling_callbacks_per_s",
        "ratio",
        "store_mean_batch",
    }
    assert len(result.runs) == 1
    assert result.settings["concurrency"] == 64
    assert all(value > 0 for value in result.figures.values())


def test_b6_runs_at_smoke_size() -> None:
    result = b6_scale.run(Options.for_run(smoke=True))
    assert isinstance(result, Result) and result.bench == "B6"
    per_query = {
        f"{name}_{figure}"
        for name in B6_QUERIES
        for figure in (
            "p50_ms_small",
            "p99_ms_small",
            "p50_ms_large",
            "p99_ms_large",
            "p99_growth",
        )
    }
    extra = {
        "bytes_per_task_small",
        "bytes_per_task_large",
        "generate_seconds_large",
        "held_in_memory",
    }
    cached = {"large_file_cached_before", "large_file_cached_after"}
    # The page cache's share of the large file is reported wherever fincore is.
    assert set(result.figures) in (per_query | extra, per_query | extra | cached)
    if shutil.which("fincore"):
        assert set(result.figures) == per_query | extra | cached
        # The file was just written and read: the page cache holds it, or most of it;
        # and all of it while it is held there.
        assert 0.5 <= result.figures["large_file_cached_before"] <= 1.0
        if result.figures["held_in_memory"]:
            assert result.figures["large_file_cached_after"] == 1.0
    assert len(result.runs) == 1
    assert result.settings["tasks_small"] == 200 and result.settings["tasks_large"] == 2_000
    # 2-3 events a task, except the few still queued
    assert 2 * 2_000 * 0.9 <= result.settings["events_large"] <= 3 * 2_000
