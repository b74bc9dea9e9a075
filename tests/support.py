"""Shared test harness: real servers on loopback, a manual clock, and waiting on conditions.

Nothing here sleeps to let time pass: time moves only when a test calls
`clock.advance()`; the short waits below wait for work (an HTTP round trip, a
worker tick) to finish, and give up after a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from receiver.clock import ManualClock
from receiver.http.app import create_app
from receiver.runtime import Runtime
from receiver.sandbox import Sandbox, SandboxConfig, create_sandbox_app
from receiver.settings import Settings

T = TypeVar("T")
TOKEN = "test-api-token"
PROVIDERS = ("apimall", "apipod", "dreamcore", "revidapi")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # Tests run several servers in one process: leave signal handling alone.
        yield


def bind() -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets whose proto says
    # TCP; without it every keep-alive request waits ~40 ms on Nagle and delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def url_of(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextlib.asynccontextmanager
async def serve(app: ASGIApp, sock: socket.socket) -> AsyncIterator[str]:
    """Run `app` under uvicorn on `sock` in this event loop, lifespan included."""
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await until(lambda: server.started or task.done(), what="server start")
    if task.done():
        task.result()
        raise RuntimeError("server stopped during start-up")
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        await task


async def until(
    check: Callable[[], bool], *, within: float = 10.0, what: str = "condition"
) -> None:
    """Wait for work to make `check()` true, or fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while not check():
        if loop.time() > give_up:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    *,
    within: float = 10.0,
    what: str = "condition",
) -> T:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while True:
        value = await probe()
        if accept(value):
            return value
        if loop.time() > give_up:
            raise AssertionError(f"timed out waiting for {what}; last value: {value!r}")
        await asyncio.sleep(0.01)


def service_env(sandbox_url: str, db: Path, public_url: str, **extra: str) -> dict[str, str]:
    env = {
        "RECEIVER_DATABASE_URL": f"sqlite:///{db}",
        "RECEIVER_PUBLIC_URL": public_url,
        "RECEIVER_API_TOKEN": TOKEN,
        "RECEIVER_UPSTREAM_TIMEOUT": "5",
        "RECEIVER_ALLOW_PRIVATE_URLS": "true",
    }
    for name in PROVIDERS:
        env[f"RECEIVER_{name.upper()}_API_KEY"] = f"sandbox-{name}-key"
        env[f"RECEIVER_{name.upper()}_BASE_URL"] = f"{sandbox_url}/{name}"
    env.update(extra)
    return env


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.body)
        return value


class Subscriber:
    """A webhook endpoint on loopback: records every request; answers from `script`, then
    `default`. `hold` (when set) makes it wait for `release` before answering."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: list[tuple[int, dict[str, str]]] = []
        self.default = 204
        self.hold = False
        self.release = asyncio.Event()
        self.url = ""
        self.app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])

    async def _hook(self, request: Request) -> Response:
        self.received.append(Received(dict(request.headers), await request.body()))
        if self.hold:
            await self.release.wait()
        status, headers = self.script.pop(0) if self.script else (self.default, {})
        body = b"" if status in (204, 304) else b'{"ok": true}' if status < 300 else b"nope"
        return Response(body, status, headers)

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received]

    def types(self) -> list[str]:
        return [r.json["type"] for r in self.received]

    async def wait_for(self, count: int, *, within: float = 10.0) -> list[Received]:
        await until(lambda: len(self.received) >= count, within=within, what=f"{count} deliveries")
        return self.received


@contextlib.asynccontextmanager
async def subscriber() -> AsyncIterator[Subscriber]:
    sub = Subscriber()
    async with serve(sub.app, bind()) as url:
        sub.url = f"{url}/hook"
        try:
            yield sub
        finally:
            sub.release.set()


@dataclass
class Harness:
    clock: ManualClock
    sandbox: Sandbox
    sandbox_url: str
    url: str
    api: httpx.AsyncClient
    db: Path
    app: Starlette

    @property
    def runtime(self) -> Runtime:
        rt: Runtime = self.app.state.runtime
        return rt

    async def subscribe(self, url: str, **body: Any) -> dict[str, Any]:
        response = await self.api.post("/v1/subscriptions", json={"url": url, **body})
        assert response.status_code == 201, response.text
        sub: dict[str, Any] = response.json()
        return sub

    async def deliveries(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.api.get("/v1/deliveries", params={"limit": 200, **params})
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    async def create(self, **body: Any) -> dict[str, Any]:
        response = await self.api.post("/v1/tasks", json=body)
        assert response.status_code == 202, response.text
        task: dict[str, Any] = response.json()
        return task

    async def get(self, task_id: str) -> dict[str, Any]:
        response = await self.api.get(f"/v1/tasks/{task_id}")
        assert response.status_code == 200, response.text
        task: dict[str, Any] = response.json()
        return task

    async def wait_status(
        self, task_id: str, *statuses: str, within: float = 10.0
    ) -> dict[str, Any]:
        return await eventually(
            lambda: self.get(task_id),
            lambda t: t["status"] in statuses,
            within=within,
            what=f"task {task_id} to be {'/'.join(statuses)}",
        )

    async def drive(
        self, task_id: str, *statuses: str, step: float = 5.0, steps: int = 60
    ) -> dict[str, Any]:
        """Move time forward `step` seconds at a time until the task reaches a status."""
        for _ in range(steps):
            task = await self.get(task_id)
            if task["status"] in statuses:
                return task
            self.clock.advance(step)
            with contextlib.suppress(AssertionError):
                return await self.wait_status(task_id, *statuses, within=0.3)
        raise AssertionError(f"task {task_id} never became {'/'.join(statuses)}")

    async def eventually_error(self, task_id: str) -> None:
        """Wait until the worker has recorded a failed create attempt for the task."""
        import sqlite3

        def recorded() -> bool:
            with contextlib.closing(sqlite3.connect(self.db)) as conn:
                row = conn.execute(
                    "SELECT last_error FROM tasks WHERE id = ?", (task_id,)
                ).fetchone()
            return bool(row and row[0])

        await until(recorded, what=f"a failed create attempt for {task_id}")

    async def events(self, task_id: str) -> list[tuple[int, str]]:
        import sqlite3

        with contextlib.closing(sqlite3.connect(self.db)) as conn:
            rows = conn.execute(
                "SELECT sequence, type FROM events WHERE task_id = ? ORDER BY sequence", (task_id,)
            ).fetchall()
        return [(int(s), str(t)) for s, t in rows]


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path,
    *,
    sandbox_config: SandboxConfig | None = None,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[Harness]:
    # Start at the real time: Standard Webhooks verifiers refuse timestamps more
    # than five minutes from their own clock.
    clock = ManualClock(start=time.time())
    sandbox = create_sandbox_app(clock, config=sandbox_config)
    sandbox_sock, service_sock = bind(), bind()
    db = tmp_path / "receiver.db"
    async with serve(sandbox.app, sandbox_sock) as sandbox_url:
        settings = Settings.from_env(
            service_env(sandbox_url, db, url_of(service_sock), **dict(env or {}))
        )
        app = create_app(settings, clock=clock)
        async with serve(app, service_sock) as url:
            headers = {"authorization": f"Bearer {TOKEN}"}
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as api:
                yield Harness(clock, sandbox, sandbox_url, url, api, db, app)
