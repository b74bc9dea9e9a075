"""`create_app(settings)`: the Starlette application with its workers in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from receiver.clock import Clock, SystemClock
from receiver.errors import SettingsError
from receiver.gc_tuning import tune_collector
from receiver.http import callbacks, events, inbox, openapi, subscriptions, tasks
from receiver.http.auth import require_token
from receiver.http.io import JSONResponse
from receiver.http.observe import Observe
from receiver.http.problems import (
    Problem,
    http_exception_handler,
    problem_handler,
    unexpected_handler,
)
from receiver.runtime import Runtime, build_adapters, build_outbound
from receiver.settings import Settings
from receiver.store.sqlite_store import SqliteStore
from receiver.workers.dispatcher import Dispatcher
from receiver.workers.loop import Worker
from receiver.workers.maintenance import Maintenance
from receiver.workers.upstream import UpstreamWorker

Handler = Callable[[Request], Awaitable[Response]]


def _authenticated(handler: Handler, token: bytes) -> Handler:
    async def wrapped(request: Request) -> Response:
        require_token(request, token)
        return await handler(request)

    wrapped.__name__ = handler.__name__
    return wrapped


def _protect(routes: list[Route], token: bytes) -> list[BaseRoute]:
    return [
        Route(r.path, _authenticated(r.endpoint, token), methods=sorted(r.methods or ()))
        for r in routes
    ]


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    workers: list[Worker] = request.app.state.workers
    checks = {"database": "ok", "workers": "ok"}
    try:
        await asyncio.wait_for(rt.store.ping(), timeout=2.0)
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    if not workers or not all(w.alive for w in workers):
        checks["workers"] = "not running"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


async def metrics(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    for kind, count in (await rt.store.due_counts(rt.clock.now())).items():
        rt.metrics.due.labels(kind).set(count)
    return Response(rt.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    run_workers: bool = True,
    tune_gc: bool = False,
) -> Starlette:
    """The service. `tune_gc`: tune the garbage collector for a long-running process
    once started (receiver/gc_tuning.py); `receiver serve` does, tests do not."""
    if not settings.api_token:
        raise SettingsError(
            ["RECEIVER_API_TOKEN is not set: make one with `receiver gen-token` and export it"]
        )
    token = settings.api_token.encode()
    rt = Runtime(
        settings=settings,
        clock=clock or SystemClock(),
        store=SqliteStore(Path(settings.database_path)),
        adapters=build_adapters(settings),
        outbound=build_outbound(settings),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await rt.start()
        if tune_gc:
            tune_collector()
        workers: list[Worker] = (
            [UpstreamWorker(rt), Dispatcher(rt), Maintenance(rt)] if run_workers else []
        )
        runners = [asyncio.create_task(w.run()) for w in workers]
        app.state.workers = workers
        try:
            yield
        finally:
            # Together, so the shutdown bound is one grace period, not one per worker.
            await asyncio.gather(*(worker.stop() for worker in workers))
            await asyncio.gather(*runners)
            await rt.outbound.close()
            await rt.store.close()

    routes: list[BaseRoute] = [
        # First: the router tries each route's pattern in turn, and callbacks are the
        # busiest path (B1). No two routes' paths overlap, so order changes no match.
        *callbacks.routes,
        *_protect(tasks.routes + subscriptions.routes + events.routes + inbox.routes, token),
        *openapi.routes,
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    templates = {r.endpoint: r.path for r in routes if isinstance(r, Route)}
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(Observe, metrics=rt.metrics, templates=templates),
            Middleware(callbacks.CallbackIngest, runtime=rt),
        ],
        lifespan=lifespan,
        exception_handlers={
            Problem: problem_handler,
            HTTPException: http_exception_handler,
            Exception: unexpected_handler,
        },
    )
    app.state.runtime = rt
    app.state.workers = []
    return app
