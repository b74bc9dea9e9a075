"""B2 storage: the store's commit rate for the callback transaction shape.

One unit is what a final revidapi callback costs the store: `apply_report` on
a pending task with an inbox entry, which reads the task, reconciles, updates
it, writes one event, one outbox delivery (one subscription matches) and the
inbox row. CONCURRENCY callers keep that many units in flight on one event
loop, so the writer's group commit batches them; each transaction is
`BEGIN IMMEDIATE` ... `COMMIT` with `synchronous=FULL` on a WAL file on disk.

The ceiling, measured in the same run on an identical fresh file: plain
`sqlite3` in one thread running the same data statements per callback (the
store's own SQL texts: read the task row, update it, end its work, insert the
event, the delivery and the inbox row) with every parameter precomputed,
committed in transactions of the batch size the store reached in the same
repetition, with the same pragmas. What the ratio charges to the store is
everything else: Python per unit (reconcile, rows to objects, ids, the event
body), savepoints, the subscription fan-out, the thread hop and the loop.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks.common import Options, Result, event_loop_runner, median_of, repeat
from receiver.core.events import event_body
from receiver.core.ids import new_id
from receiver.core.model import Report, Status, TaskSpec
from receiver.core.reconcile import reconcile
from receiver.core.task import Task
from receiver.gc_tuning import tune_collector
from receiver.store.base import InboxEntry
from receiver.store.migrate import migrate_sqlite
from receiver.store.queries import load
from receiver.store.records import Subscription
from receiver.store.sqlite_connector import connect
from receiver.store.sqlite_store import SqliteStore

CONCURRENCY = 64  # store callers in flight
TARGET = 0.80
T0 = 1_800_000_000.0
Q = load("sqlite")

_INSERT_TASK = """
INSERT INTO tasks (
    id, provider, provider_task_id, status, prompt, aspect_ratio, quality, image_urls,
    result_urls, metadata, callback_mode, event_seq, created_at, updated_at, deadline_at,
    idempotency_key, request_hash, submit_at, submit_attempts, poll_at
) VALUES (?, 'revidapi', ?, 'pending', ?, '16:9', '2K', '[]', '[]', ?, 1, 1, ?, ?, ?, ?, ?, NULL, 1, ?)
"""


@dataclass(frozen=True, slots=True)
class Workload:
    task_ids: list[str]
    upstream_ids: list[str]
    bodies: list[bytes]  # the revidapi callback each task receives
    # What the HTTP layer hands the store for each callback, made before the clock starts.
    reports: list[Report]
    inboxes: list[InboxEntry]


def _upstream(n: int) -> str:
    return f"{n:032x}"


def _result_url(n: int) -> str:
    return f"https://tempfile.revidapi.example/seedream/{_upstream(n)}/image-0.png"


def _callback_body(n: int) -> bytes:
    created = int((T0 + n * 0.001) * 1000)
    param = {
        "model": "seedream/4.5-text-to-image",
        "input": {"prompt": _prompt(n), "aspect_ratio": "16:9", "quality": "basic"},
        "callBackUrl": "https://receiver.example/callbacks/revidapi/" + "t" * 120,
    }
    return orjson.dumps(
        {
            "code": 200,
            "msg": "success",
            "data": {
                "taskId": _upstream(n),
                "model": "seedream/4.5-text-to-image",
                "state": "success",
                "param": orjson.dumps(param).decode(),
                "resultJson": orjson.dumps({"resultUrls": [_result_url(n)]}).decode(),
                "failCode": None,
                "failMsg": None,
                "costTime": 23_417,
                "completeTime": created + 23_417,
                "createTime": created,
            },
        }
    )


def _now(n: int) -> float:
    """When callback n arrives: each at its own time, as on a real clock."""
    return T0 + 3600 + n * 1e-4


def _prompt(n: int) -> str:
    return f"a lighthouse on a cliff at dusk, volumetric fog, 35mm film, frame {n}"


def _workload(total: int) -> Workload:
    bodies = [_callback_body(i) for i in range(total)]
    return Workload(
        task_ids=[new_id("task", T0 + i * 0.001) for i in range(total)],
        upstream_ids=[_upstream(i) for i in range(total)],
        bodies=bodies,
        reports=[Report(Status.COMPLETED, _upstream(i), (_result_url(i),)) for i in range(total)],
        inboxes=[
            InboxEntry(new_id("cb", _now(i)), "revidapi", _now(i), bodies[i]) for i in range(total)
        ],
    )


def _task(work: Workload, i: int) -> Task:
    return Task(
        id=work.task_ids[i],
        provider="revidapi",
        status=Status.PENDING,
        spec=TaskSpec(prompt=_prompt(i), aspect_ratio="16:9", quality="2K"),
        created_at=T0 + i * 0.001,
        updated_at=T0 + i * 0.001 + 1,
        provider_task_id=work.upstream_ids[i],
        metadata={"user": f"u{i % 97}", "batch": "b2"},
        event_seq=1,
        callback_mode=True,
    )


def _populate(path: Path, work: Workload) -> None:
    """A fresh file by the real migrations, holding every task pending, and one subscription."""
    conn = connect(path)
    try:
        migrate_sqlite(conn)
        rows = []
        for i, task_id in enumerate(work.task_ids):
            t = _task(work, i)
            rows.append(
                (
                    task_id,
                    t.provider_task_id,
                    t.spec.prompt,
                    orjson.dumps(t.metadata).decode(),
                    t.created_at,
                    t.updated_at,
                    t.created_at + 900,
                    f"idem-{i}",
                    f"{i:064x}",
                    t.created_at + 600,
                )
            )
        conn.execute("BEGIN")
        conn.executemany(_INSERT_TASK, rows)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _subscription() -> Subscription:
    return Subscription(
        id=new_id("sub", T0),
        url="https://hooks.example/receiver",
        event_types=("task.completed", "task.failed"),
        description="b2",
        enabled=True,
        disabled_reason=None,
        secret="whsec_" + "A" * 43,
        previous_secret=None,
        previous_secret_expires_at=None,
        failing_since=None,
        created_at=T0,
        updated_at=T0,
    )


@contextmanager
def _scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="receiver-b2-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# The store ---------------------------------------------------------------------


async def _drive(store: SqliteStore, work: Workload, lo: int, hi: int) -> None:
    """Callbacks lo..hi through the store, CONCURRENCY of them in flight."""
    indexes = iter(range(lo, hi))

    async def caller() -> None:
        for i in indexes:
            inbox = work.inboxes[i]
            applied = await store.apply_report(
                work.task_ids[i], work.reports[i], inbox.received_at, inbox=inbox
            )
            if applied is None or len(applied.event_ids) != 1:
                raise RuntimeError(f"callback {i} did not apply: {applied}")

    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))


# The ceiling -------------------------------------------------------------------


def _ceiling_params(work: Workload, lo: int, hi: int, sub_id: str) -> list[tuple[Any, ...]]:
    """Every statement's parameters for callbacks lo..hi, as the store would bind them."""
    out = []
    for i in range(lo, hi):
        now = _now(i)
        before = _task(work, i)
        task = reconcile(before, work.reports[i], now).task
        event_id = new_id("evt", now)
        state = (  # task_update_state's numbered parameters, as _write_state binds them
            task.provider_task_id,
            task.status.value,
            orjson.dumps(list(task.result_urls)).decode(),
            None,
            None,
            task.updated_at,
            task.completed_at,
            task.event_seq,
            task.status.final,  # the update also ends a final task's work
            task.id,
            before.event_seq,
        )
        event = (
            event_id,
            task.id,
            "task.completed",
            task.event_seq,
            now,
            event_body(event_id, "task.completed", task.event_seq, now, task),
        )
        delivery = (new_id("dlv", now), event_id, sub_id, "event", now, now, now)
        entry = work.inboxes[i]
        inbox = (entry.id, "revidapi", task.id, now, entry.body, "applied")
        out.append((task.id, state, event, delivery, inbox))
    return out


