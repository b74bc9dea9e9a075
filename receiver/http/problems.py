"""Errors as `application/problem+json` (RFC 9457).

Handlers raise `Problem`; the app turns it, and every framework or unexpected
error, into a problem document. `type` is a relative URI naming the kind of
problem (`/problems/validation`), documented in the README.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from receiver.core.model import FieldError

log = logging.getLogger("receiver.http")

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        title: str | None = None,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.kind = kind
        self.title = title or HTTPStatus(status).phrase
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        super().__init__(detail)

    def response(self) -> Response:
        body: dict[str, Any] = {
            "type": f"/problems/{self.kind}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }
        if self.errors:
            body["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        return Response(
            orjson.dumps(body),
            status_code=self.status,
            headers=self.headers,
            media_type=PROBLEM_JSON,
        )


def invalid(errors: Sequence[FieldError]) -> Problem:
    fields = ", ".join(sorted({e.field or "body" for e in errors}))
    return Problem(422, "validation", f"the request has invalid fields: {fields}", errors=errors)


def not_found(what: str) -> Problem:
    return Problem(404, "not-found", f"{what} does not exist")


async def problem_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return exc.response()


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else None
    if exc.status_code == 404:
        detail = detail or f"no such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        detail = detail or f"{request.method} is not allowed on {request.url.path}"
    kind = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed(request) or headers.get("Allow", "")
    return Problem(
        exc.status_code, kind, detail or HTTPStatus(exc.status_code).phrase, headers=headers
    ).response()


def _allowed(request: Request) -> str:
    """Every method served at this path. Starlette's own 405 names only the first route
    matching the path, and here a path has one route per method."""
    methods = {
        method
        for route in request.app.routes
        if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE
        for method in route.methods or ()
    }
    return ", ".join(sorted(methods))


async def unexpected_handler(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return Problem(
        500, "internal", "an unexpected error happened; it was logged, nothing was changed"
    ).response()
