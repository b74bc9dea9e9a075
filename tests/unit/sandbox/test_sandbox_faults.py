"""Injected faults, from Python and over the /_sim control API."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from receiver.clock import ManualClock
from receiver.sandbox import CreateErrorFault, Sandbox

from .conftest import PROVIDERS, create, create_task, eventually, status, task_id_of


def error_of(provider: str, body: dict[str, Any]) -> tuple[Any, str]:
    """(code, message) from any provider's error shape."""
    if provider == "apimall":
        assert body["success"] is False
        return body["error"]["code"], body["error"]["message"]
    if provider == "apipod":
        return body["error"]["code"], body["error"]["message"]
    if provider == "dreamcore":
        return body["code"], body["message"]
    return body["code"], body["msg"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_fail_tasks_ends_the_next_tasks_failed(
    client: httpx.AsyncClient, sandbox: Sandbox, clock: ManualClock, provider: str
) -> None:
    sandbox.faults[provider].fail_tasks = 1
    failing = await create_task(client, provider)
    healthy = await create_task(client, provider)
    assert sandbox.faults[provider].fail_tasks == 0
    clock.advance(2)
    before = (await status(client, provider, failing)).json()["data"]
    clock.advance(1)
    data = (await status(client, provider, failing)).json()["data"]
    ok = (await status(client, provider, healthy)).json()["data"]
    if provider == "apimall":
        assert before["status"] == "processing"
        assert data["status"] == "failed" and ok["status"] == "completed"
        assert data["error_message"] and data["output"] == {"resultUrls": []}
        assert data["primary_url"] is None
        assert data["credits_refunded"] == data["credits_used"] == 8
        assert data["completed_at"] == "2027-01-15T08:00:03.000Z"
    elif provider == "apipod":
        assert data["status"] == "failed" and ok["status"] == "completed"
        assert data["error_message"] and data["result"] == []
        assert data["completed_at"] == 1_800_000_003
    elif provider == "dreamcore":
        assert before["status"] == "IN_PROGRESS"
        assert data["status"] == "FAILED" and ok["status"] == "SUCCESS"
        assert data["error_message"] and data["response"] == []
        assert data["consumed_credits"] == 0 and ok["consumed_credits"] == 18
    else:
        assert before["state"] == "waiting"
        assert data["state"] == "fail" and ok["state"] == "success"
        assert data["failCode"] == "500" and data["failMsg"]
        assert data["resultJson"] is None
    assert (await client.get(f"/{provider}/files/{failing}.webp")).status_code == 404


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_poll_429_answers_rate_limited_with_retry_after(
    client: httpx.AsyncClient, sandbox: Sandbox, provider: str
) -> None:
    task_id = await create_task(client, provider)
    sandbox.faults[provider].poll_429 = 2
    sandbox.faults[provider].retry_after = 7
    for _ in range(2):
        limited = await status(client, provider, task_id)
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "7"
        code, message = error_of(provider, limited.json())
        assert code == {"apimall": "rate_limit_exceeded", "apipod": "rate_limit_exceeded"}.get(
            provider, 429
        )
        assert message
    assert (await status(client, provider, task_id)).status_code == 200
    stats = sandbox.stats[provider]
    assert (stats.rate_limited, stats.status_queries) == (2, 3)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_create_5xx_creates_nothing(
    client: httpx.AsyncClient, sandbox: Sandbox, provider: str
) -> None:
    sandbox.faults[provider].create_5xx = 1
    response = await create(client, provider)
    assert response.status_code == (503 if provider == "apimall" else 500)
    code, _ = error_of(provider, response.json())
    if provider in ("dreamcore", "revidapi"):
        assert code == 500
    assert sandbox.tasks(provider) == []
    assert (await create(client, provider)).status_code == 200
    assert len(sandbox.tasks(provider)) == 1
    assert sandbox.stats[provider].create_faults == 1


@pytest.mark.parametrize(
    ("provider", "status_", "code"),
    [
        ("apimall", 402, "insufficient_credits"),
        ("apimall", 451, "content_moderation_blocked"),
        ("apimall", 403, "access_denied"),
        ("apipod", 403, "insufficient_balance"),
        ("dreamcore", 402, 402),
        ("revidapi", 402, 402),
    ],
)
async def test_create_error_answers_a_permanent_error(
    client: httpx.AsyncClient, sandbox: Sandbox, provider: str, status_: int, code: Any
) -> None:
    sandbox.faults[provider].create_error = CreateErrorFault(status=status_, n=2)
    for _ in range(2):
        response = await create(client, provider)
        assert response.status_code == status_
        assert error_of(provider, response.json())[0] == code
    assert sandbox.faults[provider].create_error is None
    assert sandbox.tasks(provider) == []
    assert (await create(client, provider)).status_code == 200


async def test_create_error_can_carry_a_message(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.faults["revidapi"].create_error = CreateErrorFault(451, message="blocked prompt")
    response = await create(client, "revidapi")
    assert response.json() == {"code": 451, "msg": "blocked prompt"}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_create_hang_creates_the_task_but_holds_the_answer(
    client: httpx.AsyncClient, sandbox: Sandbox, provider: str
) -> None:
    sandbox.faults[provider].create_hang = 1
    request = asyncio.create_task(create(client, provider))
    await eventually(lambda: sandbox.hangs.waiting == 1)
    assert not request.done()
    assert len(sandbox.tasks(provider)) == 1
    assert sandbox.stats[provider].create_hangs == 1
    assert sandbox.release_hangs() == 1
    response = await request
    assert response.status_code == 200
    assert task_id_of(provider, response.json()) == sandbox.tasks(provider)[0].task_id


async def test_a_client_that_gives_up_on_a_hung_create_leaves_the_task(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.faults["apipod"].create_hang = 1
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await create(client, "apipod")
    assert len(sandbox.tasks("apipod")) == 1
    assert sandbox.hangs.waiting == 0
    assert (await create(client, "apipod")).status_code == 200


async def test_faults_over_http(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    changes = {"poll_429": 2, "retry_after": 3, "create_error": {"status": 402, "n": 1}}
    response = await client.post("/_sim/faults/apipod", json=changes)
    assert response.status_code == 200
    assert response.json()["poll_429"] == 2
    assert response.json()["create_error"] == {"status": 402, "n": 1, "message": None}
    faults = sandbox.faults["apipod"]
    assert (faults.poll_429, faults.retry_after) == (2, 3)
    assert faults.create_error == CreateErrorFault(402, 1)
    assert (await client.get("/_sim/faults/apipod")).json() == response.json()
    cleared = await client.post("/_sim/faults/apipod", json={"create_error": None})
    assert cleared.json()["create_error"] is None


@pytest.mark.parametrize(
    ("provider", "changes"),
    [
        ("apipod", {"poll_492": 1}),
        ("apipod", {"poll_429": -1}),
        ("apipod", {"poll_429": "2"}),
        ("apipod", {"poll_429": True}),
        ("apipod", {"create_error": {"status": 200}}),
        ("apipod", {"create_error": 402}),
        ("apipod", {"create_error": {"status": 402, "count": 1}}),
        ("apimall", {"early_callbacks": 1}),
        ("dreamcore", {"fail_tasks": 1, "drop_callbacks": 1}),
        ("apipod", [1]),
    ],
)
async def test_bad_faults_are_refused_and_change_nothing(
    client: httpx.AsyncClient, sandbox: Sandbox, provider: str, changes: Any
) -> None:
    response = await client.post(f"/_sim/faults/{provider}", json=changes)
    assert response.status_code == 400
    assert response.json()["error"]
    assert sandbox.faults[provider].as_json() == type(sandbox.faults[provider])().as_json()


async def test_faults_for_an_unknown_provider_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.post("/_sim/faults/nobody", json={})).status_code == 404
    assert (await client.get("/_sim/faults/nobody")).status_code == 404


async def test_stats_count_what_was_served(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    task_id = await create_task(client, "dreamcore")
    await create(client, "dreamcore", {"prompt": "no ratio"})
    await create(client, "dreamcore", headers={})
    sandbox.faults["dreamcore"].poll_429 = 1
    await status(client, "dreamcore", task_id)
    await status(client, "dreamcore", task_id)
    await status(client, "dreamcore", "missing")
    stats = (await client.get("/_sim/stats")).json()
    assert set(stats) == set(PROVIDERS)
    dream = stats["dreamcore"]
    assert dream["create_requests"] == 2
    assert dream["creates"] == 1
    assert dream["rejected"] == 1
    assert dream["unauthorized"] == 1
    assert dream["status_queries"] == 3
    assert dream["rate_limited"] == 1
    assert dream["not_found"] == 1
    assert dream["callbacks_sent"] == 0
    assert stats["apimall"]["create_requests"] == 0


async def test_reset_clears_tasks_faults_and_stats_in_place(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    faults, stats = sandbox.faults["apipod"], sandbox.stats["apipod"]
    await create_task(client, "apipod")
    faults.fail_tasks = 3
    assert (await client.post("/_sim/reset")).status_code == 200
    assert sandbox.tasks("apipod") == []
    assert faults.fail_tasks == 0 and stats.creates == 0
    # The handles a test holds stay live after a reset.
    faults.create_5xx = 1
    assert (await create(client, "apipod")).status_code == 500
    assert stats.create_faults == 1


async def test_release_hangs_over_http(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.faults["dreamcore"].create_hang = 1
    request = asyncio.create_task(create(client, "dreamcore"))
    await eventually(lambda: sandbox.hangs.waiting == 1)
    assert (await client.post("/_sim/release-hangs")).json() == {"released": 1}
    assert (await request).status_code == 200
