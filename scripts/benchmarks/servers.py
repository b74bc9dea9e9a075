"""Servers for the benchmarks, run as their own processes (pinned to a core by the caller).

    python scripts/benchmarks/servers.py receiver PORT   the service, from RECEIVER_* variables
    python scripts/benchmarks/servers.py bare PORT       the ceiling: a bare Starlette POST endpoint
    python scripts/benchmarks/servers.py sink PORT       a webhook sink: 204 at once, receipts on GET
    python scripts/benchmarks/servers.py lean-sink PORT  the same on a bare asyncio protocol (B5)

All but lean-sink run under the same uvicorn settings (httptools, uvloop, no access log).
"""

from __future__ import annotations

import sys
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from receiver.gc_tuning import tune_collector


def bare_app() -> Starlette:
    async def accept(request: Request) -> Response:
        await request.body()
        return JSONResponse({"received": True})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/callbacks/{provider}/{token}", accept, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )


def sink_app() -> Starlette:
    """Answers every delivery with 204 and keeps (webhook-id, receipt time) in memory."""
    receipts: list[tuple[str, float]] = []

    async def hook(request: Request) -> Response:
        await request.body()
        receipts.append((request.headers.get("webhook-id", ""), time.time()))
        return Response(status_code=204)

    async def read(request: Request) -> Response:
        return JSONResponse({"receipts": receipts})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/hook", hook, methods=["POST"]),
            Route("/receipts", read, methods=["GET"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )


def receiver_app(workers: bool) -> ASGIApp:
    from receiver.http.app import create_app
    from receiver.logs import configure
    from receiver.settings import Settings

    configure("INFO")  # as `receiver serve` runs: an access line per request
    return create_app(Settings.from_env(), run_workers=workers, tune_gc=True)


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "bare":
        app: ASGIApp = bare_app()
        tune_collector()  # the receiver's setting (it tunes once started): same for both
    elif kind == "sink":
        app = sink_app()
    elif kind == "lean-sink":  # B5's sink (benchmarks/lean.py), not an ASGI app
        import uvloop

        from benchmarks.lean import serve_sink

        uvloop.run(serve_sink("127.0.0.1", port))
        return
    elif kind in ("receiver", "receiver-workers"):
        app = receiver_app(workers=kind == "receiver-workers")
    else:
        raise SystemExit(f"unknown server {kind!r}")
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        http="httptools",
        loop="uvloop",
        log_config=None,
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
