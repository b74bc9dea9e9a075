"""The writer's group commit: when a small batch waits to gather more, and when not.

The writer's pause is replaced by one the test steps (no sleeps): what arrives
"during" a pause is submitted by the pause itself, from the loop.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from receiver.store import sqlite_connector
from receiver.store.sqlite_connector import SqliteConnector


class Pauses:
    """The writer's pause: records each and runs what the test arranged for it."""

    def __init__(self) -> None:
        self.taken: list[float] = []
        self.during: list[Callable[[], None]] = []

    def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)
        if self.during:
            self.during.pop(0)()


@pytest.fixture
def pauses() -> Pauses:
    return Pauses()


@pytest.fixture
async def db(tmp_path: Path, pauses: Pauses) -> AsyncIterator[SqliteConnector]:
    conn = SqliteConnector(tmp_path / "g.db", pause=pauses)
    conn.open()
    await conn.write(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY)"))
    yield conn
    await conn.close()


def insert(key: str) -> Callable[[sqlite3.Connection], str]:
    def work(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO t (k) VALUES (?)", (key,))
        return key

    return work


async def keys(db: SqliteConnector) -> list[str]:
    return await db.read(lambda c: [r[0] for r in c.execute("SELECT k FROM t ORDER BY k")])


async def held(db: SqliteConnector, queued: Callable[[], list[asyncio.Future[Any]]]) -> list[Any]:
    """Hold the writer in a transaction while `queued` submits units behind it (so work
    comes in while a transaction runs), then let it go and wait for them all."""
    started, release = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        started.set()
        release.wait(10)

    first = db.write(hold)
    await asyncio.to_thread(started.wait, 10)
    futures = queued()
    release.set()
    await first
    return list(await asyncio.gather(*futures))


class Arrivals:
    """What arrives during one pause: `units` written by callers on the loop."""

    def __init__(self, db: SqliteConnector, loop: asyncio.AbstractEventLoop, units: list[str]):
        self.db, self.loop, self.units = db, loop, units
        self.submitted: list[asyncio.Future[str]] = []

    def __call__(self) -> None:  # on the writer's thread, in its pause
        asyncio.run_coroutine_threadsafe(self._send(), self.loop).result(10)

    async def _send(self) -> None:
        self.submitted.extend(self.db.write(insert(key)) for key in self.units)


async def test_one_caller_writing_in_turn_is_never_held_back(
    db: SqliteConnector, pauses: Pauses
) -> None:
    before, _ = db.batching()
    for key in "abcde":
        assert await db.write(insert(key)) == key
    assert pauses.taken == []
    assert db.batching()[0] - before == 5
    assert await keys(db) == list("abcde")


async def test_concurrent_callers_small_batch_gathers_what_comes_meanwhile(
    db: SqliteConnector, pauses: Pauses
) -> None:
    loop = asyncio.get_running_loop()
    late = Arrivals(db, loop, ["c", "d", "e"])
    pauses.during.append(late)
    before, _ = db.batching()
    early = await held(db, lambda: [db.write(insert("a")), db.write(insert("b"))])
    assert early == ["a", "b"]
    assert await asyncio.gather(*late.submitted) == ["c", "d", "e"]
    # The holding transaction, then a, b and the three that came during the first
    # pause in one; the second pause brought nothing, so it committed then.
    assert db.batching()[0] - before == 2
    assert pauses.taken == [sqlite_connector.GATHER_SLICE] * 2
    assert await keys(db) == list("abcde")


async def test_a_gathering_batch_waits_a_bounded_number_of_pauses(
    db: SqliteConnector, pauses: Pauses
) -> None:
    loop = asyncio.get_running_loop()
    slices = sqlite_connector.GATHER_SLICES
    trickle = [Arrivals(db, loop, [f"late{i}"]) for i in range(slices + 2)]
    pauses.during.extend(trickle)
    await held(db, lambda: [db.write(insert("a"))])
    # A unit came in every pause, yet the batch committed after GATHER_SLICES of them.
    assert len(pauses.taken) == slices
    gathered = [key for arrivals in trickle[:slices] for key in arrivals.units]
    futures = [f for arrivals in trickle[:slices] for f in arrivals.submitted]
    assert await asyncio.gather(*futures) == gathered
    assert trickle[slices].submitted == []  # no pause was left for these
    assert await keys(db) == sorted(["a", *gathered])


async def test_a_batch_big_enough_commits_without_waiting(
    db: SqliteConnector, pauses: Pauses
) -> None:
    many = [f"k{i:03}" for i in range(sqlite_connector.GATHER_BELOW)]
    before, _ = db.batching()
    done = await held(db, lambda: [db.write(insert(key)) for key in many])
    assert done == many
    assert pauses.taken == []
    assert db.batching()[0] - before == 2
    assert await keys(db) == many


async def test_a_unit_failing_in_a_gathered_batch_fails_alone(
    db: SqliteConnector, pauses: Pauses
) -> None:
    loop = asyncio.get_running_loop()
    late = Arrivals(db, loop, ["a"])  # "a" again: the primary key refuses it
    pauses.during.append(late)
    assert await held(db, lambda: [db.write(insert("a")), db.write(insert("b"))]) == ["a", "b"]
    with pytest.raises(sqlite3.IntegrityError):
        await late.submitted[0]
    assert await keys(db) == ["a", "b"]


async def test_an_urgent_unit_is_committed_without_waiting(
    db: SqliteConnector, pauses: Pauses
) -> None:
    # Work comes in while a transaction runs, but one of the small batch is urgent
    # (the dispatcher's claims: its pace hangs on the answer).
    queued = await held(db, lambda: [db.write(insert("a")), db.write(insert("b"), urgent=True)])
    assert queued == ["a", "b"]
    assert pauses.taken == []
    assert await keys(db) == ["a", "b"]


async def test_the_writer_runs_without_preempting_the_loop_and_readers_as_usual(
    db: SqliteConnector,
) -> None:
    # The writer's policy is set on its own thread; ask each thread which it has.
    writer_policy = await db.write(lambda c: os.sched_getscheduler(0))
    reader_policy = await db.read(lambda c: os.sched_getscheduler(0))
    assert writer_policy == os.SCHED_BATCH  # see sqlite_connector._no_wakeup_preemption
    assert reader_policy == os.SCHED_OTHER
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the loop's thread is left alone


async def test_commit_observers_hear_of_each_write_transaction_on_the_loop(
    tmp_path: Path, pauses: Pauses
) -> None:
    db = SqliteConnector(tmp_path / "o.db", pause=pauses)
    heard: list[tuple[int, float, int]] = []
    db.on_commit(lambda units, seconds: heard.append((units, seconds, threading.get_ident())))
    db.open()
    try:
        await db.write(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY)"))
        # Three units queued behind a held transaction commit together, as one.
        assert await held(db, lambda: [db.write(insert(key)) for key in "abc"]) == list("abc")
        await keys(db)  # reads commit nothing anybody hears of
        failed = db.write(lambda c: c.execute("INSERT INTO nowhere VALUES (1)"))
        with pytest.raises(sqlite3.OperationalError):
            await failed
    finally:
        await db.close()
    loop_thread = threading.get_ident()
    # The table, the held unit, the three together, and the failing unit's transaction
    # (a unit that fails having written nothing leaves the rest of its batch to commit).
    assert [units for units, _, _ in heard] == [1, 1, 3, 1]
    assert all(seconds >= 0 for _, seconds, _ in heard)
    assert {thread for _, _, thread in heard} == {loop_thread}
