"""`/metrics` moves with traffic: callbacks, polls, transitions, deliveries, latency, due work."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from support import eventually, running, subscriber


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        match = re.match(r"^([a-z_]+)(\{.*\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return 0.0


async def test_counters_move_with_traffic(tmp_path: Path) -> None:
    async with running(tmp_path) as h, subscriber() as endpoint:
        async with httpx.AsyncClient(base_url=h.url) as public:
            before = (await public.get("/metrics")).text
            assert sample(before, "receiver_polls_total", provider="apipod", result="ok") == 0

            await h.subscribe(endpoint.url)
            polled = await h.create(prompt="a mill", provider="apipod")
            called = await h.create(prompt="a mill", provider="revidapi")
            await h.wait_status(called["id"], "pending")
            h.clock.advance(10)
            await h.wait_status(called["id"], "completed")
            await h.drive(polled["id"], "completed")
            events = (await h.api.get("/v1/events")).json()["data"]
            await endpoint.wait_for(len(events))
            await public.post("/callbacks/revidapi/forged-token", json={})

            # The counters move once the dispatcher has recorded each answer, a moment
            # after the subscriber has it: wait for that, then read everything.
            after = await eventually(
                lambda: public.get("/metrics"),
                lambda r: (
                    sample(r.text, "receiver_delivery_attempts_total", outcome="delivered")
                    >= len(events)
                ),
                what="every delivery to be counted",
            )
            assert after.headers["content-type"].startswith("text/plain")
            text = after.text

        def count(name: str, **labels: str) -> float:
            return sample(text, name, **labels)

        assert count("receiver_callbacks_total", provider="revidapi", outcome="applied") == 1
        assert count("receiver_callbacks_total", provider="revidapi", outcome="rejected") == 1
        assert count("receiver_polls_total", provider="apipod", result="ok") >= 1
        assert count("receiver_upstream_creates_total", provider="revidapi", result="ok") == 1
        assert count("receiver_task_transitions_total", provider="apipod", status="completed") == 1
        assert count("receiver_task_transitions_total", provider="revidapi", status="pending") == 1
        assert count("receiver_delivery_attempts_total", outcome="delivered") == len(events)
        assert count("receiver_delivery_attempt_seconds_count") == len(events)
        assert count("receiver_delivery_lag_seconds_count") == len(events)
        assert "receiver_due_work{" in text and 'kind="polls"' in text
        # Every write transaction's commit is timed, with the units it held.
        commits = count("receiver_db_commit_seconds_count")
        assert commits >= 1
        assert count("receiver_db_commit_units_count") == commits
        assert count("receiver_db_commit_units_sum") >= commits
        assert (
            count("receiver_http_requests_total", method="POST", route="/v1/tasks", status="202")
            == 2
        )
        # The callback's route is logged and counted as its template: never with the token.
        assert "forged-token" not in text
        assert (
            count(
                "receiver_http_requests_total", route="/callbacks/{provider}/{token}", status="404"
            )
            == 1
        )
