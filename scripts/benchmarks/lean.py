"""B5's load tools: a webhook sink and an open-loop sender on bare asyncio protocols.

B5 counts latency from each callback's intended send time to the sink's receipt
of its event, and the sender and the sink share the other core. Built on
uvicorn with Starlette (the sink) and aiohttp (the sender), they took ~100-150 us
of that core per request each; near B5's rates that core ran 60-98 % busy, the
sender went out late (its lag p99 49 ms at 2,500/s, 115 ms at 2,717/s) and the
sink's receipts waited behind the sender. Both count against the service. These
do only what the measurement needs, with httptools (uvicorn's own parser) for
HTTP/1.1: keep-alive connections, one request at a time on each, bodies with
a Content-Length. They are load tools, not clients or servers for anything else.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import cast

import httptools
import orjson


class _SinkConnection(asyncio.Protocol):
    """One connection to the sink: answers each POST with 204 and notes its receipt."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.webhook_id = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_message_begin(self) -> None:
        self.url = b""
        self.webhook_id = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"webhook-id":
            self.webhook_id = value

    def on_message_complete(self) -> None:
        assert self.transport is not None
        method = self.parser.get_method()
        if method == b"POST":
            self.sink.receipts.append((self.webhook_id.decode(), time.time()))
            self.transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            return
        path = self.url.split(b"?", 1)[0]
        if path == b"/receipts":
            body = orjson.dumps({"receipts": self.sink.receipts})
        elif path == b"/healthz":
            body = b'{"status":"ok"}'
        else:
            self.transport.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
            return
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
        self.transport.write(head % len(body) + body)


@dataclass
class Sink:
    """The sink's state: (webhook-id, receipt time) per delivery, in arrival order."""

    receipts: list[tuple[str, float]] = field(default_factory=list)

    def connection(self) -> _SinkConnection:
        return _SinkConnection(self)


async def start_sink(host: str, port: int) -> asyncio.Server:
    """A sink listening on host:port, until the server is closed."""
    sink = Sink()
    return await asyncio.get_running_loop().create_server(sink.connection, host, port, backlog=1024)


async def serve_sink(host: str, port: int) -> None:
    """Serve the sink until cancelled (as `servers.py lean-sink PORT` does)."""
    async with await start_sink(host, port) as server:
        await server.serve_forever()


class _SenderConnection(asyncio.Protocol):
    """One keep-alive connection of the sender: one request at a time."""

    def __init__(self, sender: _Sender) -> None:
        self.sender = sender
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.pending: tuple[str, float] | None = None  # (key, intended send time)
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, request: bytes, key: str, at: float) -> None:
        assert self.transport is not None
        self.pending = (key, at)
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None:
            self.sender.answered(self, pending, self.parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        self.sender.lost(self)
        if not self.closed.done():
            self.closed.set_result(None)


class _Sender:
    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port, self.limit = host, port, limit
        self.idle: deque[_SenderConnection] = deque()
        self.opened: set[_SenderConnection] = set()
        self.opening: set[asyncio.Future[None]] = set()  # connections being opened
        self.waiting: deque[tuple[bytes, str, float]] = deque()  # for a free connection
        self.answers: dict[str, float] = {}  # key answered 200 -> its intended send time
        self.failures = 0
        self.problems: list[str] = []
        self.error: OSError | None = None  # a connection that could not be opened
        self.outstanding = 0
        self.done: asyncio.Future[None] | None = None  # while `drain` waits

    def submit(self, request: bytes, key: str, at: float) -> None:
        self.outstanding += 1
        if self.idle:
            self.idle.popleft().send(request, key, at)
            return
        self.waiting.append((request, key, at))
        if len(self.opened) + len(self.opening) < self.limit:
            opening = asyncio.ensure_future(self._open())
            self.opening.add(opening)  # kept until done: the loop holds tasks weakly
            opening.add_done_callback(self.opening.discard)

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(
                lambda: _SenderConnection(self), self.host, self.port
            )
        except OSError as exc:  # the run is void: say so rather than wait forever
            self.error = exc
            self._check_drained()
            return
        self.opened.add(conn)
        self._next(conn)

    def _next(self, conn: _SenderConnection) -> None:
        if self.waiting:
            conn.send(*self.waiting.popleft())
        else:
            self.idle.append(conn)

    def answered(self, conn: _SenderConnection, pending: tuple[str, float], status: int) -> None:
        key, at = pending
        if status == 200:
            self.answers[key] = at
        else:
            self.failures += 1
            self.problems.append(f"{key}: HTTP {status}")
        self.outstanding -= 1
        self._next(conn)
        self._check_drained()

    def lost(self, conn: _SenderConnection) -> None:
        self.opened.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        if conn.pending is not None:  # the service never answered this one
            self.problems.append(f"{conn.pending[0]}: the connection closed unanswered")
            conn.pending = None
            self.failures += 1
            self.outstanding -= 1
            self._check_drained()

    def _check_drained(self) -> None:
        if self.done is not None and not self.done.done():
            if self.error is not None:
                self.done.set_exception(self.error)
            elif not self.outstanding:
                self.done.set_result(None)

    async def drain(self) -> None:
        """Wait until every request submitted has its answer (or its failure)."""
        while self.outstanding and self.error is None:
            self.done = asyncio.get_running_loop().create_future()
            await self.done
        if self.error is not None:
            raise self.error

    async def close(self) -> None:
        for conn in list(self.opened):
            if conn.transport is not None:
                conn.transport.close()
            await conn.closed


@dataclass
class Sent:
    answered: dict[str, float]  # each key answered 200: when it was due to go out
    late_ms: list[float]  # how late each request went out (the sender's own lag)
    failures: int
    problems: list[str]  # what became of those not answered 200, the first few


def request_bytes(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def send_at_rate(
    host: str, port: int, requests: list[tuple[str, bytes]], rate: float, *, limit: int = 256
) -> Sent:
    """Open loop: request i (key, raw HTTP request) goes out at start + i / rate on a
    free keep-alive connection (a new one while fewer than `limit` are open),
    whatever happened to the others."""
    sender = _Sender(host, port, limit)
    late_ms: list[float] = []
    start = time.time() + 0.2
    for i, (key, raw) in enumerate(requests):
        at = start + i / rate
        delay = at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        late_ms.append(max(0.0, time.time() - at) * 1000)
        sender.submit(raw, key, at)
    await sender.drain()
    await sender.close()
    return Sent(sender.answers, late_ms, sender.failures, sender.problems[:5])
