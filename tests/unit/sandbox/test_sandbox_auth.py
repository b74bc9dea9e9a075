"""Each provider refuses a missing or wrong key with 401 in its own error shape."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from receiver.clock import ManualClock
from receiver.sandbox import Sandbox, SandboxConfig, create_sandbox_app

from .conftest import AUTH, PROVIDERS, create, create_task, status

WRONG: dict[str, list[dict[str, str]]] = {
    "apimall": [
        {},
        {"authorization": "Bearer nope"},
        {"authorization": "Basic sandbox-apimall-key"},
    ],
    "apipod": [{}, {"authorization": "Bearer nope"}, {"x-api-key": "sandbox-apipod-key"}],
    "dreamcore": [{}, {"authorization": "Bearer sandbox-apipod-key"}],
    "revidapi": [{}, {"x-api-key": "nope"}, {"authorization": "Bearer sandbox-revidapi-key"}],
}


def assert_401_shape(provider: str, body: dict[str, Any]) -> None:
    if provider == "apimall":
        assert body["success"] is False
        assert body["error"]["code"] == "invalid_api_key"
        assert body["error"]["message"]
        assert re.fullmatch(r"req_[0-9A-Z]{26}", body["request_id"])
    elif provider == "apipod":
        assert body == {
            "error": {
                "message": body["error"]["message"],
                "type": "authentication_error",
                "code": "invalid_api_key",
            }
        }
    elif provider == "dreamcore":
        assert body == {"code": 401, "message": body["message"]}
    else:
        assert body == {"code": 401, "msg": body["msg"]}


@pytest.mark.parametrize(("provider", "headers"), [(p, h) for p, hs in WRONG.items() for h in hs])
async def test_create_without_the_right_key_is_401(
    client: httpx.AsyncClient, sandbox: Sandbox, provider: str, headers: dict[str, str]
) -> None:
    response = await create(client, provider, headers=headers)
    assert response.status_code == 401
    assert_401_shape(provider, response.json())
    assert sandbox.tasks(provider) == []
    assert sandbox.stats[provider].unauthorized == 1
    assert sandbox.stats[provider].create_requests == 0


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_status_without_the_right_key_is_401(
    client: httpx.AsyncClient, sandbox: Sandbox, provider: str
) -> None:
    task_id = await create_task(client, provider)
    response = await status(client, provider, task_id, headers={})
    assert response.status_code == 401
    assert_401_shape(provider, response.json())
    assert sandbox.stats[provider].status_queries == 0


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_keys_are_configurable_per_provider(provider: str) -> None:
    config = SandboxConfig(api_keys={provider: "custom-key"})
    box = create_sandbox_app(ManualClock(), config=config)
    header = "x-api-key" if provider == "revidapi" else "authorization"
    value = "custom-key" if provider == "revidapi" else "Bearer custom-key"
    transport = httpx.ASGITransport(app=box.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
        assert (await create(c, provider, headers={header: value})).status_code == 200
        assert (await create(c, provider, headers=AUTH[provider])).status_code == 401
