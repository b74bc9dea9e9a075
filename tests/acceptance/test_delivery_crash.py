"""Kill the service with SIGKILL while deliveries are in flight and restart it:
every delivery it owed arrives at least once."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
from processes import Sink, ready, sandbox_process, start_service, wait
from support import PROVIDERS, TOKEN, bind, service_env, url_of


def all_event_ids(api: httpx.Client) -> set[str]:
    ids: set[str] = set()
    after: str | None = None
    while True:
        params = {"limit": "200", **({"after": after} if after else {})}
        page = api.get("/v1/events", params=params).json()
        ids |= {event["id"] for event in page["data"]}
        after = page["next"]
        if after is None:
            return ids


def test_sigkill_during_deliveries_loses_none(tmp_path: Path) -> None:
    sock = bind()
    url, port = url_of(sock), sock.getsockname()[1]
    sock.close()
    headers = {"authorization": f"Bearer {TOKEN}"}
    with sandbox_process() as sandbox_url, Sink(delay=0.05) as sink:
        env = service_env(
            sandbox_url,
            tmp_path / "r.db",
            url,
            RECEIVER_CALLBACK_GRACE="2",
            RECEIVER_UPSTREAM_TIMEOUT="1",
            RECEIVER_DELIVERY_TIMEOUT="1",
            RECEIVER_RETRY_SCHEDULE="1,1,1,1,1",
            RECEIVER_SUBSCRIPTION_CONCURRENCY="2",
        )
        service = start_service(env, port)
        try:
            wait(lambda: ready(url), "service start")
            with httpx.Client(base_url=url, headers=headers, timeout=10) as api:
                assert api.post("/v1/subscriptions", json={"url": sink.url}).status_code == 201
                for n in range(12):
                    body = {"prompt": f"crash {n}", "provider": PROVIDERS[n % 4]}
                    assert api.post("/v1/tasks", json=body).status_code == 202
                wait(lambda: len(sink.received()) >= 6, "the first deliveries")
            service.send_signal(signal.SIGKILL)
            service.wait(timeout=10)
        finally:
            if service.poll() is None:
                service.kill()
        received_before = len(sink.received())

        service = start_service(env, port)
        try:
            wait(lambda: ready(url), "service restart")
            with httpx.Client(base_url=url, headers=headers, timeout=10) as api:

                def everything_final() -> bool:
                    tasks = api.get("/v1/tasks", params={"limit": 100}).json()["data"]
                    return len(tasks) == 12 and all(
                        t["status"] in ("completed", "failed") for t in tasks
                    )

                wait(everything_final, "every task to finish", within=60)
                owed = all_event_ids(api)
                wait(lambda: owed <= sink.received(), "every owed delivery", within=60)
        finally:
            service.terminate()
            service.wait(timeout=30)
    assert received_before < len(owed), "the kill must land before everything was delivered"
    assert len(owed) >= 12 * 2  # at least submitted and a final event per task