def _ceiling(conn: sqlite3.Connection, params: list[tuple[Any, ...]], batch: int) -> None:
    """The same statements as the store's unit, in transactions of `batch` callbacks."""
    get, update = Q["task_get"], Q["task_update_state"]
    event_insert, delivery_insert, callback_insert = (
        Q["event_insert"],
        Q["delivery_insert"],
        Q["callback_insert"],
    )
    cur = conn.cursor()  # one for all: conn.execute would make one per statement
    for lo in range(0, len(params), batch):
        cur.execute("BEGIN IMMEDIATE")
        for task_id, state, event, delivery, inbox in params[lo : lo + batch]:
            cur.execute(get, (task_id,)).fetchone()
            cur.execute(update, state)
            cur.execute(event_insert, event)
            cur.execute(delivery_insert, delivery)
            cur.execute(callback_insert, inbox)
        cur.execute("COMMIT")


def _sub_params() -> tuple[Any, ...]:
    sub = _subscription()
    types = orjson.dumps(list(sub.event_types or ())).decode()
    return (sub.id, sub.url, types, sub.description, sub.secret, sub.created_at, sub.updated_at)


# One repetition ----------------------------------------------------------------------


async def _repetition(
    folder: Path, work: Workload, warm: int, count: int, slices: int
) -> dict[str, float]:
    """Store and ceiling on two fresh files, measured in alternating slices of the
    same callbacks, so that a noisy neighbour slows both alike."""
    _populate(folder / "store.db", work)
    _populate(folder / "ceiling.db", work)
    store = SqliteStore(folder / "store.db")
    await store.open()
    tune_collector()  # as the service runs (receiver/gc_tuning.py); the ceiling alike
    conn = connect(folder / "ceiling.db")  # the store's own pragmas
    try:
        await store.create_subscription(_subscription())
        conn.execute(Q["subscription_insert"], _sub_params())
        params = _ceiling_params(work, 0, warm + count, _subscription().id)
        await _drive(store, work, 0, warm)
        _ceiling(conn, params[:warm], CONCURRENCY)
        store_time = ceiling_time = 0.0
        batches: list[float] = []
        edges = [warm + count * k // slices for k in range(slices + 1)]
        for lo, hi in itertools.pairwise(edges):
            tx0, units0 = store.db.batching()
            start = time.perf_counter()
            await _drive(store, work, lo, hi)
            store_time += time.perf_counter() - start
            tx1, units1 = store.db.batching()
            batch = (units1 - units0) / max(tx1 - tx0, 1)
            batches.append(batch)
            start = time.perf_counter()
            _ceiling(conn, params[lo:hi], max(1, round(batch)))
            ceiling_time += time.perf_counter() - start
    finally:
        conn.close()
        await store.close()
    return {
        "store_callbacks_per_s": count / store_time,
        "ceiling_callbacks_per_s": count / ceiling_time,
        "ratio": ceiling_time / store_time,
        "store_mean_batch": statistics.fmean(batches),
    }


# The run ---------------------------------------------------------------------------


def run(options: Options) -> Result:
    warm, count, slices = (50, 300, 2) if options.smoke else (4_000, 60_000, 10)
    work = _workload(warm + count)
    loop_name, run_loop = event_loop_runner()

    def once() -> dict[str, float]:
        with _scratch() as folder:
            return run_loop(_repetition(folder, work, warm, count, slices))

    runs = repeat(options, once)
    figures = median_of(runs)
    return Result(
        bench="B2",
        title="storage: callback transactions committed per second",
        figures=figures,
        runs=runs,
        target=f"ratio >= {TARGET:.2f}",
        met=figures["ratio"] >= TARGET,
        settings={
            "concurrency": CONCURRENCY,
            "callbacks_measured": count,
            "warmup_callbacks": warm,
            "slices": slices,
            "subscriptions": 1,
            "synchronous": "FULL",
            "journal_mode": "WAL",
            "event_loop": loop_name,
            "gc": "tuned as the service tunes it (receiver/gc_tuning.py), for both",
            "sqlite": sqlite3.sqlite_version,
        },
        notes=[
            f"{CONCURRENCY} store callers in flight on one {loop_name} loop; the ceiling "
            "commits in batches of the store's mean batch in the same slice",
        ],
    )
