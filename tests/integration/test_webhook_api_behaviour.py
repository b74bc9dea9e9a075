"""What a user of the subscriber-side API sees: subscriptions, the event log, deliveries with
their attempts, callbacks as received, and retention."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from support import Harness, bind, eventually, running, subscriber, url_of

HOOK = "https://hooks.example.com/in"
EVENT_KEYS = {"id", "type", "created_at", "sequence", "data"}


def unix(text: str) -> float:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def get_json(h: Harness, path: str, **params: Any) -> Any:
    response = await h.api.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def listed(h: Harness, path: str, **params: Any) -> list[dict[str, Any]]:
    page = await get_json(h, path, **params)
    data: list[dict[str, Any]] = page["data"]
    return data


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(tmp_path) as harness:
        yield harness


async def test_a_subscription_is_created_read_changed_and_removed(h: Harness) -> None:
    response = await h.api.post("/v1/subscriptions", json={"url": HOOK})
    assert response.status_code == 201, response.text
    created = response.json()
    sub_id, secret = created["id"], created["secret"]
    assert response.headers["location"] == f"/v1/subscriptions/{sub_id}"
    assert sub_id.startswith("sub_")
    assert (created["url"], created["enabled"], created["event_types"]) == (HOOK, True, None)
    assert created["description"] is None and created["disabled_reason"] is None
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) <= 64

    read = await h.api.get(f"/v1/subscriptions/{sub_id}")
    everyone = await h.api.get("/v1/subscriptions")
    for shown in (read, everyone):
        assert shown.status_code == 200 and secret not in shown.text
    assert "secret" not in read.json()
    assert read.json() == {k: v for k, v in created.items() if "secret" not in k}
    assert everyone.json()["data"] == [read.json()]

    change = {
        "url": "https://other.example.com/hook",
        "event_types": ["task.completed", "task.failed"],
        "description": "orders service",
    }
    patched = await h.api.patch(f"/v1/subscriptions/{sub_id}", json=change)
    assert patched.status_code == 200, patched.text
    assert secret not in patched.text
    now = (await h.api.get(f"/v1/subscriptions/{sub_id}")).json()
    assert patched.json() == now
    assert {k: now[k] for k in change} == change and now["enabled"] is True
    back = await h.api.patch(f"/v1/subscriptions/{sub_id}", json={"event_types": None})
    assert back.json()["event_types"] is None

    off = (await h.api.patch(f"/v1/subscriptions/{sub_id}", json={"enabled": False})).json()
    assert off["enabled"] is False and off["disabled_reason"]
    on = (await h.api.patch(f"/v1/subscriptions/{sub_id}", json={"enabled": True})).json()
    assert on["enabled"] is True and on["disabled_reason"] is None
    assert on["url"] == change["url"]  # enabling changes nothing else

    deleted = await h.api.delete(f"/v1/subscriptions/{sub_id}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await h.api.get(f"/v1/subscriptions/{sub_id}")).status_code == 404
    assert (await h.api.delete(f"/v1/subscriptions/{sub_id}")).status_code == 404
    assert await listed(h, "/v1/subscriptions") == []


async def test_rotating_a_secret_gives_a_new_one_and_keeps_the_old_for_a_day(h: Harness) -> None:
    created = await h.subscribe(HOOK, description="rotate me")
    secrets = {created["secret"]}
    for _ in range(2):
        h.clock.advance(60)
        response = await h.api.post(f"/v1/subscriptions/{created['id']}/rotate-secret")
        assert response.status_code == 200, response.text
        rotated = response.json()
        assert rotated["id"] == created["id"] and rotated["description"] == "rotate me"
        assert rotated["secret"].startswith("whsec_") and rotated["secret"] not in secrets
        secrets.add(rotated["secret"])
        expires = unix(rotated["previous_secret_expires_at"])
        assert abs(expires - (h.clock.now() + 24 * 3600)) < 1
    shown = await h.api.get(f"/v1/subscriptions/{created['id']}")
    assert not any(s in shown.text for s in secrets)


async def test_the_event_log_lists_a_tasks_events_newest_first_in_pages(h: Harness) -> None:
    other = await h.create(prompt="another task", provider="dreamcore")
    async with subscriber() as hook:
        await h.subscribe(hook.url)
        task = await h.create(prompt="a lighthouse", provider="apipod")
        await h.drive(task["id"], "completed")
        events = await listed(h, "/v1/events", task_id=task["id"])
        n = len(events)
        assert [e["sequence"] for e in events] == list(range(n, 0, -1))
        assert events[0]["type"] == "task.completed" and events[-1]["type"] == "task.submitted"
        # What a subscriber received is what the log shows.
        received = await hook.wait_for(n)
        by_id = {r.json["id"]: r.json for r in received}
    for event in events:
        assert set(event) == EVENT_KEYS and event["id"].startswith("evt_")
        assert set(event["data"]) == {"task"} and event["data"]["task"]["id"] == task["id"]
        assert unix(event["created_at"]) <= h.clock.now()
        assert await get_json(h, f"/v1/events/{event['id']}") == event
        assert by_id[event["id"]] == event
    assert events[0]["data"]["task"]["status"] == "completed"

    walked: list[dict[str, Any]] = []
    params: dict[str, Any] = {"task_id": task["id"], "limit": 1}
    for _ in range(n + 1):
        page = await get_json(h, "/v1/events", **params)
        assert len(page["data"]) == 1
        walked += page["data"]
        if page["next"] is None:
            break
        params["after"] = page["next"]
    assert walked == events

    (done,) = await listed(h, "/v1/events", task_id=task["id"], type="task.completed")
    assert done == events[0]
    everything = await listed(h, "/v1/events", limit=200)
    assert {e["data"]["task"]["id"] for e in everything} == {task["id"], other["id"]}
    assert [e for e in everything if e["data"]["task"]["id"] == task["id"]] == events


async def test_deliveries_show_every_attempt_and_filter(h: Harness) -> None:
    closed = bind()  # bound, never listening: connections are refused
    async with subscriber() as ok, subscriber() as failing:
        ok.default, failing.default = 200, 500
        good = await h.subscribe(ok.url)
        bad = await h.subscribe(failing.url, event_types=["task.completed"])
        gone = await h.subscribe(f"{url_of(closed)}/hook", event_types=["task.completed"])
        task = await h.create(prompt="a lighthouse", provider="apipod")
        await h.drive(task["id"], "completed")
        events = await listed(h, "/v1/events", task_id=task["id"])
        completed = events[0]["id"]

        def settled(ds: list[dict[str, Any]]) -> bool:
            return len(ds) == len(events) + 2 and all(d["attempt_count"] >= 1 for d in ds)

        await eventually(h.deliveries, settled, what="every delivery attempted")
        await ok.wait_for(len(events))
    closed.close()

    mine = await h.deliveries(subscription_id=good["id"])
    assert sorted(d["event_id"] for d in mine) == sorted(e["id"] for e in events)
    assert {(d["status"], d["origin"]) for d in mine} == {("delivered", "event")}
    assert [d["subscription_id"] for d in await h.deliveries(status="delivered")] == [
        good["id"]
    ] * len(events)
    pending = await h.deliveries(status="pending")
    assert {d["subscription_id"] for d in pending} == {bad["id"], gone["id"]}
    assert {d["event_id"] for d in pending} == {completed}
    for_event = await h.deliveries(event_id=completed)
    assert {d["subscription_id"] for d in for_event} == {good["id"], bad["id"], gone["id"]}
    assert await h.deliveries(subscription_id=bad["id"], status="delivered") == []

    def attempts_of(delivery: dict[str, Any]) -> list[dict[str, Any]]:
        assert delivery["id"].startswith("dlv_")
        attempts: list[dict[str, Any]] = delivery["attempts"]
        assert len(attempts) == delivery["attempt_count"] >= 1
        for a in attempts:
            assert set(a) == {
                "attempted_at",
                "duration_ms",
                "status_code",
                "response_body",
                "error",
            }
            assert unix(a["attempted_at"]) <= h.clock.now() and a["duration_ms"] >= 0
        return attempts

    shown = {
        d["subscription_id"]: await get_json(h, f"/v1/deliveries/{d['id']}") for d in for_event
    }
    (success,) = attempts_of(shown[good["id"]])
    assert (success["status_code"], success["error"]) == (200, None)
    assert orjson.loads(success["response_body"]) == {"ok": True}
    for refusal in attempts_of(shown[bad["id"]]):
        assert (refusal["status_code"], refusal["response_body"]) == (500, "nope")
    assert shown[bad["id"]]["last_status_code"] == 500
    assert shown[bad["id"]]["next_attempt_at"] is not None
    for failure in attempts_of(shown[gone["id"]]):
        assert failure["status_code"] is None and failure["error"]
    assert shown[gone["id"]]["last_error"]


async def test_callbacks_are_listed_as_received(h: Harness) -> None:
    polled = await h.create(prompt="polled", provider="apipod")
    task = await h.create(prompt="a red fox", provider="revidapi")
    await h.wait_status(task["id"], "pending")
    h.clock.advance(10)  # rendered; the simulator calls back well inside the grace
    done = await h.wait_status(task["id"], "completed")
    (callback,) = await listed(h, "/v1/callbacks", task_id=task["id"])
    assert callback["id"] and callback["task_id"] == task["id"]
    assert (callback["provider"], callback["verdict"]) == ("revidapi", "applied")
    assert isinstance(callback["body"], dict) and callback["body"]
    assert done["provider_task_id"] in orjson.dumps(callback["body"]).decode()
    assert unix(callback["received_at"]) <= h.clock.now()
    assert await listed(h, "/v1/callbacks", provider="revidapi") == [callback]
    assert await listed(h, "/v1/callbacks", provider="apipod") == []
    assert await listed(h, "/v1/callbacks", task_id=polled["id"]) == []


async def test_old_events_deliveries_and_callbacks_are_pruned(tmp_path: Path) -> None:
    async with (
        running(tmp_path, env={"RECEIVER_RETENTION_DAYS": "1"}) as h,
        subscriber() as hook,
    ):
        sub = await h.subscribe(hook.url)
        task = await h.create(prompt="a red fox", provider="revidapi")
        await h.wait_status(task["id"], "pending")
        h.clock.advance(10)
        await h.wait_status(task["id"], "completed")
        events = await listed(h, "/v1/events", task_id=task["id"])
        await hook.wait_for(len(events))
        await eventually(
            lambda: h.deliveries(subscription_id=sub["id"]),
            lambda ds: len(ds) == len(events) and all(d["status"] == "delivered" for d in ds),
            what="every event delivered",
        )
        assert len(await listed(h, "/v1/callbacks")) == 1

        h.clock.advance(2 * 86400)

        async def leftovers() -> tuple[int, int, int]:
            return (
                len(await listed(h, "/v1/events", task_id=task["id"])),
                len(await h.deliveries(subscription_id=sub["id"])),
                len(await listed(h, "/v1/callbacks")),
            )

        await eventually(leftovers, lambda left: left == (0, 0, 0), what="retention pruning")
        assert (await h.get(task["id"]))["status"] == "completed"
        assert [s["id"] for s in await listed(h, "/v1/subscriptions")] == [sub["id"]]
        assert (await h.api.get(f"/v1/events/{events[0]['id']}")).status_code == 404
