"""`POST /callbacks/{provider}/{token}`: where providers report back.

The answer is 200 only after the callback is stored in the inbox and its
reconciliation (task, events) is committed, in one transaction. Anything whose
token does not verify, has expired, or names another provider gets 404, the
same answer as a path that does not exist, so nothing is learned by probing.

This is the busiest path (B1), so `CallbackIngest` serves it straight from
ASGI, in front of Starlette's exception middleware and router: no route
matching, no Request or Response objects, the body read from `receive` as it
comes. It sits inside `Observe` (request id, metrics, access log) and
Starlette's server-error middleware, like every route, and answers exactly
what the route below it would: the route stays for other methods (405), for
paths the fast path leaves alone, and for the API description.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from receiver.core.ids import new_id
from receiver.core.reconcile import Verdict
from receiver.http.io import MAX_BODY, JSONResponse, read_body
from receiver.http.problems import Problem
from receiver.http.tasks import runtime
from receiver.runtime import Runtime
from receiver.store.base import InboxEntry

NOT_FOUND = Problem(404, "not-found", "no such callback URL")
TOO_LARGE = Problem(413, "too-large", f"the body is larger than {MAX_BODY} bytes")
PATH = "/callbacks/{provider}/{token}"


async def receive_callback(request: Request) -> Response:
    """The route: what the fast path does, for requests that reach the router."""
    params = request.path_params
    status, answer = await ingest(
        runtime(request), params["provider"], params["token"], lambda: read_body(request)
    )
    return JSONResponse(answer, status_code=status)


async def ingest(
    rt: Runtime, provider: str, token: str, read: Callable[[], Awaitable[bytes]]
) -> tuple[int, dict[str, object]]:
    """Verify, parse, reconcile and store one callback; raises Problem for bad ones."""
    try:
        answer, outcome = await _receive(rt, provider, token, read)
    except Problem as problem:
        outcome = {404: "rejected", 413: "too_large"}.get(problem.status, problem.kind)
        raise
    except BaseException:
        outcome = "error"
        raise
    finally:
        label = provider if provider in rt.adapters else "unknown"
        rt.metrics.callbacks.inc(label, outcome)
    return 200, answer


async def _receive(
    rt: Runtime, provider: str, token: str, read: Callable[[], Awaitable[bytes]]
) -> tuple[dict[str, object], str]:
    now = rt.clock.now()
    claim = rt.tokens.verify(token, rt.callback_max_age)
    adapter = rt.adapters.get(provider)
    if (
        claim is None
        or claim.provider != provider
        or adapter is None
        or not adapter.supports_callback
    ):
        raise NOT_FOUND
    body = await read()
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
    return answer, applied.verdict.value


class CallbackIngest:
    """Pure ASGI middleware serving POST /callbacks/{provider}/{token} itself."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.rt = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            # What the route's pattern matches: two non-empty segments after /callbacks/.
            parts = scope["path"].split("/")
            if len(parts) == 4 and parts[1] == "callbacks" and parts[2] and parts[3]:
                scope["endpoint"] = receive_callback  # Observe names the route by it
                await self._serve(scope, receive, send, parts[2], parts[3])
                return
        await self.app(scope, receive, send)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, provider: str, token: str
    ) -> None:
        async def read() -> bytes:
            return await _read_body(scope, receive)

        try:
            status, answer = await ingest(self.rt, provider, token, read)
        except Problem as problem:
            await problem.response()(scope, receive, send)
            return
        body = orjson.dumps(answer)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _read_body(scope: Scope, receive: Receive, limit: int = MAX_BODY) -> bytes:
    """`io.read_body` without a Request: the same cap, before and while reading."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.isdigit() and len(value) <= 19 and int(value) > limit:
                raise TOO_LARGE
            break
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Problem(400, "client-disconnected", "the client went away mid-request")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TOO_LARGE
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


routes = [Route(PATH, receive_callback, methods=["POST"])]
