"""Bad input to the subscriber-side API: a clear problem+json answer, nothing changed, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import Harness, running

HOOK = "https://hooks.example.com/in"
NO_SUB = "sub_00000000000000000000000000"
NO_EVENT = "evt_00000000000000000000000000"
SINCE = "2020-01-01T00:00:00Z"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert problem["type"].startswith("/problems/")
    return problem


def assert_invalid(response: httpx.Response, fields: set[str]) -> list[dict[str, str]]:
    problem = assert_problem(response, 422)
    assert problem["type"] == "/problems/validation"
    assert {e["field"] for e in problem["errors"]} == fields
    assert all(e["message"] for e in problem["errors"])
    errors: list[dict[str, str]] = problem["errors"]
    return errors


async def subscriptions(h: Harness) -> list[dict[str, Any]]:
    response = await h.api.get("/v1/subscriptions")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def with_history(h: Harness) -> tuple[dict[str, Any], str]:
    """A subscription made after a task's first event: it is owed nothing yet."""
    task = await h.create(prompt="a lighthouse", provider="apipod")
    await h.wait_status(task["id"], "pending")
    events = (await h.api.get("/v1/events", params={"task_id": task["id"]})).json()["data"]
    assert [e["type"] for e in events] == ["task.submitted"]
    return await h.subscribe(HOOK, description="mine"), events[0]["id"]


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(tmp_path) as harness:
        yield harness


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"url"}),
        ({"description": "no url"}, {"url"}),
        ({"url": "ftp://hooks.example.com/in"}, {"url"}),
        ({"url": "file:///etc/passwd"}, {"url"}),
        ({"url": "hooks.example.com/in"}, {"url"}),
        ({"url": "https://hooks.example.com:99999/in"}, {"url"}),
        ({"url": 42}, {"url"}),
        ({"url": "http://exa mple.com/in"}, {"url"}),
        ({"url": "https://hooks.example.com/a b"}, {"url"}),
        ({"url": ["https://hooks.example.com/in"]}, {"url"}),
        ({"url": HOOK, "event_types": []}, {"event_types"}),
        ({"url": HOOK, "event_types": ["task.exploded"]}, {"event_types"}),
        ({"url": HOOK, "event_types": ["task.completed", 7]}, {"event_types"}),
        ({"url": HOOK, "event_types": "task.completed"}, {"event_types"}),
        ({"url": HOOK, "event_types": {"task.completed": True}}, {"event_types"}),
        ({"url": HOOK, "description": "x" * 1001}, {"description"}),
        ({"url": HOOK, "description": 5}, {"description"}),
        ({"url": HOOK, "colour": "red"}, {"colour"}),
        (
            {"url": "ftp://x/y", "event_types": [], "secret": "whsec_x"},
            {"url", "event_types", "secret"},
        ),
        ([HOOK], {""}),
        (HOOK, {""}),
        (7, {""}),
    ],
)
async def test_bad_subscriptions_are_422_and_create_nothing(
    h: Harness, body: Any, fields: set[str]
) -> None:
    assert_invalid(await h.api.post("/v1/subscriptions", json=body), fields)
    assert await subscriptions(h) == []


async def test_malformed_json_is_400_and_creates_nothing(h: Harness) -> None:
    for content in (b"{nope", b"", b"   ", b"\xff\xfe", b'{"url": "https://a/b"'):
        problem = assert_problem(await h.api.post("/v1/subscriptions", content=content), 400)
        assert problem["type"] == "/problems/malformed-json"
    assert await subscriptions(h) == []


async def test_private_destinations_are_refused_unless_allowed(tmp_path: Path) -> None:
    async with running(tmp_path, env={"RECEIVER_ALLOW_PRIVATE_URLS": "false"}) as h:
        for url in (
            "http://127.0.0.1:9/x",
            "http://localhost/x",
            "http://10.0.0.1/x",
            "http://169.254.169.254/",
            "http://[::1]/x",
        ):
            response = await h.api.post("/v1/subscriptions", json={"url": url})
            (error,) = assert_invalid(response, {"url"})
            assert "RECEIVER_ALLOW_PRIVATE_URLS" in error["message"], url
        assert await subscriptions(h) == []


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {""}),
        ({"enabled": "no"}, {"enabled"}),
        ({"enabled": 0}, {"enabled"}),
        ({"enabled": None}, {"enabled"}),
        ({"url": "ftp://hooks.example.com/in"}, {"url"}),
        ({"url": None}, {"url"}),
        ({"url": 7}, {"url"}),
        ({"event_types": []}, {"event_types"}),
        ({"event_types": ["task.exploded"]}, {"event_types"}),
        ({"description": 7}, {"description"}),
        ({"colour": "red"}, {"colour"}),
        ({"description": "ok", "secret": "whsec_x"}, {"secret"}),
        ({"url": "https://other.example.com/in", "enabled": "yes"}, {"enabled"}),
        ([1], {""}),
    ],
)
async def test_bad_changes_are_422_and_change_nothing(
    h: Harness, body: Any, fields: set[str]
) -> None:
    created = await h.subscribe(HOOK, event_types=["task.completed"], description="mine")
    before = (await h.api.get(f"/v1/subscriptions/{created['id']}")).json()
    assert_invalid(await h.api.patch(f"/v1/subscriptions/{created['id']}", json=body), fields)
    assert (await h.api.get(f"/v1/subscriptions/{created['id']}")).json() == before


