"""`/v1/callbacks`: upstream callbacks as received, and re-running reconciliation on one.

A replay goes through the same reconciliation as the original: when the task
has already moved on, it is a duplicate or stale report and changes nothing.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.core.model import PROVIDERS
from receiver.core.task import task_json
from receiver.http.io import JSONResponse, nesting
from receiver.http.problems import Problem, invalid, not_found
from receiver.http.query import (
    ID_PATTERN,
    an_id,
    list_query,
    one_of,
    page,
    read_object,
    reject_unknown,
)
from receiver.http.tasks import runtime
from receiver.store.records import StoredCallback

# A page wraps each body in three levels, and orjson writes at most 254.
BODY_DEPTH = 200


def _callback_json(callback: StoredCallback) -> dict[str, Any]:
    """The callback as stored; a body nested too deeply to answer as JSON is shown as text."""
    out = callback.as_json()
    if nesting(out["body"]) > BODY_DEPTH:
        out["body"] = callback.body.decode("utf-8", "replace")
    return out


async def list_callbacks(request: Request) -> Response:
    rt = runtime(request)
    q = list_query(request, {"provider": one_of(PROVIDERS), "task_id": an_id})
    callbacks = await rt.store.list_callbacks(
        provider=q.filters["provider"],
        task_id=q.filters["task_id"],
        after=q.after,
        limit=q.limit + 1,
    )
    return JSONResponse(page(callbacks, q.limit, _callback_json, lambda c: c.id))


async def replay_callback(request: Request) -> Response:
    rt = runtime(request)
    callback_id = request.path_params["callback_id"]
    stored = await rt.store.get_callback(callback_id) if ID_PATTERN.match(callback_id) else None
    if stored is None:
        raise not_found(f"callback {callback_id}")
    errors = reject_unknown(await read_object(request, optional=True), ())
    if errors:
        raise invalid(errors)
    adapter = rt.adapters.get(stored.provider)
    if adapter is None:
        raise Problem(
            409,
            "provider-disabled",
            f"{stored.provider} is not enabled, so its callbacks cannot be read",
        )
    try:
        report = adapter.parse_callback(stored.body)
    except ValueError as exc:
        raise Problem(
            409, "bad-callback", f"the stored body is not a {stored.provider} callback: {exc}"
        ) from None
    applied = await rt.apply_report(stored.task_id, report, rt.clock.now())
    if applied is None:
        raise not_found(f"task {stored.task_id}")
    return JSONResponse(
        {
            "callback_id": stored.id,
            "outcome": applied.verdict.value,
            "task": task_json(applied.task),
        }
    )


routes = [
    Route("/v1/callbacks", list_callbacks, methods=["GET"]),
    Route("/v1/callbacks/{callback_id}/replay", replay_callback, methods=["POST"]),
]
