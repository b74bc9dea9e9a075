"""Bad input is refused as each document says: 400 (revidapi: 422), in the provider's shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from receiver.sandbox import Sandbox

from .conftest import AUTH, BODIES, CREATE_PATHS, PROVIDERS, create, status


def without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def revid_input(**changes: Any) -> dict[str, Any]:
    body = BODIES["revidapi"]
    params = {k: v for k, v in {**body["input"], **changes}.items() if v is not None}
    return {**body, "input": params}


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("apimall", without(BODIES["apimall"], "model"), "model is required"),
    ("apimall", {**BODIES["apimall"], "model": "seedream-v4.5"}, "model must be one of"),
    ("apimall", without(BODIES["apimall"], "prompt"), "prompt is required"),
    ("apimall", {**BODIES["apimall"], "prompt": "  "}, "prompt must not be empty"),
    ("apimall", {**BODIES["apimall"], "image_resolution": "8K"}, "image_resolution"),
    ("apimall", {**BODIES["apimall"], "aspect_ratio": "5:4"}, "aspect_ratio"),
    ("apimall", {**BODIES["apimall"], "type": "video"}, "type must be one of"),
    ("apimall", {**BODIES["apimall"], "type": "image-to-image"}, "image_urls is required"),
    ("apimall", {**BODIES["apimall"], "image_urls": "http://x"}, "image_urls must be"),
    ("apipod", without(BODIES["apipod"], "model"), "model is required"),
    ("apipod", {**BODIES["apipod"], "model": "seedream-4-5"}, "model must be one of"),
    ("apipod", {**BODIES["apipod"], "prompt": "x" * 4001}, "longer than 4000"),
    ("apipod", {**BODIES["apipod"], "aspect_ratio": "5:4"}, "aspect_ratio must be one of"),
    ("apipod", {**BODIES["apipod"], "quality": "basic"}, "quality must be one of"),
    ("dreamcore", without(BODIES["dreamcore"], "prompt"), "prompt is required"),
    ("dreamcore", {**BODIES["dreamcore"], "prompt": "x" * 1501}, "longer than 1500"),
    ("dreamcore", without(BODIES["dreamcore"], "aspectRatio"), "aspectRatio is required"),
    ("dreamcore", {**BODIES["dreamcore"], "aspectRatio": "21:9"}, "aspectRatio must be one of"),
    ("dreamcore", without(BODIES["dreamcore"], "quality"), "quality is required"),
    ("dreamcore", {**BODIES["dreamcore"], "quality": "2K"}, "quality must be one of"),
    ("dreamcore", {**BODIES["dreamcore"], "imageUrls": [1]}, "imageUrls must be"),
    ("revidapi", without(BODIES["revidapi"], "model"), "model is required"),
    ("revidapi", {**BODIES["revidapi"], "model": "seedream/4.0"}, "model must be one of"),
    ("revidapi", without(BODIES["revidapi"], "input"), "input is required"),
    ("revidapi", revid_input(prompt="x" * 3001), "input.prompt is longer than 3000"),
    ("revidapi", revid_input(aspect_ratio=None), "input.aspect_ratio is required"),
    ("revidapi", revid_input(aspect_ratio="5:4"), "input.aspect_ratio must be one of"),
    ("revidapi", revid_input(quality="4K"), "input.quality must be one of"),
    ("revidapi", {**BODIES["revidapi"], "model": "seedream/4.5-edit"}, "input.image_urls"),
    ("revidapi", {**BODIES["revidapi"], "callBackUrl": "ftp://x"}, "callBackUrl"),
]


def error_text(provider: str, body: dict[str, Any]) -> str:
    if provider == "apimall":
        assert body["success"] is False and body["error"]["code"] == "invalid_request"
        return str(body["error"]["message"])
    if provider == "apipod":
        assert body["error"]["type"] == "invalid_request_error"
        assert body["error"]["code"] == "invalid_parameter"
        return str(body["error"]["message"])
    if provider == "dreamcore":
        assert body["code"] == 400
        return str(body["message"])
    assert body["code"] == 422
    return str(body["msg"])


@pytest.mark.parametrize(("provider", "body", "message"), CASES)
async def test_invalid_create_is_refused(
    client: httpx.AsyncClient, sandbox: Sandbox, provider: str, body: dict[str, Any], message: str
) -> None:
    response = await create(client, provider, body)
    assert response.status_code == (422 if provider == "revidapi" else 400)
    assert message in error_text(provider, response.json())
    assert sandbox.tasks(provider) == []
    assert sandbox.stats[provider].rejected == 1


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]"])
async def test_a_body_that_is_not_a_json_object_is_400(
    client: httpx.AsyncClient, provider: str, raw: bytes
) -> None:
    response = await client.post(CREATE_PATHS[provider], content=raw, headers=AUTH[provider])
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("apimall", {"model": "seedream-4-5", "prompt": "p"}),
        ("apimall", {**BODIES["apimall"], "type": "image-to-image", "image_urls": ["http://r"]}),
        ("apipod", {"model": "seedream-v4.5", "prompt": "x" * 4000}),
        ("dreamcore", {**BODIES["dreamcore"], "prompt": "x" * 1500, "imageUrls": []}),
        ("revidapi", revid_input(prompt="x" * 3000)),
        ("revidapi", {**revid_input(image_urls=["http://r"]), "model": "seedream/4.5-edit"}),
    ],
)
async def test_documented_limits_and_defaults_are_accepted(
    client: httpx.AsyncClient, provider: str, body: dict[str, Any]
) -> None:
    assert (await create(client, provider, body)).status_code == 200


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_status_of_an_unknown_task_is_404(
    client: httpx.AsyncClient, sandbox: Sandbox, provider: str
) -> None:
    response = await status(client, provider, "no-such-task")
    assert response.status_code == 404
    body = response.json()
    if provider == "apimall":
        assert body["success"] is False and body["error"]["code"] == "task_not_found"
    elif provider == "apipod":
        assert body["error"]["code"] == "task_not_found"
    elif provider == "dreamcore":
        assert body == {"code": 404, "message": "Task no-such-task not found"}
    else:
        assert body == {"code": 404, "msg": "Task no-such-task not found"}
    assert sandbox.stats[provider].not_found == 1


async def test_status_without_a_task_id_is_refused(client: httpx.AsyncClient) -> None:
    dream = await client.get("/dreamcore/status", headers=AUTH["dreamcore"])
    assert dream.status_code == 400
    assert dream.json()["code"] == 400
    revid = await client.post("/revidapi/get/taskid", headers=AUTH["revidapi"])
    assert revid.status_code == 422
    assert revid.json()["code"] == 422
