"""B1 ingest: durable callbacks per second.

Load: valid signed revidapi callbacks (success) for distinct tasks, each answered
200 only after the task's state change, its event, one outbox delivery row and
the inbox row are committed with synchronous=FULL. The service runs as
`receiver serve` would (same app, JSON logging at INFO), without its workers:
deliveries are B3's business. Ceiling: a bare Starlette POST endpoint on the
same route, same uvicorn settings (httptools, uvloop), same wrk and script.
Server on core 0, wrk on core 1, 64 connections.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from contextlib import closing
from pathlib import Path

import orjson

from benchmarks.common import Options, Result, median_of, repeat
from benchmarks.load import LoadResult, have_wrk, pyload, server, write_requests, wrk
from receiver.core.ids import new_id
from receiver.core.tokens import CallbackClaim, sign_callback
from receiver.store.sqlite_store import SqliteStore

SECRET = "bench-secret-key"
CONNECTIONS = 64
TARGET_RATIO = 0.50
TARGET_P99_MS = 15.0


def prepare(db: Path, count: int) -> list[tuple[str, bytes]]:
    """A database with `count` pending revidapi tasks and one subscription; one callback each."""

    async def migrate() -> None:
        store = SqliteStore(db)
        await store.open()
        await store.close()

    asyncio.run(migrate())
    now = time.time()
    # Ids as the service makes them (ULIDs, in creation order): a made-up id of
    # zeros and a counter compresses, which sends every token through zlib.
    ids = [new_id("task", now - 1 + i * 1e-6) for i in range(count)]
    with closing(sqlite3.connect(db)) as conn:
        rows = [
            (
                ids[i],
                "revidapi",
                f"up{i:08d}",
                "pending",
                "bench",
                "1:1",
                "2K",
                "[]",
                "[]",
                1,
                1,
                now,
                now,
                now + 86400,
                now + 86400,
            )
            for i in range(count)
        ]
        conn.executemany(
            "INSERT INTO tasks (id, provider, provider_task_id, status, prompt, aspect_ratio,"
            " quality, image_urls, result_urls, callback_mode, event_seq, created_at, updated_at,"
            " deadline_at, poll_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.execute(
            "INSERT INTO subscriptions (id, url, enabled, secret, created_at, updated_at)"
            " VALUES ('sub_00000000000000000000000001', 'http://127.0.0.1:9/hook', 1, 'whsec_eA==', ?, ?)",
            (now, now),
        )
        conn.commit()
    requests = []
    for i in range(count):
        token = sign_callback(SECRET, CallbackClaim(ids[i], "revidapi"), now)
        body = orjson.dumps(
            {
                "code": 200,
                "msg": "success",
                "data": {
                    "taskId": f"up{i:08d}",
                    "model": "seedream/4.5-text-to-image",
                    "state": "success",
                    "resultJson": orjson.dumps(
                        {"resultUrls": [f"https://cdn.example/{i}.webp"]}
                    ).decode(),
                    "failCode": None,
                    "failMsg": None,
                    "costTime": 15000,
                    "completeTime": int(now * 1000),
                    "createTime": int(now * 1000) - 15000,
                },
            }
        )
        requests.append((f"/callbacks/revidapi/{token}", body))
    return requests


def _load(url: str, tmp: Path, lines: list[tuple[str, bytes]], options: Options) -> LoadResult:
    if have_wrk():
        # Warm-up and measurement walk different tasks: every measured callback is a
        # first report for its task (a full state change), never a duplicate.
        split = len(lines) // 5
        write_requests(tmp / "warmup.txt", lines[:split])
        write_requests(tmp / "measure.txt", lines[split:])
        wrk(url, tmp / "warmup.txt", options.warmup, CONNECTIONS, core=1)
        return wrk(url, tmp / "measure.txt", options.seconds, CONNECTIONS, core=1)
    if not options.smoke:
        raise SystemExit("B1 needs wrk (Debian: apt-get install wrk)")
    return pyload(url, lines, concurrency=8)


def once(options: Options) -> dict[str, float]:
    count = 2_000 if options.smoke else 300_000
    with tempfile.TemporaryDirectory(prefix="bench-b1-") as tmp:
        db = Path(tmp) / "b1.db"
        lines = prepare(db, count)
        with server("bare", core=0) as url:
            bare = _load(url, Path(tmp), lines, options)
        env = {
            "RECEIVER_DATABASE_URL": f"sqlite:///{db}",
            "RECEIVER_API_TOKEN": "bench",
            "RECEIVER_SECRET_KEY": SECRET,
            "RECEIVER_REVIDAPI_API_KEY": "bench",
            "RECEIVER_REVIDAPI_BASE_URL": "http://127.0.0.1:9/revidapi",
        }
        with server("receiver", core=0, env=env) as url:
            ours = _load(url, Path(tmp), lines, options)
        with closing(sqlite3.connect(db)) as conn:
            completed = conn.execute(
                "SELECT COUNT(*) FROM tasks WHERE status = 'completed'"
            ).fetchone()[0]
            outbox = conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
            inbox = conn.execute("SELECT COUNT(*) FROM callbacks").fetchone()[0]
    if ours.errors or bare.errors:
        raise RuntimeError(f"errors under load: receiver {ours.errors}, bare {bare.errors}")
    if not (completed == outbox and inbox >= completed > 0):
        raise RuntimeError(
            f"durability check failed: {completed} completed, {outbox} outbox, {inbox} inbox"
        )
    return {
        "receiver_callbacks_per_s": ours.rps,
        "bare_requests_per_s": bare.rps,
        "ratio": ours.rps / bare.rps,
        "receiver_p50_ms": ours.p50_ms,
        "receiver_p99_ms": ours.p99_ms,
        "bare_p99_ms": bare.p99_ms,
        "tasks_completed": float(completed),
    }


def run(options: Options) -> Result:
    runs = repeat(options, lambda: once(options))
    figures = median_of(runs)
    return Result(
        bench="B1",
        title="ingest: durable callbacks/s",
        figures=figures,
        runs=runs,
        target=f"ratio >= {TARGET_RATIO}, p99 <= {TARGET_P99_MS} ms",
        met=figures["ratio"] >= TARGET_RATIO and figures["receiver_p99_ms"] <= TARGET_P99_MS,
        settings={
            "load": f"wrk -t1 -c{CONNECTIONS} -d{options.seconds:g}s after a {options.warmup:g}s warm-up",
            "pinning": "server on core 0, wrk on core 1",
            "server": "uvicorn httptools + uvloop, no access log; receiver without workers",
            "gc": "tuned as `receiver serve` tunes it (receiver/gc_tuning.py), bare server alike",
            "durability": "synchronous=FULL, WAL; 200 only after commit",
        },
    )
