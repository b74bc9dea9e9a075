"""Deliveries to real subscriber endpoints, each verified with the `standardwebhooks` package."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook
from support import Harness, Received, eventually, running, subscriber

from receiver.core.times import to_rfc3339

FAST = {"RECEIVER_RETRY_SCHEDULE": "1,2,3"}


def verify(secret: str, received: Received) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    return payload


async def complete_task(h: Harness, provider: str = "apipod") -> dict[str, Any]:
    task = await h.create(prompt="a harbour", provider=provider)
    return await h.drive(task["id"], "completed", step=2)


async def delivered(h: Harness, sub_id: str, count: int) -> list[dict[str, Any]]:
    return await eventually(
        lambda: h.deliveries(subscription_id=sub_id, status="delivered"),
        lambda ds: len(ds) >= count,
        what=f"{count} delivered",
    )


async def recorded(h: Harness, sub_id: str, attempts: int) -> None:
    """Wait until the dispatcher has written `attempts` attempts (and so their next due times)."""
    await eventually(
        lambda: h.deliveries(subscription_id=sub_id),
        lambda ds: sum(d["attempt_count"] for d in ds) >= attempts,
        what=f"{attempts} recorded attempts",
    )


async def test_every_state_change_arrives_signed_in_order(tmp_path: Path) -> None:
    async with running(tmp_path) as h, subscriber() as endpoint:
        sub = await h.subscribe(endpoint.url, description="orders")
        task = await complete_task(h)
        events = (await h.api.get("/v1/events", params={"task_id": task["id"]})).json()["data"]
        await endpoint.wait_for(len(events))
        payloads = [verify(sub["secret"], r) for r in endpoint.received]
        assert sorted(p["sequence"] for p in payloads) == list(range(1, len(events) + 1))
        by_seq = {p["sequence"]: p for p in payloads}
        assert by_seq[1]["type"] == "task.submitted"
        assert by_seq[len(events)]["type"] == "task.completed"
        assert by_seq[len(events)]["data"]["task"]["result_urls"] == task["result_urls"]
        for received in endpoint.received:
            assert received.headers["webhook-id"] == received.json["id"]
            assert received.headers["user-agent"].startswith("receiver-webhooks/")
            assert received.headers["content-type"] == "application/json"
        log = await delivered(h, sub["id"], len(events))
        detail = (await h.api.get(f"/v1/deliveries/{log[0]['id']}")).json()
        assert [a["status_code"] for a in detail["attempts"]] == [204]


async def test_failures_are_retried_on_schedule_with_the_same_webhook_id(tmp_path: Path) -> None:
    async with running(tmp_path, env=FAST) as h, subscriber() as endpoint:
        sub = await h.subscribe(endpoint.url, event_types=["task.submitted"])
        endpoint.script = [(500, {}), (502, {})]
        task = await h.create(prompt="a harbour", provider="apipod")
        for expected in (1, 2):
            await recorded(h, sub["id"], expected)
            h.clock.advance(3.5)
        await endpoint.wait_for(3)
        assert len(set(endpoint.ids())) == 1
        stamps = [int(r.headers["webhook-timestamp"]) for r in endpoint.received]
        assert stamps == sorted(stamps) and stamps[0] < stamps[-1]
        for received in endpoint.received:
            verify(sub["secret"], received)
        (delivery,) = await delivered(h, sub["id"], 1)
        detail = (await h.api.get(f"/v1/deliveries/{delivery['id']}")).json()
        assert [a["status_code"] for a in detail["attempts"]] == [500, 502, 204]
        assert detail["attempts"][0]["response_body"] == "nope"
        assert detail["event_id"] == endpoint.ids()[0]
        assert (await h.get(task["id"]))["status"] in ("pending", "processing", "completed")


async def test_a_delivery_is_dead_after_the_last_attempt_and_can_be_redelivered(
    tmp_path: Path,
) -> None:
    async with (
        running(tmp_path, env={"RECEIVER_RETRY_SCHEDULE": "1,1"}) as h,
        subscriber() as endpoint,
    ):
        sub = await h.subscribe(endpoint.url, event_types=["task.submitted"])
        endpoint.default = 500
        await h.create(prompt="a harbour", provider="apipod")
        for expected in (1, 2, 3):
            await recorded(h, sub["id"], expected)
            h.clock.advance(1.5)
        (dead,) = await eventually(
            lambda: h.deliveries(subscription_id=sub["id"], status="dead"),
            lambda ds: len(ds) == 1,
            what="a dead delivery",
        )
        assert dead["attempt_count"] == 3 and dead["last_status_code"] == 500
        h.clock.advance(60)
        assert len(endpoint.received) == 3  # nothing after the last attempt

        endpoint.default = 204
        again = await h.api.post(f"/v1/events/{dead['event_id']}/redeliver", json={})
        assert again.status_code == 202 and again.json() == {"enqueued": 1}
        await endpoint.wait_for(4)
        assert endpoint.ids()[-1] == dead["event_id"]
        verify(sub["secret"], endpoint.received[-1])


async def test_410_disables_the_subscription_and_says_why(tmp_path: Path) -> None:
    async with running(tmp_path, env=FAST) as h, subscriber() as endpoint:
        sub = await h.subscribe(endpoint.url)
        endpoint.default = 410
        task = await h.create(prompt="a harbour", provider="apipod")
        await endpoint.wait_for(1)
        shown = await eventually(
            lambda: _json(h, f"/v1/subscriptions/{sub['id']}"),
            lambda s: s["enabled"] is False,
            what="the subscription to be disabled",
        )
        assert "410" in shown["disabled_reason"]
        await h.drive(task["id"], "completed", step=2)
        h.clock.advance(60)
        assert len(endpoint.received) == 1  # nothing more is sent to it
        assert await h.deliveries(subscription_id=sub["id"], status="pending") == []


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_honoured(tmp_path: Path, status: int) -> None:
    async with running(tmp_path, env=FAST) as h, subscriber() as endpoint:
        sub = await h.subscribe(endpoint.url, event_types=["task.submitted"])
        endpoint.script = [(status, {"retry-after": "120"})]
        await h.create(prompt="a harbour", provider="apipod")
        await recorded(h, sub["id"], 1)
        h.clock.advance(100)  # the schedule alone would have retried after ~1 s
        with pytest.raises(AssertionError):
            await endpoint.wait_for(2, within=0.3)
        h.clock.advance(21)
        await endpoint.wait_for(2)


async def test_event_type_filters_choose_what_each_subscription_receives(tmp_path: Path) -> None:
    async with running(tmp_path) as h, subscriber() as done_only, subscriber() as everything:
        await h.subscribe(done_only.url, event_types=["task.completed", "task.failed"])
        await h.subscribe(everything.url)
        task = await complete_task(h)
        events = (await h.api.get("/v1/events", params={"task_id": task["id"]})).json()["data"]
        await everything.wait_for(len(events))
        await done_only.wait_for(1)
        assert done_only.types() == ["task.completed"]
        assert sorted(everything.types()) == sorted(e["type"] for e in events)


async def test_replay_delivers_a_window_again(tmp_path: Path) -> None:
    async with running(tmp_path) as h, subscriber() as endpoint:
        sub = await h.subscribe(endpoint.url)
        since = h.clock.now()
        task = await complete_task(h)
        events = (await h.api.get("/v1/events", params={"task_id": task["id"]})).json()["data"]
        await endpoint.wait_for(len(events))
        first_ids = set(endpoint.ids())

        body = {"since": to_rfc3339(since - 1), "event_types": ["task.completed"]}
        replay = await h.api.post(f"/v1/subscriptions/{sub['id']}/replay", json=body)
        assert replay.status_code == 202 and replay.json() == {"enqueued": 1}
        await endpoint.wait_for(len(events) + 1)
        assert endpoint.types()[-1] == "task.completed" and endpoint.ids()[-1] in first_ids
        verify(sub["secret"], endpoint.received[-1])

        everything = await h.api.post(
            f"/v1/subscriptions/{sub['id']}/replay", json={"since": to_rfc3339(since - 1)}
        )
        assert everything.json() == {"enqueued": len(events)}
        await endpoint.wait_for(2 * len(events) + 1)


async def test_replaying_a_stored_callback_is_harmless(tmp_path: Path) -> None:
    async with running(tmp_path) as h, subscriber() as endpoint:
        await h.subscribe(endpoint.url)
        task = await h.create(prompt="a harbour", provider="revidapi")
        await h.wait_status(task["id"], "pending")
        h.clock.advance(10)
        done = await h.wait_status(task["id"], "completed")
        await endpoint.wait_for(2)
        (stored,) = (await h.api.get("/v1/callbacks", params={"task_id": task["id"]})).json()[
            "data"
        ]
        replayed = await h.api.post(f"/v1/callbacks/{stored['id']}/replay")
        assert replayed.status_code == 200
        assert replayed.json()["outcome"] == "duplicate"
        assert replayed.json()["task"] == await h.get(task["id"]) == done
        events = (await h.api.get("/v1/events", params={"task_id": task["id"]})).json()["data"]
        assert len(events) == 2
        h.clock.advance(5)
        assert len(endpoint.received) == 2


async def test_a_stuck_endpoint_does_not_delay_a_healthy_one(tmp_path: Path) -> None:
    env = {"RECEIVER_SUBSCRIPTION_CONCURRENCY": "2", "RECEIVER_DELIVERY_TIMEOUT": "60"}
    async with running(tmp_path, env=env) as h, subscriber() as stuck, subscriber() as healthy:
        stuck.hold = True  # accepts the connection, never answers (until released)
        await h.subscribe(stuck.url, event_types=["task.submitted"])
        await h.subscribe(healthy.url, event_types=["task.submitted"])
        for n in range(6):
            await h.create(prompt=f"harbour {n}", provider="apipod")
        await healthy.wait_for(6)
        assert len(stuck.received) == 2  # its two slots are taken; the rest wait their turn
        stuck.release.set()
        await stuck.wait_for(6)


@pytest.mark.parametrize(
    ("per_subscription", "fast_in_flight"),
    [
        ("auto", 16),  # 8 each; one answering fast may hold up to half the 32 slots
        ("8", 8),  # a number is a fixed cap: nobody borrows
    ],
)
async def test_a_fast_endpoint_borrows_idle_slots_a_slow_one_keeps_its_share(
    tmp_path: Path, per_subscription: str, fast_in_flight: int
) -> None:
    env = {
        "RECEIVER_DELIVERY_CONCURRENCY": "32",
        "RECEIVER_SUBSCRIPTION_CONCURRENCY": per_subscription,
        "RECEIVER_DELIVERY_TIMEOUT": "60",
    }
    async with (
        running(tmp_path, env=env) as h,
        subscriber() as fast,
        subscriber() as slow,
        subscriber() as witness,
    ):
        fast_sub = await h.subscribe(fast.url, event_types=["task.submitted"])
        slow_sub = await h.subscribe(slow.url, event_types=["task.submitted"])
        await h.subscribe(witness.url, event_types=["task.submitted"])
        # A first delivery each: the fast one answers at once, the slow one after 1 s.
        slow.hold = True
        await h.create(prompt="first", provider="apipod")
        await recorded(h, fast_sub["id"], 1)  # answered before the clock moves
        await slow.wait_for(1)
        h.clock.advance(1.0)
        slow.release.set()
        await recorded(h, slow_sub["id"], 1)
        # Now both hold every request; the witness answers at once.
        slow.release, fast.hold = asyncio.Event(), True
        for n in range(20):
            await h.create(prompt=f"harbour {n}", provider="apipod")
        await witness.wait_for(21)  # every delivery that could start has started
        # ...though over other connections, whose requests may still be on their way:
        # wait for each to arrive, then no more than that may have come.
        await fast.wait_for(1 + fast_in_flight)
        await slow.wait_for(1 + 8)
        assert len(fast.received) == 1 + fast_in_flight
        assert len(slow.received) == 1 + 8
        fast.release.set()
        slow.release.set()
        await fast.wait_for(21)
        await slow.wait_for(21)


async def test_during_a_rotation_both_secrets_verify_then_only_the_new_one(tmp_path: Path) -> None:
    async with running(tmp_path, env=FAST) as h, subscriber() as endpoint:
        sub = await h.subscribe(endpoint.url, event_types=["task.submitted"])
        rotated = (await h.api.post(f"/v1/subscriptions/{sub['id']}/rotate-secret")).json()
        assert rotated["secret"] != sub["secret"]
        await h.create(prompt="a harbour", provider="apipod")
        (received,) = await endpoint.wait_for(1)
        assert len(received.headers["webhook-signature"].split(" ")) == 2
        verify(sub["secret"], received)  # a consumer still on the old secret
        verify(rotated["secret"], received)  # and one already on the new one

        h.clock.advance(24 * 3600 + 1)  # the overlap is over
        await h.create(prompt="another", provider="apipod")
        later = (await endpoint.wait_for(2))[1]
        # The verifier checks timestamps against the real clock, so sign the
        # expected values ourselves with its own `sign`.
        header = later.headers["webhook-signature"]
        assert len(header.split(" ")) == 1
        msg_id, stamp = later.headers["webhook-id"], int(later.headers["webhook-timestamp"])
        at = datetime.fromtimestamp(stamp, tz=UTC)
        body = later.body.decode()
        assert header == Webhook(rotated["secret"]).sign(msg_id, at, body)
        assert header != Webhook(sub["secret"]).sign(msg_id, at, body)


async def test_a_subscription_failing_for_too_long_is_disabled(tmp_path: Path) -> None:
    env = {"RECEIVER_RETRY_SCHEDULE": "5,5,5,5,5", "RECEIVER_DISABLE_AFTER_DAYS": "0.0001"}
    async with running(tmp_path, env=env) as h, subscriber() as endpoint:
        sub = await h.subscribe(endpoint.url, event_types=["task.submitted"])
        endpoint.default = 500
        await h.create(prompt="a harbour", provider="apipod")
        for expected in (1, 2):
            await recorded(h, sub["id"], expected)
            h.clock.advance(6)
        shown = await eventually(
            lambda: _json(h, f"/v1/subscriptions/{sub['id']}"),
            lambda s: s["enabled"] is False,
            what="the subscription to be disabled",
        )
        assert "failed since" in shown["disabled_reason"]


async def _json(h: Harness, path: str) -> dict[str, Any]:
    response = await h.api.get(path)
    assert response.status_code == 200, response.text
    value: dict[str, Any] = response.json()
    return value


async def test_redirects_are_not_followed(tmp_path: Path) -> None:
    async with (
        running(tmp_path, env=FAST) as h,
        subscriber() as endpoint,
        subscriber() as elsewhere,
    ):
        sub = await h.subscribe(endpoint.url, event_types=["task.submitted"])
        endpoint.script = [(307, {"location": elsewhere.url})]
        await h.create(prompt="a harbour", provider="apipod")
        await recorded(h, sub["id"], 1)
        (delivery,) = await h.deliveries(subscription_id=sub["id"])
        assert delivery["status"] == "pending" and delivery["last_status_code"] == 307
        assert elsewhere.received == []
        h.clock.advance(2)
        await endpoint.wait_for(2)  # retried at the registered URL, not the redirect
        assert elsewhere.received == []


async def test_a_name_that_later_resolves_privately_is_refused_at_delivery(tmp_path: Path) -> None:
    answers = {"hooks.customer.test": ["93.184.215.14"]}

    async def resolve(host: str, port: int) -> list[str]:
        return answers[host]

    async with running(tmp_path, env={"RECEIVER_ALLOW_PRIVATE_URLS": "false", **FAST}) as h:
        h.runtime.resolver = resolve
        sub = await h.subscribe("http://hooks.customer.test/in", event_types=["task.submitted"])
        answers["hooks.customer.test"] = ["127.0.0.1"]  # DNS now points inside
        await h.create(prompt="a harbour", provider="apipod")
        await recorded(h, sub["id"], 1)
        (delivery,) = await h.deliveries(subscription_id=sub["id"])
        detail = (await h.api.get(f"/v1/deliveries/{delivery['id']}")).json()
        (attempt,) = detail["attempts"]
        assert attempt["status_code"] is None
        assert "127.0.0.1" in attempt["error"] and "RECEIVER_ALLOW_PRIVATE_URLS" in attempt["error"]
