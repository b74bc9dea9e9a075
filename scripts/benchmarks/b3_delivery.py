"""B3 delivery: signed deliveries per second to a local sink that answers 204 at once.

Ours: the real Dispatcher (claims with leases from the outbox, signs with
Standard Webhooks, POSTs through the service's outbound client, records every
attempt and the delivery's new state) draining a prepared outbox. Ceiling, in
the same run: the same client raw (receiver/delivery/http1.py, through
`Outbound.post`, as the dispatcher sends) POSTing the same bodies to the same
sink, as many in flight, with no database and no signing. Both on the loop the
service runs on (uvicorn's: uvloop when installed). This process on core 0,
the sink on core 1.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
import time
from contextlib import closing
from pathlib import Path

import orjson

from benchmarks.common import Options, Result, event_loop_runner, median_of, repeat
from benchmarks.load import server
from receiver.clock import SystemClock
from receiver.core.signing import new_secret
from receiver.gc_tuning import tune_collector
from receiver.outbound import Outbound
from receiver.runtime import Runtime, build_outbound
from receiver.settings import Settings
from receiver.store.sqlite_store import SqliteStore
from receiver.workers.dispatcher import Dispatcher

IN_FLIGHT = 64
TARGET = 0.60


def _body(i: int) -> bytes:
    task = {
        "id": f"task_{i:026d}",
        "provider": "revidapi",
        "provider_task_id": f"up{i}",
        "status": "completed",
        "mode": "callback",
        "prompt": "a lighthouse at dusk " * 8,
        "aspect_ratio": "16:9",
        "quality": "2K",
        "image_urls": [],
        "result_urls": [f"https://cdn.example/{i}.webp"],
        "error": None,
        "metadata": {"order": i},
        "created_at": "2026-11-21T12:00:00.000Z",
        "updated_at": "2026-11-21T12:00:15.000Z",
        "completed_at": "2026-11-21T12:00:15.000Z",
    }
    return orjson.dumps(
        {
            "id": f"evt_{i:026d}",
            "type": "task.completed",
            "created_at": "2026-11-21T12:00:15.000Z",
            "sequence": 2,
            "data": {"task": task},
        }
    )


def prepare(db: Path, count: int, sink_url: str) -> list[bytes]:
    async def migrate() -> None:
        store = SqliteStore(db)
        await store.open()
        await store.close()

    asyncio.run(migrate())
    now = time.time()
    bodies = [_body(i) for i in range(count)]
    with closing(sqlite3.connect(db)) as conn:
        conn.executemany(
            "INSERT INTO tasks (id, provider, status, prompt, aspect_ratio, quality, image_urls,"
            " result_urls, callback_mode, created_at, updated_at, deadline_at)"
            " VALUES (?, 'revidapi', 'completed', 'p', '1:1', '2K', '[]', '[]', 1, ?, ?, ?)",
            [(f"task_{i:026d}", now, now, now) for i in range(count)],
        )
        conn.executemany(
            "INSERT INTO events (id, task_id, type, sequence, created_at, body)"
            " VALUES (?, ?, 'task.completed', 2, ?, ?)",
            [(f"evt_{i:026d}", f"task_{i:026d}", now, bodies[i]) for i in range(count)],
        )
        conn.execute(
            "INSERT INTO subscriptions (id, url, enabled, secret, created_at, updated_at)"
            " VALUES ('sub_00000000000000000000000001', ?, 1, ?, ?, ?)",
            (f"{sink_url}/hook", new_secret(32), now, now),
        )
        conn.executemany(
            "INSERT INTO deliveries (id, event_id, subscription_id, status, origin, next_attempt_at,"
            " created_at, updated_at) VALUES (?, ?, 'sub_00000000000000000000000001', 'pending',"
            " 'event', ?, ?, ?)",
            [(f"dlv_{i:026d}", f"evt_{i:026d}", now, now, now) for i in range(count)],
        )
        conn.commit()
    return bodies


async def _ours(db: Path) -> tuple[float, int]:
    env = {
        "RECEIVER_DATABASE_URL": f"sqlite:///{db}",
        "RECEIVER_ALLOW_PRIVATE_URLS": "true",
        "RECEIVER_DELIVERY_CONCURRENCY": str(IN_FLIGHT),
        "RECEIVER_SUBSCRIPTION_CONCURRENCY": str(IN_FLIGHT),
    }
    settings = Settings.from_env(env)
    rt = Runtime(settings, SystemClock(), SqliteStore(db), {}, build_outbound(settings))
    await rt.start()
    dispatcher = Dispatcher(rt)
    started = time.perf_counter()
    runner = asyncio.create_task(dispatcher.run())
    try:
        # Drained when nothing is due any more and no attempt is in flight.
        drained = False
        while not drained:
            await asyncio.sleep(0.01)
            drained = (await rt.store.next_delivery_due()) is None and not dispatcher.inflight
        elapsed = time.perf_counter() - started
    finally:
        await dispatcher.stop()
        await runner
        await rt.outbound.close()
        await rt.store.close()
    with closing(sqlite3.connect(db)) as conn:
        delivered = conn.execute(
            "SELECT COUNT(*) FROM deliveries WHERE status = 'delivered'"
        ).fetchone()[0]
        attempts = conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
    if attempts != delivered:
        raise RuntimeError(f"{attempts} attempts recorded for {delivered} deliveries")
    return elapsed, delivered


async def _raw(sink_url: str, bodies: list[bytes]) -> float:
    queue = iter(bodies)
    headers = {"content-type": "application/json"}
    outbound = Outbound(limit=IN_FLIGHT)
    try:

        async def worker() -> None:
            for body in queue:
                answer = await outbound.post(
                    f"{sink_url}/hook", headers=headers, body=body, within=30, keep=1024
                )
                if answer.status != 204:
                    raise RuntimeError(f"sink answered {answer.status}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        return time.perf_counter() - started
    finally:
        await outbound.close()


def once(options: Options) -> dict[str, float]:
    count = 300 if options.smoke else 30_000
    _, run_loop = event_loop_runner()
    tune_collector()  # as the service runs (receiver/gc_tuning.py); the ceiling alike
    affinity = os.sched_getaffinity(0)
    with tempfile.TemporaryDirectory(prefix="bench-b3-") as tmp, server("sink", core=1) as sink:
        if len(affinity) > 1:
            os.sched_setaffinity(0, {0})
        try:
            db = Path(tmp) / "b3.db"
            bodies = prepare(db, count, sink)
            warm = bodies[: max(1, count // 10)]
            run_loop(_raw(sink, warm))
            raw_seconds = run_loop(_raw(sink, bodies))
            ours_seconds, delivered = run_loop(_ours(db))
        finally:
            os.sched_setaffinity(0, affinity)
    if delivered != count:
        raise RuntimeError(f"only {delivered} of {count} delivered")
    ours, raw = count / ours_seconds, count / raw_seconds
    return {"receiver_deliveries_per_s": ours, "raw_posts_per_s": raw, "ratio": ours / raw}


def run(options: Options) -> Result:
    runs = repeat(options, lambda: once(options))
    figures = median_of(runs)
    return Result(
        bench="B3",
        title="delivery: signed deliveries/s, each attempt recorded",
        figures=figures,
        runs=runs,
        target=f"ratio >= {TARGET}",
        met=figures["ratio"] >= TARGET,
        settings={
            "load": f"{300 if options.smoke else 30_000} pending deliveries, {IN_FLIGHT} in flight",
            "pinning": "dispatcher (or raw client) on core 0, sink on core 1",
            "sink": "uvicorn httptools + uvloop, 204 at once",
            "client": "the deliveries' HTTP/1.1 client (receiver/delivery/http1.py) for both",
            "event_loop": f"{event_loop_runner()[0]} for both (the service's: uvicorn's)",
            "gc": "tuned as the service tunes it (receiver/gc_tuning.py), for both",
        },
    )