async def test_unknown_subscriptions_are_404_and_nothing_else_changes(h: Harness) -> None:
    created = await h.subscribe(HOOK)
    before = await subscriptions(h)
    for path in (NO_SUB, "nope", "SUB_00000000000000000000000000"):
        url = f"/v1/subscriptions/{path}"
        assert_problem(await h.api.get(url), 404)
        assert_problem(await h.api.patch(url, json={"enabled": False}), 404)
        assert_problem(await h.api.delete(url), 404)
        assert_problem(await h.api.post(f"{url}/rotate-secret"), 404)
        assert_problem(await h.api.post(f"{url}/replay", json={"since": SINCE}), 404)
    assert_problem(await h.api.patch(f"/v1/subscriptions/{created['id']}", content=b"{"), 400)
    assert await subscriptions(h) == before


async def test_rotate_secret_refuses_unknown_fields(h: Harness) -> None:
    # README: "Unknown body fields ... are refused (422) rather than ignored".
    created = await h.subscribe(HOOK)
    path = f"/v1/subscriptions/{created['id']}/rotate-secret"
    assert_invalid(await h.api.post(path, json=[1]), {""})
    assert_invalid(await h.api.post(path, json={"overlap_hours": 1}), {"overlap_hours"})
    after = (await h.api.get(f"/v1/subscriptions/{created['id']}")).json()
    assert after["updated_at"] == created["updated_at"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"since"}),
        ({"until": "2030-01-01T00:00:00Z"}, {"since"}),
        ({"since": None}, {"since"}),
        ({"since": 1700000000}, {"since"}),
        ({"since": "yesterday"}, {"since"}),
        ({"since": "2026-13-01T00:00:00Z"}, {"since"}),
        ({"since": "2026-01-01T00:00:00"}, {"since"}),
        ({"since": "2026-01-01"}, {"since"}),
        ({"since": "20200101T000000Z"}, {"since"}),
        ({"since": "2020-W01-1T00:00Z"}, {"since"}),
        ({"since": SINCE, "until": "2026-01-01T00:00:00"}, {"until"}),
        ({"since": SINCE, "until": 5}, {"until"}),
        ({"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, {"until"}),
        ({"since": SINCE, "until": SINCE}, {"until"}),
        ({"since": SINCE, "event_types": []}, {"event_types"}),
        ({"since": SINCE, "event_types": ["task.exploded"]}, {"event_types"}),
        ({"since": SINCE, "event_types": "task.completed"}, {"event_types"}),
        ({"since": SINCE, "colour": "red"}, {"colour"}),
        ([SINCE], {""}),
    ],
)
async def test_bad_replays_are_422_and_enqueue_nothing(
    h: Harness, body: Any, fields: set[str]
) -> None:
    sub, _ = await with_history(h)
    assert_invalid(await h.api.post(f"/v1/subscriptions/{sub['id']}/replay", json=body), fields)
    assert await h.deliveries(subscription_id=sub["id"]) == []


async def test_replay_and_redeliver_to_a_disabled_subscription_are_409(h: Harness) -> None:
    sub, event_id = await with_history(h)
    path = f"/v1/subscriptions/{sub['id']}"
    assert (await h.api.patch(path, json={"enabled": False})).status_code == 200
    problem = assert_problem(await h.api.post(f"{path}/replay", json={"since": SINCE}), 409)
    assert sub["id"] in problem["detail"]
    redeliver = f"/v1/events/{event_id}/redeliver"
    assert_problem(await h.api.post(redeliver, json={"subscription_id": sub["id"]}), 409)
    assert_problem(await h.api.post(f"{path}/replay", content=b"{nope"), 400)
    assert await h.deliveries() == []


