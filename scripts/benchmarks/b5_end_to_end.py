"""B5 end to end: from a callback's arrival to the subscriber's receipt of its event.

The service runs whole (workers included) on core 0; the webhook sink and an
open-loop load generator share core 1. Both are bare asyncio protocols
(benchmarks/lean.py): on uvicorn and aiohttp they kept core 1 60-98 % busy
near B5's rates, and their own delays counted as the service's. Callbacks
(success, distinct tasks) are sent at a fixed rate, each at its scheduled
time, and latency counts from that scheduled time (no coordinated omission).
The rate is half the lower of B1's and B3's measured rates from the results
file (or 400/s without them).
The first `warmup` seconds of callbacks (same rate, same run) are a warm-up:
left out of the latency figures, which are the measured window's, but counted
like the rest. Every callback answered 200 must reach the sink as a
task.completed delivery: published = delivered + missing, and missing must be
zero.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from benchmarks import lean
from benchmarks.b1_ingest import SECRET, prepare
from benchmarks.common import (
    RESULTS,
    Options,
    Result,
    median_of,
    repeat,
    steal_percent,
    steal_ticks,
)
from benchmarks.load import server

T = TypeVar("T")

TARGET_P99_MS = 50.0
DEFAULT_RATE = 400.0
SLOW_COMMIT_S = 0.01  # a bound of receiver.metrics.COMMIT_BUCKETS


def rate_from_results() -> float:
    try:
        results = json.loads(RESULTS.read_text())["results"]
        b1 = results["B1"]["figures"]["receiver_callbacks_per_s"]
        b3 = results["B3"]["figures"]["receiver_deliveries_per_s"]
    except (OSError, KeyError, ValueError):
        return DEFAULT_RATE
    return float(min(b1, b3)) / 2


async def _send_at_rate(url: str, lines: list[tuple[str, bytes]], rate: float) -> lean.Sent:
    """Open loop: callback i goes out at start + i / rate, whatever happened to the
    others (benchmarks/lean.py); keyed by task, as the receipts are matched."""
    address = URL(url)
    host, port = address.host or "127.0.0.1", address.port or 80
    requests = [
        (_upstream_id(body), lean.request_bytes(host, port, path, body)) for path, body in lines
    ]
    sent = await lean.send_at_rate(host, port, requests, rate)
    if sent.failures:
        raise RuntimeError(
            f"{sent.failures} callbacks were not answered 200: {'; '.join(sent.problems)}"
        )
    return sent


def _on_core_1(send: Callable[[], T]) -> T:
    """Run the load generator beside the sink on core 1, as the module says: unpinned,
    the scheduler was free to put it on the service's core."""
    affinity = os.sched_getaffinity(0)
    if len(affinity) > 1:
        os.sched_setaffinity(0, {1})
    try:
        return send()
    finally:
        os.sched_setaffinity(0, affinity)


def _upstream_id(body: bytes) -> str:
    """The callback's task by its upstream id (unique per task: see b1_ingest.prepare),
    which is how sends and receipts are matched."""
    upstream_id: str = json.loads(body)["data"]["taskId"]
    return upstream_id


