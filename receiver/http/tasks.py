"""`/v1/tasks`: create (idempotent), read, list with cursor paging, sync with the provider."""

from __future__ import annotations

import hashlib
import re

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.core.ids import new_id
from receiver.core.model import PROVIDERS, Status
from receiver.core.task import Task, task_json
from receiver.errors import PermanentError, TransientError
from receiver.http.io import JSONResponse, read_json
from receiver.http.problems import Problem, invalid, not_found
from receiver.http.query import ID_PATTERN, list_query, one_of, page
from receiver.http.task_input import parse_task_input
from receiver.runtime import Runtime
from receiver.store.base import IdempotencyConflict, NewTask
from receiver.workers.jobs import query_status

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def create_task(request: Request) -> Response:
    rt = runtime(request)
    key = request.headers.get("idempotency-key")
    if key is not None and not KEY_PATTERN.match(key):
        raise Problem(
            400, "bad-idempotency-key", "Idempotency-Key must be 1-255 visible ASCII characters"
        )
    body = await read_json(request)
    parsed = parse_task_input(body, rt.adapters, rt.settings.default_provider)
    if isinstance(parsed, list):
        raise invalid(parsed)

    now = rt.clock.now()
    adapter = rt.adapters[parsed.provider]
    task = Task(
        id=new_id("task", now),
        provider=parsed.provider,
        status=Status.QUEUED,
        spec=parsed.spec,
        created_at=now,
        updated_at=now,
        metadata=parsed.metadata,
        callback_mode=adapter.supports_callback,
    )
    request_hash = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    new = NewTask(task, now + rt.settings.task_deadline, key, request_hash if key else None)
    try:
        stored, created = await rt.store.create_task(new)
    except IdempotencyConflict as exc:
        raise Problem(
            409,
            "idempotency-conflict",
            f"this Idempotency-Key was already used for task {exc.task_id} with a different body; "
            "use a new key for a new request",
        ) from None
    if created:
        rt.wake.set()
    headers = {"location": f"/v1/tasks/{stored.id}"}
    if not created:
        headers["idempotent-replayed"] = "true"
    return JSONResponse(task_json(stored), status_code=202, headers=headers)


async def _load(rt: Runtime, task_id: str) -> Task:
    task = await rt.store.get_task(task_id) if ID_PATTERN.match(task_id) else None
    if task is None:
        raise not_found(f"task {task_id}")
    return task


async def get_task(request: Request) -> Response:
    task = await _load(runtime(request), request.path_params["task_id"])
    return JSONResponse(task_json(task))


async def list_tasks(request: Request) -> Response:
    rt = runtime(request)
    q = list_query(
        request,
        {"status": one_of(tuple(s.value for s in Status)), "provider": one_of(PROVIDERS)},
    )
    tasks = await rt.store.list_tasks(
        status=q.filters["status"], provider=q.filters["provider"], limit=q.limit + 1, after=q.after
    )
    return JSONResponse(page(tasks, q.limit, task_json, lambda t: t.id))


async def sync_task(request: Request) -> Response:
    """Ask the provider now and reconcile, as a poll would; the scheduled polls go on."""
    rt = runtime(request)
    task = await _load(rt, request.path_params["task_id"])
    if task.status.final:
        return JSONResponse(task_json(task))
    if task.provider_task_id is None:
        raise Problem(
            409,
            "not-submitted",
            f"task {task.id} has not been accepted by {task.provider} yet; nothing to ask about",
        )
    try:
        report = await query_status(rt, task.provider, task.provider_task_id)
    except TransientError as exc:
        raise Problem(
            502,
            "upstream-unavailable",
            f"{task.provider} did not answer usefully ({exc.code}: {exc.message}); "
            "nothing changed, try again later",
            extra={"provider_code": exc.code},
        ) from None
    except PermanentError as exc:
        raise Problem(
            502,
            "upstream-refused",
            f"{task.provider} refused the status query ({exc.code}: {exc.message}); nothing changed",
            extra={"provider_code": exc.code},
        ) from None
    applied = await rt.apply_report(task.id, report, rt.clock.now())
    if applied is None:
        raise not_found(f"task {task.id}")
    return JSONResponse(task_json(applied.task))


routes = [
    Route("/v1/tasks", create_task, methods=["POST"]),
    Route("/v1/tasks", list_tasks, methods=["GET"]),
    Route("/v1/tasks/{task_id}", get_task, methods=["GET"]),
    Route("/v1/tasks/{task_id}/sync", sync_task, methods=["POST"]),
]