async def test_bad_redeliveries_are_refused_and_enqueue_nothing(h: Harness) -> None:
    _, event_id = await with_history(h)
    path = f"/v1/events/{event_id}/redeliver"
    for body, fields in (
        ({"subscription_id": 5}, {"subscription_id"}),
        ({"subscription_id": ["sub"]}, {"subscription_id"}),
        ({"subscription_id": "nope"}, {"subscription_id"}),
        ({"subscription": NO_SUB}, {"subscription"}),
        ([NO_SUB], {""}),
    ):
        assert_invalid(await h.api.post(path, json=body), fields)
    problem = assert_problem(await h.api.post(path, json={"subscription_id": NO_SUB}), 404)
    assert NO_SUB in problem["detail"]
    assert_problem(await h.api.post(path, content=b"{nope"), 400)
    assert_problem(await h.api.post(f"/v1/events/{NO_EVENT}/redeliver", json={}), 404)
    assert_problem(await h.api.post("/v1/events/nope/redeliver"), 404)
    assert await h.deliveries() == []


@pytest.mark.parametrize(
    ("path", "params", "fields"),
    [
        ("/v1/events", {"type": "task.exploded"}, {"type"}),
        ("/v1/events", {"task_id": "nope"}, {"task_id"}),
        ("/v1/events", {"limit": "0"}, {"limit"}),
        ("/v1/events", {"limit": "201"}, {"limit"}),
        ("/v1/events", {"limit": "-1"}, {"limit"}),
        ("/v1/events", {"limit": "²"}, {"limit"}),
        ("/v1/events", {"after": "zzz"}, {"after"}),
        # `$` in the id pattern used to let a trailing newline through.
        ("/v1/events", {"after": NO_EVENT + "\n"}, {"after"}),
        ("/v1/events", {"task_id": "task_" + "0" * 26 + "\n"}, {"task_id"}),
        ("/v1/events", {"sort": "asc"}, {"sort"}),
        ("/v1/deliveries", {"status": "done"}, {"status"}),
        ("/v1/deliveries", {"subscription_id": "nope"}, {"subscription_id"}),
        ("/v1/deliveries", {"event_id": "nope"}, {"event_id"}),
        ("/v1/deliveries", {"colour": "red"}, {"colour"}),
        ("/v1/deliveries", {"limit": "x"}, {"limit"}),
        ("/v1/callbacks", {"provider": "nope"}, {"provider"}),
        ("/v1/callbacks", {"task_id": "nope"}, {"task_id"}),
        ("/v1/callbacks", {"verdict": "applied"}, {"verdict"}),
        ("/v1/subscriptions", {"colour": "red"}, {"colour"}),
        ("/v1/subscriptions", {"limit": "0"}, {"limit"}),
        ("/v1/callbacks", {"provider": "x", "limit": "0"}, {"provider", "limit"}),
    ],
)
async def test_bad_list_queries_are_422(
    h: Harness, path: str, params: dict[str, str], fields: set[str]
) -> None:
    assert_invalid(await h.api.get(path, params=params), fields)


async def test_unknown_events_deliveries_and_callbacks_are_404(h: Harness) -> None:
    for path in (
        f"/v1/events/{NO_EVENT}",
        "/v1/events/nope",
        "/v1/deliveries/dlv_00000000000000000000000000",
        "/v1/deliveries/nope",
    ):
        assert_problem(await h.api.get(path), 404)
    for path in ("/v1/callbacks/cbk_00000000000000000000000000/replay", "/v1/callbacks/x/replay"):
        assert_problem(await h.api.post(path), 404)


async def test_every_endpoint_needs_the_bearer_token(h: Harness) -> None:
    sub, event_id = await with_history(h)
    before = await subscriptions(h)
    s = f"/v1/subscriptions/{sub['id']}"
    calls: list[tuple[str, str, Any]] = [
        ("POST", "/v1/subscriptions", {"url": HOOK}),
        ("GET", "/v1/subscriptions", None),
        ("GET", s, None),
        ("PATCH", s, {"enabled": False}),
        ("DELETE", s, None),
        ("POST", f"{s}/rotate-secret", None),
        ("POST", f"{s}/replay", {"since": SINCE}),
        ("GET", "/v1/events", None),
        ("GET", f"/v1/events/{event_id}", None),
        ("POST", f"/v1/events/{event_id}/redeliver", {}),
        ("GET", "/v1/deliveries", None),
        ("GET", "/v1/deliveries/dlv_00000000000000000000000000", None),
        ("GET", "/v1/callbacks", None),
        ("POST", "/v1/callbacks/cbk_00000000000000000000000000/replay", None),
    ]
    async with httpx.AsyncClient(base_url=h.url) as anon:
        for headers in ({}, {"authorization": f"Bearer {'x' * 14}"}, {"authorization": "Basic x"}):
            for method, path, body in calls:
                response = await anon.request(method, path, json=body, headers=headers)
                assert_problem(response, 401)
                assert response.headers["www-authenticate"].startswith("Bearer"), path
    assert await subscriptions(h) == before
    assert await h.deliveries() == []
