"""Create, then watch each provider's task go pending -> processing -> completed on the clock."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson
import pytest

from receiver.clock import ManualClock
from receiver.sandbox import Sandbox, SandboxConfig, create_sandbox_app

from .conftest import AUTH, BODIES, START, create, create_task, status

CREATED_ISO_MS = "2027-01-15T08:00:00.000Z"


def file_url(provider: str, task_id: str) -> str:
    return f"http://sandbox/{provider}/files/{task_id}.webp"


async def test_apimall_create_and_progress(client: httpx.AsyncClient, clock: ManualClock) -> None:
    response = await create(client, "apimall")
    assert response.status_code == 200
    answer = response.json()
    task_id = answer["data"]["task_id"]
    assert re.fullmatch(r"img_[0-9A-HJKMNP-TV-Z]{26}", task_id)
    assert re.fullmatch(r"provider_req_[0-9A-Z]{26}", answer["data"]["request_id"])
    assert re.fullmatch(r"req_[0-9A-Z]{26}", answer["request_id"])
    assert answer == {
        "success": True,
        "data": {
            "task_id": task_id,
            "request_id": answer["data"]["request_id"],
            "credits_used": 8,
            "remaining_credits": 100_000 - 8,
            "model": "seedream-4-5",
        },
        "request_id": answer["request_id"],
    }

    def expected(status_: str, updated: str, **extra: Any) -> dict[str, Any]:
        return {
            "task_id": task_id,
            "model": "seedream-4-5",
            "status": status_,
            "output": {"resultUrls": []},
            "primary_url": None,
            "image_url": None,
            "error_message": None,
            "credits_used": 8,
            "credits_refunded": 0,
            "created_at": CREATED_ISO_MS,
            "updated_at": updated,
            "completed_at": None,
            **extra,
        }

    body = (await status(client, "apimall", task_id)).json()
    assert body["success"] is True
    assert re.fullmatch(r"req_[0-9A-Z]{26}", body["request_id"])
    assert body["data"] == expected("pending", CREATED_ISO_MS)
    clock.advance(0.999)
    assert (await status(client, "apimall", task_id)).json()["data"]["status"] == "pending"
    clock.advance(0.001)
    body = (await status(client, "apimall", task_id)).json()
    assert body["data"] == expected("processing", "2027-01-15T08:00:01.000Z")
    clock.advance(2)
    body = (await status(client, "apimall", task_id)).json()
    url = file_url("apimall", task_id)
    assert body["data"] == expected(
        "completed",
        "2027-01-15T08:00:03.000Z",
        output={"resultUrls": [url]},
        primary_url=url,
        image_url=url,
        completed_at="2027-01-15T08:00:03.000Z",
    )


async def test_apimall_4k_costs_more(client: httpx.AsyncClient) -> None:
    first = (
        await create(client, "apimall", {**BODIES["apimall"], "image_resolution": "4K"})
    ).json()
    second = (await create(client, "apimall")).json()
    assert first["data"]["credits_used"] == 16
    assert second["data"]["remaining_credits"] == 100_000 - 16 - 8


async def test_apipod_create_and_progress(client: httpx.AsyncClient, clock: ManualClock) -> None:
    response = await create(client, "apipod")
    assert response.status_code == 200
    task_id = response.json()["data"]["task_id"]
    assert re.fullmatch(r"task_[a-z0-9]{20}", task_id)
    assert response.json() == {"code": 0, "message": "success", "data": {"task_id": task_id}}

    def expected(status_: str, **extra: Any) -> dict[str, Any]:
        data = {
            "task_id": task_id,
            "status": status_,
            "completed_at": None,
            "result": [],
            "error_message": None,
            **extra,
        }
        return {"code": 0, "message": "success", "data": data}

    assert (await status(client, "apipod", task_id)).json() == expected("pending")
    clock.advance(1)
    assert (await status(client, "apipod", task_id)).json() == expected("processing")
    clock.advance(2.5)
    assert (await status(client, "apipod", task_id)).json() == expected(
        "completed", completed_at=int(START) + 3, result=[file_url("apipod", task_id)]
    )


async def test_dreamcore_create_and_progress(client: httpx.AsyncClient, clock: ManualClock) -> None:
    response = await create(client, "dreamcore")
    assert response.status_code == 200
    task_id = response.json()["data"]["task_id"]
    assert re.fullmatch(r"sd45_[0-9a-f]{16}", task_id)
    assert response.json() == {"code": 200, "message": "success", "data": {"task_id": task_id}}

    def expected(status_: str, response_: list[str]) -> dict[str, Any]:
        data = {
            "task_id": task_id,
            "status": status_,
            "request": BODIES["dreamcore"],
            "response": response_,
            "consumed_credits": 18,
            "error_message": None,
            "created_at": "2027-01-15T08:00:00Z",
        }
        return {"code": 200, "message": "success", "data": data}

    assert (await status(client, "dreamcore", task_id)).json() == expected("IN_PROGRESS", [])
    clock.advance(1.5)
    assert (await status(client, "dreamcore", task_id)).json() == expected("IN_PROGRESS", [])
    clock.advance(1.5)
    done = expected("SUCCESS", [file_url("dreamcore", task_id)])
    assert (await status(client, "dreamcore", task_id)).json() == done
    # The document allows POST too, with the id in the query.
    posted = await client.post(
        "/dreamcore/status", params={"task_id": task_id}, headers=AUTH["dreamcore"]
    )
    assert posted.json() == done


@pytest.mark.parametrize(
    ("quality", "image_urls", "credits"),
    [("basic", None, 12), ("high", None, 18), ("basic", ["http://r"], 18), ("high", ["u"], 24)],
)
async def test_dreamcore_credits_follow_the_documented_table(
    client: httpx.AsyncClient, quality: str, image_urls: list[str] | None, credits: int
) -> None:
    body: dict[str, Any] = {**BODIES["dreamcore"], "quality": quality}
    if image_urls:
        body["imageUrls"] = image_urls
    task_id = await create_task(client, "dreamcore", **body)
    data = (await status(client, "dreamcore", task_id)).json()["data"]
    assert data["consumed_credits"] == credits
    assert data["request"].get("imageUrls") == image_urls


async def test_revidapi_create_and_progress(client: httpx.AsyncClient, clock: ManualClock) -> None:
    response = await create(client, "revidapi")
    assert response.status_code == 200
    task_id = response.json()["data"]["taskId"]
    assert re.fullmatch(r"[0-9a-f]{32}", task_id)
    assert response.json() == {"code": 200, "msg": "success", "data": {"taskId": task_id}}

    def expected(state: str, **extra: Any) -> dict[str, Any]:
        data = {
            "taskId": task_id,
            "model": "seedream/4.5-text-to-image",
            "state": state,
            "param": orjson.dumps(BODIES["revidapi"]).decode(),
            "resultJson": None,
            "failCode": None,
            "failMsg": None,
            "costTime": None,
            "completeTime": None,
            "createTime": int(START * 1000),
            **extra,
        }
        return {"code": 200, "msg": "success", "data": data}

    assert (await status(client, "revidapi", task_id)).json() == expected("waiting")
    clock.advance(2)
    assert (await status(client, "revidapi", task_id)).json() == expected("waiting")
    clock.advance(1)
    body = (await status(client, "revidapi", task_id)).json()
    assert body == expected(
        "success",
        resultJson=orjson.dumps({"resultUrls": [file_url("revidapi", task_id)]}).decode(),
        costTime=3000,
        completeTime=int(START * 1000) + 3000,
    )
    # param and resultJson are JSON inside JSON.
    assert orjson.loads(body["data"]["param"]) == BODIES["revidapi"]
    assert orjson.loads(body["data"]["resultJson"])["resultUrls"] == [file_url("revidapi", task_id)]


async def test_revidapi_param_holds_the_whole_create_request(client: httpx.AsyncClient) -> None:
    body = {**BODIES["revidapi"], "callBackUrl": "http://127.0.0.1:1/cb"}
    task_id = await create_task(client, "revidapi", **body)
    data = (await status(client, "revidapi", task_id)).json()["data"]
    assert orjson.loads(data["param"]) == body


@pytest.mark.parametrize("provider", ["apimall", "apipod", "dreamcore", "revidapi"])
async def test_result_files_are_served_once_completed(
    client: httpx.AsyncClient, clock: ManualClock, provider: str
) -> None:
    task_id = await create_task(client, provider)
    url = f"/{provider}/files/{task_id}.webp"
    assert (await client.get(url)).status_code == 404
    clock.advance(3)
    image = await client.get(url)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/webp"
    assert image.content[:4] == b"RIFF" and image.content[8:12] == b"WEBP"
    assert (await client.get(f"/{provider}/files/nope.webp")).status_code == 404


async def test_result_urls_expire_after_the_configured_ttl(clock: ManualClock) -> None:
    box = create_sandbox_app(clock, config=SandboxConfig(result_ttl_seconds=60))
    transport = httpx.ASGITransport(app=box.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
        task_id = await create_task(c, "apipod")
        clock.advance(3 + 60)
        assert (await c.get(f"/apipod/files/{task_id}.webp")).status_code == 200
        clock.advance(0.001)
        assert (await c.get(f"/apipod/files/{task_id}.webp")).status_code == 404


async def test_public_base_url_overrides_the_request_host(clock: ManualClock) -> None:
    config = SandboxConfig(public_base_url="http://127.0.0.1:9100/", seed=1)
    box = create_sandbox_app(clock, config=config)
    transport = httpx.ASGITransport(app=box.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
        task_id = await create_task(c, "apipod")
    assert box.tasks("apipod")[0].result_url == (
        f"http://127.0.0.1:9100/apipod/files/{task_id}.webp"
    )


async def test_jitter_spreads_completion_times(clock: ManualClock) -> None:
    config = SandboxConfig(pending_seconds=1, processing_seconds=20, processing_jitter_seconds=20)
    box = create_sandbox_app(clock, config=config)
    transport = httpx.ASGITransport(app=box.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
        for _ in range(20):
            await create_task(c, "apipod")
    durations = [t.final_at - t.created_at for t in box.tasks("apipod")]
    assert all(21 <= d <= 41 for d in durations)
    assert len(set(durations)) == 20


async def test_tasks_are_listed_with_their_state(
    client: httpx.AsyncClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    first = await create_task(client, "dreamcore")
    clock.advance(3)
    second = await create_task(client, "dreamcore")
    listing = (await client.get("/_sim/tasks/dreamcore")).json()
    assert listing["provider"] == "dreamcore"
    assert listing["now"] == START + 3
    assert [(t["task_id"], t["phase"], t["state"]) for t in listing["tasks"]] == [
        (first, "completed", "SUCCESS"),
        (second, "pending", "IN_PROGRESS"),
    ]
    assert listing["tasks"] == sandbox.task_states("dreamcore")
    assert [t.task_id for t in sandbox.tasks("dreamcore")] == [first, second]
    assert (await client.get("/_sim/tasks/nowhere")).status_code == 404
