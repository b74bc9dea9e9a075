"""`POST /callbacks/{provider}/{token}`: where providers report back.

The answer is 200 only after the callback is stored in the inbox and its
reconciliation (task, events) is committed, in one transaction. Anything whose
token does not verify, has expired, or names another provider gets 404, the
same answer as a path that does not exist, so nothing is learned by probing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.core.ids import new_id
from receiver.core.reconcile import Verdict
from receiver.http.io import JSONResponse, read_body
from receiver.http.problems import Problem
from receiver.http.tasks import runtime
from receiver.runtime import Runtime
from receiver.store.base import InboxEntry

NOT_FOUND = Problem(404, "not-found", "no such callback URL")


async def receive_callback(request: Request) -> Response:
    rt = runtime(request)
    provider = request.path_params["provider"]
    try:
        response, outcome = await _receive(rt, request, provider)
    except Problem as problem:
        outcome = {404: "rejected", 413: "too_large"}.get(problem.status, problem.kind)
        raise
    except BaseException:
        outcome = "error"
        raise
    finally:
        label = provider if provider in rt.adapters else "unknown"
        rt.metrics.callbacks.labels(label, outcome).inc()
    return response


async def _receive(rt: Runtime, request: Request, provider: str) -> tuple[Response, str]:
    now = rt.clock.now()
    claim = rt.tokens.verify(request.path_params["token"], rt.callback_max_age)
    adapter = rt.adapters.get(provider)
    if (
        claim is None
        or claim.provider != provider
        or adapter is None
        or not adapter.supports_callback
    ):
        raise NOT_FOUND
    body = await read_body(request)
    try:
        report = adapter.parse_callback(body)
    except ValueError as exc:
        raise Problem(400, "bad-callback", f"not a {provider} callback body: {exc}") from None
    inbox = InboxEntry(new_id("cb", now), provider, now, body)
    applied = await rt.apply_report(claim.task_id, report, now, inbox=inbox)
    if applied is None:
        raise NOT_FOUND
    if applied.verdict is Verdict.MISMATCH:
        raise Problem(
            400,
            "callback-mismatch",
            f"this callback is about upstream task {report.provider_task_id}, "
            "not the task this URL was issued for; it was recorded and changed nothing",
        )
    answer = {"received": True, "callback_id": inbox.id, "outcome": applied.verdict.value}
    return JSONResponse(answer), applied.verdict.value


routes = [Route("/callbacks/{provider}/{token}", receive_callback, methods=["POST"])]
