"""Kill the service with SIGKILL while tasks are in flight, restart it on the same database,
and see every task finish: nothing that was acknowledged is lost.

Real processes on real time: the simulators render in about a second and the
service's grace and timeouts are set short, so the whole test takes seconds.
"""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from processes import ready, sandbox_process, start_service, wait
from support import PROVIDERS, TOKEN, bind, service_env, url_of


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    with sandbox_process() as url:
        yield url


def test_sigkill_while_tasks_are_in_flight_loses_nothing(tmp_path: Path, sandbox_url: str) -> None:
    sock = bind()
    url, port = url_of(sock), sock.getsockname()[1]
    sock.close()
    env = service_env(
        sandbox_url,
        tmp_path / "r.db",
        url,
        RECEIVER_CALLBACK_GRACE="2",
        RECEIVER_UPSTREAM_TIMEOUT="1",
    )
    headers = {"authorization": f"Bearer {TOKEN}"}
    service = start_service(env, port)
    try:
        wait(lambda: ready(url), "service start")
        accepted: dict[str, str] = {}
        with httpx.Client(base_url=url, headers=headers, timeout=10) as api:
            for n in range(16):
                provider = PROVIDERS[n % 4]
                r = api.post("/v1/tasks", json={"prompt": f"crash test {n}", "provider": provider})
                assert r.status_code == 202
                accepted[r.json()["id"]] = provider

            def all_submitted() -> bool:
                tasks = api.get("/v1/tasks", params={"limit": 100}).json()["data"]
                return all(t["status"] != "queued" for t in tasks)

            wait(all_submitted, "every task to reach the provider")
        # In flight upstream: rendering, callbacks and polls still owed.
        service.send_signal(signal.SIGKILL)
        service.wait(timeout=10)
    finally:
        if service.poll() is None:
            service.kill()

    with closing(sqlite3.connect(tmp_path / "r.db")) as db:
        statuses = [row[0] for row in db.execute("SELECT status FROM tasks")]
    assert len(statuses) == 16
    in_flight = [s for s in statuses if s in ("pending", "processing")]
    assert in_flight, "the kill must land while tasks are still rendering upstream"

    # While the service is down, revidapi's callbacks fail: the poller must recover them.
    service = start_service(env, port)
    try:
        wait(lambda: ready(url), "service restart")
        with httpx.Client(base_url=url, headers=headers, timeout=10) as api:

            def all_final() -> bool:
                tasks = api.get("/v1/tasks", params={"limit": 100}).json()["data"]
                return len(tasks) == 16 and all(
                    t["status"] in ("completed", "failed") for t in tasks
                )

            wait(all_final, "every task to finish after the restart", within=60)
            tasks = {t["id"]: t for t in api.get("/v1/tasks", params={"limit": 100}).json()["data"]}
        assert set(tasks) == set(accepted)
        for task_id, task in tasks.items():
            assert task["provider"] == accepted[task_id]
            assert task["status"] == "completed", task
            assert task["result_urls"]
    finally:
        service.terminate()
        service.wait(timeout=30)
