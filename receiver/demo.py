"""`receiver demo`: the service, the four provider simulators, one task each, no keys, no network.

Everything runs in this process on loopback ports: the real adapters speak
each provider's wire format to the simulators, revidapi calls back to a
signed URL, the other three are polled.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Generator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from receiver.clock import SystemClock
from receiver.core.model import PROVIDERS
from receiver.core.times import parse_rfc3339
from receiver.http.app import create_app
from receiver.sandbox import SandboxConfig, create_sandbox_app, default_api_keys
from receiver.settings import Settings

FINAL = ("completed", "failed")


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # Ctrl-C stays with the demo, not with each embedded server


def _bind() -> tuple[socket.socket, str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextlib.asynccontextmanager
async def _serve(app: ASGIApp, sock: socket.socket) -> AsyncIterator[None]:
    server = _QuietServer(uvicorn.Config(app, log_level="error", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("an embedded server failed to start")
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


def demo_settings(sandbox_url: str, service_url: str, db: Path) -> Settings:
    keys = default_api_keys()
    env = {
        "RECEIVER_DATABASE_URL": f"sqlite:///{db}",
        "RECEIVER_PUBLIC_URL": service_url,
        "RECEIVER_API_TOKEN": secrets.token_urlsafe(16),
        "RECEIVER_CALLBACK_GRACE": "10",
    }
    for name in PROVIDERS:
        env[f"RECEIVER_{name.upper()}_API_KEY"] = keys[name]
        env[f"RECEIVER_{name.upper()}_BASE_URL"] = f"{sandbox_url}/{name}"
    return Settings.from_env(env)


async def run_demo(prompt: str, echo: Callable[[str], None], within: float = 45.0) -> int:
    config = SandboxConfig(pending_seconds=1.0, processing_seconds=2.0)
    sandbox = create_sandbox_app(SystemClock(), config=config)
    sandbox_sock, sandbox_url = _bind()
    service_sock, service_url = _bind()
    with tempfile.TemporaryDirectory(prefix="receiver-demo-") as tmp:
        settings = demo_settings(sandbox_url, service_url, Path(tmp) / "demo.db")
        app = create_app(settings)
        async with _serve(sandbox.app, sandbox_sock), _serve(app, service_sock):
            echo(f"receiver on {service_url}, provider simulators on {sandbox_url}")
            headers = {"authorization": f"Bearer {settings.api_token}"}
            async with httpx.AsyncClient(base_url=service_url, headers=headers) as api:
                return await _submit_and_watch(api, prompt, echo, within)


async def _submit_and_watch(
    api: httpx.AsyncClient, prompt: str, echo: Callable[[str], None], within: float
) -> int:
    tasks: dict[str, dict[str, Any]] = {}
    for provider in PROVIDERS:
        response = await api.post("/v1/tasks", json={"prompt": prompt, "provider": provider})
        response.raise_for_status()
        task = response.json()
        tasks[task["id"]] = task
        echo(f"  {provider:<10} {task['id']}  {task['status']}  ({task['mode']})")
    started = time.monotonic()
    seen = {task_id: task["status"] for task_id, task in tasks.items()}
    while any(t["status"] not in FINAL for t in tasks.values()):
        if time.monotonic() - started > within:
            echo("gave up waiting: some tasks did not finish")
            break
        await asyncio.sleep(0.2)  # a person is watching: refresh five times a second
        for task_id in tasks:
            task = (await api.get(f"/v1/tasks/{task_id}")).json()
            tasks[task_id] = task
            if task["status"] != seen[task_id]:
                seen[task_id] = task["status"]
                echo(f"  {task['provider']:<10} {task_id}  -> {task['status']}")
    echo("")
    echo(f"{'provider':<10} {'status':<10} {'seconds':>7}  result")
    for task in tasks.values():
        took = (
            parse_rfc3339(task["completed_at"]) - parse_rfc3339(task["created_at"])
            if task["completed_at"]
            else float("nan")
        )
        error = task["error"] or {}
        result = task["result_urls"][0] if task["result_urls"] else error.get("message", "")
        echo(f"{task['provider']:<10} {task['status']:<10} {took:>7.1f}  {result}")
    return 0 if all(t["status"] == "completed" for t in tasks.values()) else 1