def once(options: Options) -> dict[str, float]:
    rate = 50.0 if options.smoke else rate_from_results()
    warm = int(rate * options.warmup)
    count = warm + max(10, int(rate * options.seconds))
    with (
        tempfile.TemporaryDirectory(prefix="bench-b5-") as tmp,
        server("lean-sink", core=1) as sink,
    ):
        db = Path(tmp) / "b5.db"
        lines = prepare(db, count)
        with closing(sqlite3.connect(db)) as conn:  # the one subscriber is the sink
            conn.execute(
                "UPDATE subscriptions SET url = ?, event_types = '[\"task.completed\"]'",
                (f"{sink}/hook",),
            )
            conn.commit()
        env = {
            "RECEIVER_DATABASE_URL": f"sqlite:///{db}",
            "RECEIVER_API_TOKEN": "bench",
            "RECEIVER_SECRET_KEY": SECRET,
            "RECEIVER_REVIDAPI_API_KEY": "bench",
            "RECEIVER_REVIDAPI_BASE_URL": "http://127.0.0.1:9/revidapi",
            "RECEIVER_ALLOW_PRIVATE_URLS": "true",
        }
        with server("receiver-workers", core=0, env=env) as url:
            stolen, began = steal_ticks(), time.monotonic()
            sent = _on_core_1(lambda: asyncio.run(_send_at_rate(url, lines, rate)))
            stolen_after, took = steal_ticks(), time.monotonic() - began
            scheduled = sent.answered
            give_up = time.monotonic() + 30
            receipts: list[tuple[str, float]] = []
            while time.monotonic() < give_up:
                receipts = httpx.get(f"{sink}/receipts", timeout=10).json()["receipts"]
                if len({event_id for event_id, _ in receipts}) >= len(scheduled):
                    break
                time.sleep(0.2)
            commits = commit_figures(httpx.get(f"{url}/metrics", timeout=10).text)
        with closing(sqlite3.connect(db)) as conn:
            upstream_of = dict(
                conn.execute(
                    "SELECT e.id, t.provider_task_id FROM events e JOIN tasks t ON t.id = e.task_id"
                    " WHERE e.type = 'task.completed'"
                )
            )
    first: dict[str, float] = {}
    for event_id, at in receipts:
        task = upstream_of.get(event_id)
        if task is not None and task not in first:
            first[task] = at
    measured_from = min(scheduled.values(), default=0.0) + warm / rate
    latencies = sorted(
        (first[t] - at) * 1000 for t, at in scheduled.items() if t in first and at >= measured_from
    )
    missing = sum(1 for t in scheduled if t not in first)
    p = _percentiles(latencies)
    return {
        "rate_per_s": rate,
        "published": float(len(scheduled)),
        "delivered": float(len(scheduled) - missing),
        "missing": float(missing),
        "p50_ms": p[49],
        "p99_ms": p[98],
        "max_ms": latencies[-1] if latencies else 0.0,
        # The generator's own lag, over the measured sends: latency counts from the
        # intended times, so this must stay small for p99 to be the service's.
        "load_late_p99_ms": _percentiles(sent.late_ms[warm:])[98],
        # CPU time the host took from the service's core while callbacks were sent
        # (hypervisor steal): a VM's noise that the latencies above include.
        "host_steal_core0_pct": steal_percent(stolen, stolen_after, took, 0),
        # The service's commits over the whole run (its /metrics): the disk's share.
        **commits,
    }


def commit_figures(metrics: str) -> dict[str, float]:
    """From the service's `receiver_db_commit_*` histograms: the mean commit (its WAL
    write and fsync) in ms, the share of commits slower than SLOW_COMMIT_S, and the
    mean units per commit. Every answer waits on a commit: when the disk slows, this
    is where it shows (BENCHMARKS.md, B5)."""
    samples = {
        (sample.name, float(sample.labels.get("le", "nan"))): sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name.startswith("receiver_db_commit")
        for sample in family.samples
    }
    totals = {name: value for (name, le), value in samples.items() if math.isnan(le)}
    count = totals.get("receiver_db_commit_seconds_count", 0.0)
    if not count:
        return {"commit_mean_ms": 0.0, "commits_slow_pct": 0.0, "commit_mean_units": 0.0}
    fast = samples[("receiver_db_commit_seconds_bucket", SLOW_COMMIT_S)]
    return {
        "commit_mean_ms": totals["receiver_db_commit_seconds_sum"] / count * 1000,
        "commits_slow_pct": (count - fast) / count * 100,
        "commit_mean_units": totals["receiver_db_commit_units_sum"] / count,
    }


def _percentiles(values: list[float]) -> list[float]:
    """The 1st to 99th percentiles (all zero for fewer than two values)."""
    if len(values) < 2:
        return [0.0] * 99
    return statistics.quantiles(values, n=100, method="inclusive")


def run(options: Options) -> Result:
    runs = repeat(options, lambda: once(options))
    figures = median_of(runs)
    figures["missing"] = max(run["missing"] for run in runs)  # any loss anywhere counts
    return Result(
        bench="B5",
        title="end to end: callback arrival to subscriber receipt",
        figures=figures,
        runs=runs,
        target=f"p99 <= {TARGET_P99_MS} ms and zero missing",
        met=figures["p99_ms"] <= TARGET_P99_MS and figures["missing"] == 0,
        settings={
            "load": (
                f"open loop at {figures['rate_per_s']:.0f} callbacks/s for {options.seconds:g} s "
                f"after a {options.warmup:g} s warm-up at that rate (counted, not timed)"
            ),
            "pinning": "service on core 0; sink and load generator on core 1",
            "subscription": "one, task.completed only",
            "tools": "sink and sender on bare asyncio protocols with httptools (benchmarks/lean.py)",
            "service": "receiver serve's defaults (RECEIVER_SUBSCRIPTION_CONCURRENCY auto)",
            "commit figures": (
                "the service's receiver_db_commit_* histograms over the whole run "
                f"(warm-up and drain included); slow means over {SLOW_COMMIT_S * 1000:g} ms"
            ),
        },
    )
