"""apimall's Idempotency-Key: the same key and body give the same task; another body, 409."""

from __future__ import annotations

import asyncio

import httpx

from receiver.sandbox import Sandbox

from .conftest import AUTH, BODIES, create, eventually


def keyed(key: str) -> dict[str, str]:
    return {**AUTH["apimall"], "Idempotency-Key": key}


async def test_same_key_same_body_returns_the_same_answer(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    first = await create(client, "apimall", headers=keyed("k-1"))
    again = await create(client, "apimall", dict(reversed(BODIES["apimall"].items())), keyed("k-1"))
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert len(sandbox.tasks("apimall")) == 1
    assert sandbox.stats["apimall"].idempotent_replays == 1


async def test_same_key_other_body_is_409(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    await create(client, "apimall", headers=keyed("k-1"))
    other = {**BODIES["apimall"], "prompt": "something else"}
    response = await create(client, "apimall", other, keyed("k-1"))
    assert response.status_code == 409
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "idempotency_conflict"
    assert len(sandbox.tasks("apimall")) == 1


async def test_other_keys_or_no_key_create_new_tasks(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    ids = set()
    for headers in (keyed("a"), keyed("b"), AUTH["apimall"], AUTH["apimall"]):
        ids.add((await create(client, "apimall", headers=headers)).json()["data"]["task_id"])
    assert len(ids) == len(sandbox.tasks("apimall")) == 4


async def test_a_retry_after_a_create_that_never_answered_finds_the_task(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.faults["apimall"].create_hang = 1
    hung = asyncio.create_task(create(client, "apimall", headers=keyed("k-9")))
    await eventually(lambda: sandbox.hangs.waiting == 1)
    retry = await create(client, "apimall", headers=keyed("k-9"))
    assert retry.status_code == 200
    assert len(sandbox.tasks("apimall")) == 1
    assert sandbox.release_hangs() == 1
    assert (await hung).json() == retry.json()


async def test_reset_forgets_idempotency_keys(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    first = await create(client, "apimall", headers=keyed("k-1"))
    sandbox.reset()
    second = await create(client, "apimall", headers=keyed("k-1"))
    assert second.json()["data"]["task_id"] != first.json()["data"]["task_id"]
