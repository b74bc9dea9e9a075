"""`receiver demo`: the service, the four provider simulators and a webhook subscriber, in one
process on loopback ports. No keys, no network.

The real adapters speak each provider's wire format to the simulators;
revidapi calls back to a signed URL, the other three are polled; every state
change is delivered, signed, to the demo subscriber, which verifies it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from receiver.clock import SystemClock
from receiver.core.model import PROVIDERS
from receiver.core.signing import secret_key, verify
from receiver.core.times import parse_rfc3339
from receiver.http.app import create_app
from receiver.sandbox import SandboxConfig, create_sandbox_app, default_api_keys
from receiver.settings import Settings

FINAL = ("completed", "failed")
STYLE = {
    "queued": "dim",
    "pending": "yellow",
    "processing": "cyan",
    "completed": "green",
    "failed": "red",
}
TOLERANCE = 300  # seconds, as Standard Webhooks verifiers allow


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # Ctrl-C stays with the demo, not with each embedded server


def _bind() -> tuple[socket.socket, str]:
    # IPPROTO_TCP, so asyncio sets TCP_NODELAY on accepted connections (no Nagle delays).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextlib.asynccontextmanager
async def _serve(app: ASGIApp, sock: socket.socket) -> AsyncIterator[None]:
    server = _QuietServer(uvicorn.Config(app, log_level="error", lifespan="on", access_log=False))
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


@dataclass
class DemoSubscriber:
    """A webhook endpoint that checks every delivery's Standard Webhooks signature."""

    console: Console
    secret: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    verified: int = 0

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        headers = request.headers
        msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "0")
        fresh = stamp.isdigit() and abs(time.time() - int(stamp)) <= TOLERANCE
        good = fresh and verify(
            secret_key(self.secret), msg_id, int(stamp), body, headers.get("webhook-signature", "")
        )
        event = orjson.loads(body)
        task = event["data"]["task"]
        self.received.append(event)
        self.verified += good
        mark = "[green]signature verified[/]" if good else "[red]signature INVALID[/]"
        self.console.print(
            f"  webhook  {event['type']:<16} {task['provider']:<10} seq {event['sequence']}  {mark}"
        )
        return Response(status_code=204)


def demo_settings(sandbox_url: str, service_url: str, db: Path) -> Settings:
    keys = default_api_keys()
    env = {
        "RECEIVER_DATABASE_URL": f"sqlite:///{db}",
        "RECEIVER_PUBLIC_URL": service_url,
        "RECEIVER_API_TOKEN": secrets.token_urlsafe(16),
        "RECEIVER_CALLBACK_GRACE": "10",
        "RECEIVER_ALLOW_PRIVATE_URLS": "true",  # the demo subscriber is on loopback
    }
    for name in PROVIDERS:
        env[f"RECEIVER_{name.upper()}_API_KEY"] = keys[name]
        env[f"RECEIVER_{name.upper()}_BASE_URL"] = f"{sandbox_url}/{name}"
    return Settings.from_env(env)


async def run_demo(prompt: str, console: Console | None = None, within: float = 45.0) -> int:
    console = console or Console()
    sandbox = create_sandbox_app(
        SystemClock(), config=SandboxConfig(pending_seconds=1.0, processing_seconds=2.0)
    )
    subscriber = DemoSubscriber(console)
    hook_app = Starlette(routes=[Route("/hook", subscriber.hook, methods=["POST"])])
    (sandbox_sock, sandbox_url), (hook_sock, hook_url) = _bind(), _bind()
    service_sock, service_url = _bind()
    with tempfile.TemporaryDirectory(prefix="receiver-demo-") as tmp:
        settings = demo_settings(sandbox_url, service_url, Path(tmp) / "demo.db")
        async with (
            _serve(sandbox.app, sandbox_sock),
            _serve(hook_app, hook_sock),
            _serve(create_app(settings), service_sock),
        ):
            console.print(f"[bold]receiver[/] on {service_url}")
            console.print(
                f"provider simulators on {sandbox_url}, demo subscriber on {hook_url}/hook\n"
            )
            headers = {"authorization": f"Bearer {settings.api_token}"}
            async with httpx.AsyncClient(base_url=service_url, headers=headers) as api:
                created = await api.post("/v1/subscriptions", json={"url": f"{hook_url}/hook"})
                created.raise_for_status()
                subscriber.secret = created.json()["secret"]
                return await _watch(api, prompt, console, subscriber, within)


async def _watch(
    api: httpx.AsyncClient, prompt: str, console: Console, subscriber: DemoSubscriber, within: float
) -> int:
    tasks: dict[str, dict[str, Any]] = {}
    for provider in PROVIDERS:
        response = await api.post("/v1/tasks", json={"prompt": prompt, "provider": provider})
        response.raise_for_status()
        tasks[response.json()["id"]] = response.json()
    progress = Progress(
        TextColumn("tasks finished"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    bar = progress.add_task("tasks", total=len(tasks))
    started = time.monotonic()
    with Live(Group(_table(tasks), progress), console=console, refresh_per_second=8) as live:
        while time.monotonic() - started < within:
            for task_id in tasks:
                tasks[task_id] = (await api.get(f"/v1/tasks/{task_id}")).json()
            done = sum(t["status"] in FINAL for t in tasks.values())
            progress.update(bar, completed=done)
            live.update(Group(_table(tasks), progress))
            events = (await api.get("/v1/events", params={"limit": 200})).json()["data"]
            if done == len(tasks) and len(subscriber.received) >= len(events):
                break
            await asyncio.sleep(0.2)  # a person is watching: refresh five times a second
    console.print()
    console.print(_summary(tasks, subscriber))
    ok = all(t["status"] == "completed" for t in tasks.values())
    ok = ok and bool(subscriber.received) and subscriber.verified == len(subscriber.received)
    console.print(
        f"\n{sum(t['status'] == 'completed' for t in tasks.values())} of {len(tasks)} tasks completed; "
        f"{subscriber.verified} of {len(subscriber.received)} webhook events verified."
    )
    return 0 if ok else 1


def _table(tasks: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="tasks", title_justify="left")
    for column in ("provider", "task", "mode", "status"):
        table.add_column(column)
    for task in tasks.values():
        style = STYLE.get(task["status"], "")
        table.add_row(task["provider"], task["id"], task["mode"], f"[{style}]{task['status']}[/]")
    return table


def _summary(tasks: dict[str, dict[str, Any]], subscriber: DemoSubscriber) -> Table:
    table = Table(title="summary", title_justify="left")
    for column in ("provider", "status", "seconds", "events", "result"):
        table.add_column(column, justify="right" if column in ("seconds", "events") else "left")
    for task in tasks.values():
        took = (
            f"{parse_rfc3339(task['completed_at']) - parse_rfc3339(task['created_at']):.1f}"
            if task["completed_at"]
            else "-"
        )
        events = sum(e["data"]["task"]["id"] == task["id"] for e in subscriber.received)
        result = (
            task["result_urls"][0]
            if task["result_urls"]
            else (task["error"] or {}).get("message", "")
        )
        style = STYLE.get(task["status"], "")
        table.add_row(task["provider"], f"[{style}]{task['status']}[/]", took, str(events), result)
    return table
