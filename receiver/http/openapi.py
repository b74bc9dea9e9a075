"""`GET /openapi.json`: the OpenAPI 3.1 document of the service, as implemented.

Every route the app serves is described, with every answer its handler can
give (`openapi_paths`) and the shapes of bodies and answers
(`openapi_schemas`). tests/integration/test_openapi.py checks the paths
against the app's routes and runs schemathesis against a live service, so the
document cannot drift from the code.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import __version__
from receiver.http.io import JSONResponse
from receiver.http.openapi_paths import PARAMETERS, RESPONSES, paths
from receiver.http.openapi_schemas import schemas

TAGS = ("tasks", "subscriptions", "events", "deliveries", "callbacks", "public")


@cache
def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "receiver",
            "version": __version__,
            "description": "Submit image-generation tasks to several providers through one API; "
            "receive every state change as a signed, retried, replayable webhook. Errors are "
            "application/problem+json (RFC 9457). Unknown body fields and unknown query "
            "parameters are refused with 422.",
        },
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name} for name in TAGS],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "RECEIVER_API_TOKEN",
                }
            },
            "parameters": PARAMETERS,
            "responses": RESPONSES,
            "schemas": schemas(),
        },
    }


def document() -> dict[str, Any]:
    """A fresh copy each time, so no caller can change what the next one gets."""
    return copy.deepcopy(_document())


async def openapi(request: Request) -> Response:
    return JSONResponse(_document())


routes = [Route("/openapi.json", openapi, methods=["GET"])]
