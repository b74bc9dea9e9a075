"""`GET /openapi.json`: the OpenAPI 3.1 document of the management API."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import __version__
from receiver.http.io import JSONResponse


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "receiver", "version": __version__},
        "paths": {},
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(document())


routes = [Route("/openapi.json", openapi, methods=["GET"])]
