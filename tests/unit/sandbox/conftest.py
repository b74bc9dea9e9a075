"""Fixtures for the sandbox tests: a ManualClock, the sandbox, a client, a callback sink."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import orjson
import pytest
import uvicorn
from starlette.types import ASGIApp

from receiver.clock import ManualClock
from receiver.sandbox import Sandbox, SandboxConfig, create_sandbox_app

START = 1_800_000_000.0  # ManualClock's default start: 2027-01-15T08:00:00Z
WAIT = 5.0  # seconds to wait for something that should happen at once

AUTH: dict[str, dict[str, str]] = {
    "apimall": {"authorization": "Bearer sandbox-apimall-key"},
    "apipod": {"authorization": "Bearer sandbox-apipod-key"},
    "dreamcore": {"authorization": "Bearer sandbox-dreamcore-key"},
    "revidapi": {"x-api-key": "sandbox-revidapi-key"},
}

# A valid create body per provider, as each document's example shows it.
BODIES: dict[str, dict[str, Any]] = {
    "apimall": {
        "model": "seedream-4-5",
        "type": "text-to-image",
        "prompt": "A jewelry campaign shot",
        "aspect_ratio": "1:1",
        "image_resolution": "2K",
    },
    "apipod": {
        "model": "seedream-v4.5",
        "prompt": "A vibrant close-up editorial portrait",
        "aspect_ratio": "3:4",
        "quality": "2K",
    },
    "dreamcore": {
        "prompt": "Cinematic photo of an obsidian smartwatch",
        "aspectRatio": "4:3",
        "quality": "high",
    },
    "revidapi": {
        "model": "seedream/4.5-text-to-image",
        "input": {"prompt": "A cafe design tool", "aspect_ratio": "1:1", "quality": "basic"},
    },
}

CREATE_PATHS = {
    "apimall": "/apimall/images/generate",
    "apipod": "/apipod/images/generations",
    "dreamcore": "/dreamcore/generate",
    "revidapi": "/revidapi/seedream/create",
}
PROVIDERS = tuple(CREATE_PATHS)


def task_id_of(provider: str, answer: dict[str, Any]) -> str:
    key = "taskId" if provider == "revidapi" else "task_id"
    value = answer["data"][key]
    assert isinstance(value, str)
    return value


async def create(
    client: httpx.AsyncClient,
    provider: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        CREATE_PATHS[provider],
        json=BODIES[provider] if body is None else body,
        headers=AUTH[provider] if headers is None else headers,
    )


async def status(
    client: httpx.AsyncClient, provider: str, task_id: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    headers = AUTH[provider] if headers is None else headers
    if provider == "apimall":
        return await client.get(f"/apimall/images/{task_id}", headers=headers)
    if provider == "apipod":
        return await client.get(f"/apipod/images/status/{task_id}", headers=headers)
    if provider == "dreamcore":
        return await client.get("/dreamcore/status", params={"task_id": task_id}, headers=headers)
    return await client.post("/revidapi/get/taskid", params={"taskId": task_id}, headers=headers)


async def create_task(client: httpx.AsyncClient, provider: str, **body: Any) -> str:
    response = await create(client, provider, {**BODIES[provider], **body})
    assert response.status_code == 200, response.text
    return task_id_of(provider, response.json())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def config() -> SandboxConfig:
    return SandboxConfig(pending_seconds=1, processing_seconds=2, seed=7)


@pytest.fixture
def sandbox(clock: ManualClock, config: SandboxConfig) -> Sandbox:
    return create_sandbox_app(clock, config=config)


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
        yield c


@dataclass
class Received:
    url: str
    body: dict[str, Any]
    raw: bytes
    content_type: str
    at: float


@dataclass
class CallbackSink:
    """Where the sandbox's callbacks land: records each, answers `status_code`."""

    clock: ManualClock
    status_code: int = 200
    received: list[Received] = field(default_factory=list)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        raw = await request.aread()
        self.received.append(
            Received(
                str(request.url),
                orjson.loads(raw),
                raw,
                request.headers.get("content-type", ""),
                self.clock.now(),
            )
        )
        async with self._arrived:
            self._arrived.notify_all()
        return httpx.Response(self.status_code)

    async def wait_for(self, count: int) -> list[Received]:
        async with asyncio.timeout(WAIT), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return self.received


@pytest.fixture
def sink(clock: ManualClock) -> CallbackSink:
    return CallbackSink(clock)


@pytest.fixture
async def running(
    clock: ManualClock, config: SandboxConfig, sink: CallbackSink
) -> AsyncIterator[Sandbox]:
    """A sandbox whose callbacks go to `sink`, with its callback runner started."""
    async with httpx.AsyncClient(transport=httpx.MockTransport(sink.handle)) as callback_client:
        box = create_sandbox_app(clock, config=config, callback_client=callback_client)
        async with box.run():
            yield box


@pytest.fixture
async def running_client(running: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=running.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
        yield c


async def eventually(predicate: Callable[[], bool], within: float = WAIT) -> None:
    """Wait until predicate() holds, yielding to the loop; fail after `within` seconds."""
    async with asyncio.timeout(within):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.001)


@asynccontextmanager
async def serve(app: ASGIApp, *, lifespan: Literal["on", "off"] = "off") -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port; yields its root URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan=lifespan, log_level="warning", ws="none"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started or task.done())
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
