"""Per-request bookkeeping as pure ASGI middleware: a request id, an access log line, a counter.

The request id is the caller's `X-Request-ID` when it is a sane token, a new
one otherwise; it is echoed in the answer and attached to every log line
written while the request is served.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from receiver.logs import request_id
from receiver.metrics import Metrics

log = logging.getLogger("receiver.access")
SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Unique without a random draw per request: 16 random hex digits per process, then a count.
_PREFIX = uuid.uuid4().hex[:16]
_COUNTER = itertools.count()


class Observe:
    def __init__(
        self, app: ASGIApp, metrics: Metrics, templates: Mapping[Callable[..., object], str]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = dict(templates)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope["headers"]:  # the last one, as a dict of them would have it
            if name == b"x-request-id":
                given = value
        rid = given.decode("latin-1") if given else ""
        if not (rid and SANE_ID.match(rid)):
            rid = f"{_PREFIX}{next(_COUNTER):08x}"
        header = (b"x-request-id", rid.encode())
        token = request_id.set(rid)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # The route template, never the raw path: callback paths carry a token.
            endpoint = scope.get("endpoint")
            route = self.templates.get(endpoint, "unmatched") if callable(endpoint) else "unmatched"
            method = scope["method"]
            self.metrics.requests.inc(method, route, str(status))
            # Successes at DEBUG (they are counted in the metrics), refusals at INFO,
            # failures at WARNING: one line per request would cost a busy ingest dearly.
            level = (
                logging.DEBUG if status < 400 else logging.INFO if status < 500 else logging.WARNING
            )
            if log.isEnabledFor(level):
                took = round((time.perf_counter() - started) * 1000, 3)
                fields = {"method": method, "route": route, "status": status, "duration_ms": took}
                log.log(level, "%s %s %s", method, route, status, extra=fields)
            request_id.reset(token)
