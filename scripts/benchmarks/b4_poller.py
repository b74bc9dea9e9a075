"""B4 poller: 5,000 in-flight polled tasks against a simulator that finishes each after 20-40 s.

Two processes, each pinned to its own core: the provider simulator
(`python -m receiver.sandbox`, pending 0 s, processing 20 s plus a uniform
0-20 s) and the service (`receiver serve`, real clock, default settings, the
three polled providers enabled and pointed at the simulator). This process
drives the load from the simulator's core: it creates tasks through
`POST /v1/tasks` at a fixed rate, spread round-robin over apimall, apipod and
dreamcore, and waits until every one is final.

First a warm-up batch, so the service learns how long tasks take (with no
history it polls by its fixed backoff); then, three times, the measured batch:
5,000 tasks created within 20 s, so all 5,000 are in flight together (none
finishes before 20 s). The service keeps running across repetitions, as it
would in production, so its model keeps learning.

Measured per repetition:
- status requests per task: the simulator's own count of status queries
  (GET /_sim/stats, before and after), divided by the tasks;
- detection lag: the service's `completed_at` minus the simulator's own
  completion time of the same upstream task (GET /_sim/tasks/{provider});
  both processes read the same system clock;
- schedule lag: `receiver_poll_schedule_lag_seconds` scraped from /metrics
  before and after; the share of status queries that started within 100 ms
  of their due time is exact (100 ms is a bucket bound), the p99 is
  interpolated within its bucket as Prometheus' histogram_quantile does.

The ceiling, computed exactly in the same run from each task's actual
duration d as the simulator recorded it (not run): the providers' advice,
a status query every 2 s after the create, sends ceil(d/2) queries and sees
the completion 2*ceil(d/2) - d after it.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.common import Options, Result, median_of, pin, repeat
from receiver.core.adaptive import PollPolicy

POLLED = ("apimall", "apipod", "dreamcore")
TOKEN = "b4-bench-token"
REQUESTS_TARGET = 1 / 3  # of the every-2-s requests
LAG_TARGET = 2.0  # median detection lag, seconds
SCHEDULE_TARGET = 0.100  # p99 schedule lag, seconds
SCHEDULE_METRIC = "receiver_poll_schedule_lag_seconds"
SIM_CORE, SERVICE_CORE = 0, 1


@dataclass(frozen=True)
class Load:
    tasks: int  # measured batch
    warmup: int  # learning batch, before the first repetition
    rate: float  # tasks created per second
    processing: float  # the simulator's processing time: processing + uniform(0, jitter)
    jitter: float
    concurrency: int = 32  # creates in flight from the load driver
    grace: float = 90.0  # how long past a batch's slowest possible task to wait

    @classmethod
    def for_run(cls, smoke: bool) -> Load:
        if smoke:
            return cls(tasks=50, warmup=30, rate=100.0, processing=1.0, jitter=1.0, grace=20.0)
        return cls(tasks=5000, warmup=500, rate=250.0, processing=20.0, jitter=20.0)


def run(options: Options) -> Result:
    load = Load.for_run(options.smoke)
    with tempfile.TemporaryDirectory(prefix="b4-") as tmp, _on_core(SIM_CORE):
        with asyncio.Runner() as runner:
            bench = runner.run(_Bench.start(load, Path(tmp)))
            try:
                runner.run(bench.batch(load.warmup))
                runs = repeat(options, lambda: runner.run(bench.measure()))
            finally:
                runner.run(bench.stop())
    figures = median_of(runs)
    met = (
        figures["requests_ratio"] <= REQUESTS_TARGET
        and figures["median_detection_lag_s"] <= LAG_TARGET
        and figures["schedule_lag_within_100ms"] >= 0.99
        and figures["incomplete"] == 0
    )
    policy = PollPolicy()
    return Result(
        bench="B4",
        title="poller",
        figures=figures,
        runs=runs,
        target=(
            "<= 1/3 of the every-2-s status requests, median detection lag <= 2 s, "
            "poll schedule lag p99 <= 100 ms"
        ),
        met=met,
        settings={
            "load": asdict(load),
            "providers": list(POLLED),
            "simulator": (
                f"python -m receiver.sandbox --pending-seconds 0 --processing-seconds "
                f"{load.processing:g} --processing-jitter-seconds {load.jitter:g} "
                f"(pinned to core {SIM_CORE}, with the load driver)"
            ),
            "service": (
                f"receiver serve, real clock, default settings "
                f"(RECEIVER_POLL_CONCURRENCY 16 per provider), pinned to core {SERVICE_CORE}"
            ),
            "policy": asdict(policy),
            "ceiling": "computed: a status query every 2 s after the create (ceil(d/2) of them)",
            "repetitions": options.repeat,
        },
        notes=[
            f"{load.tasks} tasks created at {load.rate:g}/s after a warm-up of {load.warmup}; "
            "requests_ratio is status requests against a query every 2 s per task",
            "schedule lag p99 is interpolated within its histogram bucket; "
            "schedule_lag_within_100ms is exact",
        ],
    )


@contextmanager
def _on_core(core: int) -> Iterator[None]:
    """Keep this process (the load driver) off the service's core while it runs."""
    if not pin(core) or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _spawn(
    load: Load, tmp: Path
) -> tuple[subprocess.Popen[str], str, subprocess.Popen[bytes], str]:
    """Start the simulator, then the service pointed at it: (sim, its URL, service, its URL)."""
    sim = subprocess.Popen(
        [
            *pin(SIM_CORE),
            sys.executable,
            "-m",
            "receiver.sandbox",
            "--port",
            "0",
            "--pending-seconds",
            "0",
            "--processing-seconds",
            str(load.processing),
            "--processing-jitter-seconds",
            str(load.jitter),
            "--seed",
            "4",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert sim.stdout is not None
    sim_url = ""
    for line in sim.stdout:  # it prints its URLs once it listens
        if line.startswith("control"):
            sim_url = line.split()[1].removesuffix("/_sim")
            break
    if not sim_url:
        sim.kill()
        sim.wait()
        raise RuntimeError("the simulator did not start")
    port = _free_port()
    # Default settings: nothing of the caller's RECEIVER_* (or PORT) leaks in.
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_") and k != "PORT"},
        "RECEIVER_DATABASE_URL": f"sqlite:///{tmp / 'receiver.db'}",
        "RECEIVER_API_TOKEN": TOKEN,
        "RECEIVER_HOST": "127.0.0.1",
        "RECEIVER_PORT": str(port),
        "RECEIVER_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    for name in POLLED:
        env[f"RECEIVER_{name.upper()}_API_KEY"] = f"sandbox-{name}-key"
        env[f"RECEIVER_{name.upper()}_BASE_URL"] = f"{sim_url}/{name}"
    with (tmp / "service.log").open("wb") as log:
        service = subprocess.Popen(
            [*pin(SERVICE_CORE), sys.executable, "-m", "receiver", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    return sim, sim_url, service, f"http://127.0.0.1:{port}"


class _Bench:
    def __init__(
        self,
        load: Load,
        tmp: Path,
        sim: subprocess.Popen[str],
        sim_url: str,
        service: subprocess.Popen[bytes],
        url: str,
        session: aiohttp.ClientSession,
    ) -> None:
        self.load = load
        self.db = tmp / "receiver.db"
        self.sim, self.sim_url = sim, sim_url
        self.service, self.url = service, url
        self.session = session
        self.created = 0

    @classmethod
    async def start(cls, load: Load, tmp: Path) -> _Bench:
        sim, sim_url, service, url = _spawn(load, tmp)
        session = aiohttp.ClientSession(
            headers={"authorization": f"Bearer {TOKEN}"},
            connector=aiohttp.TCPConnector(limit=load.concurrency + 8),
        )
        bench = cls(load, tmp, sim, sim_url, service, url, session)
        try:
            await bench._until_ready()
        except BaseException:
            await bench.stop()
            raise
        return bench

    async def _until_ready(self) -> None:
        give_up = time.monotonic() + 30
        while time.monotonic() < give_up:
            if self.service.poll() is not None:
                raise RuntimeError(f"receiver serve exited with {self.service.returncode}")
            try:
                async with self.session.get(f"{self.url}/readyz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError("receiver serve did not become ready within 30 s")

    async def stop(self) -> None:
        await self.session.close()
        for proc in (self.service, self.sim):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (self.service, self.sim):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.sim.stdout is not None:
            self.sim.stdout.close()

    # One batch -----------------------------------------------------------

    async def batch(self, count: int) -> tuple[list[str], float]:
        """Create `count` tasks at the load's rate and wait until all are final:
        their ids, and the seconds creation took."""
        load, ids = self.load, []
        gate = asyncio.Semaphore(load.concurrency)
        start = time.monotonic()

        async def create(i: int) -> None:
            provider = POLLED[(self.created + i) % len(POLLED)]
            body = {"prompt": f"b4 task {self.created + i}", "provider": provider}
            async with gate, self.session.post(f"{self.url}/v1/tasks", json=body) as answer:
                if answer.status != 202:
                    raise RuntimeError(f"create answered {answer.status}: {await answer.text()}")
                ids.append((await answer.json())["id"])

        jobs = []
        for i in range(count):
            delay = start + i / load.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            jobs.append(asyncio.create_task(create(i)))
        await asyncio.gather(*jobs)
        spent = time.monotonic() - start
        self.created += count
        give_up = time.monotonic() + load.processing + load.jitter + load.grace
        while time.monotonic() < give_up:
            if not self._unfinished():
                break
            await asyncio.sleep(0.5)
        return ids, spent

    def _unfinished(self) -> int:
        with _read(self.db) as db:
            row = db.execute(
                "SELECT COUNT(*) FROM tasks WHERE status NOT IN ('completed', 'failed')"
            ).fetchone()
            return int(row[0])

    async def measure(self) -> dict[str, float]:
        queries_before = await self._status_queries()
        lag_before = await self._schedule_lag()
        ids, spent = await self.batch(self.load.tasks)
        queries = await self._status_queries() - queries_before
        lag = _minus(await self._schedule_lag(), lag_before)
        upstream = await self._sim_tasks()
        with _read(self.db) as db:
            rows = db.execute(
                "SELECT id, provider, provider_task_id, status, created_at, completed_at "
                "FROM tasks ORDER BY id DESC LIMIT ?",
                (len(ids),),
            ).fetchall()
        wanted = set(ids)
        ours = [row for row in rows if row[0] in wanted]
        durations, lags, ceiling_lags, spans = [], [], [], []
        incomplete = 0
        for _, provider, upstream_id, status, created_at, completed_at in ours:
            sim_task = upstream.get((provider, upstream_id))
            if status != "completed" or sim_task is None or completed_at is None:
                incomplete += 1
                continue
            sim_created, sim_final = sim_task
            d = sim_final - sim_created
            durations.append(d)
            lags.append(completed_at - sim_final)
            ceiling_lags.append(2 * math.ceil(d / 2) - d)
            spans.append((created_at, completed_at))
        incomplete += len(ids) - len(ours)
        ceiling_requests = sum(math.ceil(d / 2) for d in durations)
        tasks = len(ids)
        p99, within = _quantile_and_share(lag, 0.99, SCHEDULE_TARGET)
        return {
            "requests_ratio": queries / ceiling_requests if ceiling_requests else math.nan,
            "requests_per_task": queries / tasks,
            "ceiling_requests_per_task": ceiling_requests / tasks,
            "median_detection_lag_s": statistics.median(lags) if lags else math.nan,
            "p90_detection_lag_s": _pct(lags, 0.90),
            "ceiling_median_lag_s": statistics.median(ceiling_lags) if lags else math.nan,
            "schedule_lag_p99_s": p99,
            "schedule_lag_within_100ms": within,
            "status_queries": float(queries),
            "peak_in_flight": float(_peak(spans)),
            "creation_seconds": spent,
            "incomplete": float(incomplete),
        }

    # What the two processes say ---------------------------------------------

    async def _status_queries(self) -> int:
        async with self.session.get(f"{self.sim_url}/_sim/stats") as answer:
            stats: dict[str, Any] = await answer.json()
        return sum(int(stats[name]["status_queries"]) for name in POLLED)

    async def _sim_tasks(self) -> dict[tuple[str, str], tuple[float, float]]:
        out: dict[tuple[str, str], tuple[float, float]] = {}
        for name in POLLED:
            async with self.session.get(f"{self.sim_url}/_sim/tasks/{name}") as answer:
                data: dict[str, Any] = await answer.json()
            for task in data["tasks"]:
                out[(name, task["task_id"])] = (task["created_at"], task["final_at"])
        return out

    async def _schedule_lag(self) -> dict[float, float]:
        """Cumulative bucket counts of the schedule-lag histogram, summed over providers."""
        async with self.session.get(f"{self.url}/metrics") as answer:
            text = await answer.text()
        buckets: dict[float, float] = {}
        for family in text_string_to_metric_families(text):
            if family.name != SCHEDULE_METRIC:
                continue
            for sample in family.samples:
                if sample.name == f"{SCHEDULE_METRIC}_bucket":
                    le = float(sample.labels["le"])
                    buckets[le] = buckets.get(le, 0.0) + sample.value
        return buckets


@contextmanager
def _read(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        yield db
    finally:
        db.close()


def _minus(after: dict[float, float], before: dict[float, float]) -> dict[float, float]:
    return {le: count - before.get(le, 0.0) for le, count in after.items()}


def _quantile_and_share(buckets: dict[float, float], q: float, bound: float) -> tuple[float, float]:
    """(the q-quantile, interpolated within its bucket; the share at or below `bound`)."""
    bounds = sorted(buckets)
    total = buckets.get(math.inf, 0.0)
    if not bounds or total <= 0:
        return math.nan, math.nan
    share = buckets.get(bound, math.nan) / total
    rank, lower, below = q * total, 0.0, 0.0
    for le in bounds:
        count = buckets[le]
        if count >= rank:
            if math.isinf(le):
                return lower, share
            return lower + (le - lower) * (rank - below) / max(count - below, 1e-9), share
        lower, below = le, count
    return lower, share


def _pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _peak(spans: list[tuple[float, float]]) -> int:
    """The most tasks in flight (created, not yet seen complete) at one moment."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    peak = current = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak
