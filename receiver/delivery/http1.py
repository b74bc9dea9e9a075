"""Webhook POSTs over HTTP/1.1: keep-alive connections on asyncio protocols, httptools parsing.

Why not aiohttp, which still makes every provider call (receiver/outbound.py): a
delivery is one narrow exchange (POST a body of known length, read the status,
the headers and the first few bytes of the answer), and aiohttp's general
machinery costs ~73-76 us of CPU per request on this machine (its session,
request and response objects, a task per request body, header maps), against
~12 us for the same exchange here and ~40 us for pyreqwest (Rust's reqwest),
all three against the same sink on the other core (BENCHMARKS.md, B3 and B5).
Deliveries are the service's busiest outbound path: every event goes to every
subscriber.

What this does, and no more:
- one request at a time on a connection, never pipelined; connections kept per
  destination (scheme, address, port, TLS name) and reused newest first;
- a connection idle for IDLE seconds is closed rather than reused: servers close
  idle keep-alive connections on their own schedule (Node's default is 5 s), and
  a request written into one the server is closing fails for nothing;
- TLS through asyncio's own SSL transport, with the name to verify given apart
  from the address connected to (deliveries connect to the address they checked,
  see receiver/delivery/addresses.py);
- answers with a Content-Length, chunked, or ended by the server closing the
  connection; 1xx interim answers skipped; at most `keep` bytes of a body kept,
  and a connection whose answer was longer than that is closed, not reused;
- no redirects, cookies, proxies or compression, none of which a webhook wants.

Failures say whether the request may have left: `ConnectFailed` (no connection,
so nothing was sent) or `ExchangeFailed` (written, or perhaps written, and no
complete answer). Timeouts are the caller's (Outbound's deadlines cancel the
task; the connection is then dropped).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from functools import lru_cache
from typing import NamedTuple, cast
from urllib.parse import urlsplit

import httptools

IDLE = 4.0  # seconds a kept connection may wait for its next request
MAX_IDLE = 256  # connections kept per destination
MAX_HEAD = 64 * 1024  # bytes of answer headers accepted
_UNSAFE = re.compile(r"[\r\n\0]")


class ConnectFailed(Exception):
    """No connection was made: the request was never sent."""


class ExchangeFailed(Exception):
    """The request was sent, or may have been, and no complete answer came."""


class Reply(NamedTuple):
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class _Destination(NamedTuple):
    tls: bool
    host: str  # the address (or name) to connect to
    port: int
    target: str  # path and query, for the request line
    authority: str  # the Host header's value when the caller gives none


@lru_cache(maxsize=4096)
def _destination(url: str) -> _Destination:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectFailed(f"not an http(s) URL: {url!r}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    if _UNSAFE.search(target) or " " in target:
        raise ConnectFailed("the URL's path cannot go on a request line")
    host = parts.hostname
    literal = f"[{host}]" if ":" in host else host
    default = port == (443 if tls else 80)
    return _Destination(tls, host, port, target, literal if default else f"{literal}:{port}")


class _Connection(asyncio.Protocol):
    """One connection: a request written whole, its answer parsed as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Reply] | None = None
        self.keep = 0
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.head_bytes = 0
        self.body = bytearray()
        self.closed = False
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.keep_alive = False  # whether the answer lets the connection be reused
        self.last_used = 0.0

    # asyncio's side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # nothing asked: a server talking out of turn
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ExchangeFailed(f"malformed answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.lost.done():
            self.lost.set_result(None)
        if self.waiter is None or self.waiter.done():
            return
        if self.status >= 200:  # an answer whose body ends with the connection
            self._answer()
        else:
            why = f": {exc}" if exc else ""
            self._fail(ExchangeFailed(f"connection closed before an answer{why}"))

    # httptools' side

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_bytes += len(name) + len(value)
        if self.head_bytes > MAX_HEAD:
            raise ExchangeFailed("answer headers too large")
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        # Read here: once the message is complete the parser has moved on to the next.
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        if self.status < 200 or self.waiter is None:  # interim, or answered past `keep`
            return
        room = self.keep - len(self.body)
        if len(body) <= room:
            self.body += body
            return
        self.body += body[:room]
        self._answer()  # the rest is not wanted: answer now, and drop the connection
        self.close()

    def on_message_complete(self) -> None:
        if self.status < 200:  # an interim answer (100 Continue and the like)
            self.status, self.headers, self.head_bytes = 0, [], 0
            return
        self._answer()

    # ours

    def exchange(self, request: bytes, keep: int) -> asyncio.Future[Reply]:
        assert self.transport is not None and self.waiter is None
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        if not self.open():  # nothing would ever answer
            self._fail(ExchangeFailed("connection closed before an answer"))
            return self.waiter
        self.keep = keep
        try:
            self.transport.write(request)
        except (RuntimeError, OSError) as exc:  # uvloop raises on a handle closed meanwhile
            self._fail(ExchangeFailed(f"connection closed before an answer: {exc}"))
        return self.waiter

    def open(self) -> bool:
        """Not closed, nor closing: a transport the peer closed is marked closing (and
        uvloop refuses writes to it) before `connection_lost` reaches us."""
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def reusable(self) -> bool:
        return self.keep_alive and self.open()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _answer(self) -> None:
        waiter, self.waiter = self.waiter, None
        reply = Reply(self.status, self.headers, bytes(self.body))
        self.status, self.headers, self.head_bytes = 0, [], 0
        self.body = bytearray()
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)

    def _fail(self, error: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.abort()


class Http1Pool:
    """Keep-alive connections per destination, for `post`."""

    def __init__(
        self, *, user_agent: str, ssl_context: ssl.SSLContext | None = None, idle: float = IDLE
    ) -> None:
        self.user_agent = user_agent
        self.idle = idle
        self._ssl = ssl_context
        self._idle: dict[tuple[bool, str, int, str | None], list[_Connection]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    async def post(
        self,
        url: str,
        headers: dict[str, str],
        body: bytes,
        *,
        keep: int,
        server_hostname: str | None = None,
    ) -> Reply:
        """POST `body` to `url`; `headers` may name the Host (a pinned address's name),
        and `server_hostname` is the name TLS verifies when `url` holds an address."""
        dest = _destination(url)
        request = self._request(dest, headers, body)
        key = (dest.tls, dest.host, dest.port, server_hostname)
        conn = self._kept(key) or await self._connect(dest, server_hostname)
        try:
            reply = await conn.exchange(request, keep)
        except BaseException:  # cancelled (a deadline) or failed: its state is unknown
            conn.abort()
            raise
        if conn.reusable() and not self._closed:
            self._keep(key, conn)
        else:
            conn.close()
        return reply

    def _request(self, dest: _Destination, headers: dict[str, str], body: bytes) -> bytes:
        host = dest.authority
        agent = True  # ours, unless the caller names one
        lines = [f"POST {dest.target} HTTP/1.1\r\n"]
        for name, value in headers.items():
            if _UNSAFE.search(name) or _UNSAFE.search(value):
                raise ConnectFailed(f"header {name!r} holds a line break")
            lower = name.lower()
            if lower == "host":
                host = value
                continue
            if lower == "content-length":
                continue
            agent = agent and lower != "user-agent"
            lines.append(f"{name}: {value}\r\n")
        if agent:
            lines.append(f"user-agent: {self.user_agent}\r\n")
        lines.append(f"host: {host}\r\ncontent-length: {len(body)}\r\n\r\n")
        return "".join(lines).encode("latin-1") + body

    def _kept(self, key: tuple[bool, str, int, str | None]) -> _Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = asyncio.get_running_loop().time()
        while idle:
            conn = idle.pop()  # the newest: the likeliest to be warm and open
            if conn.open() and now - conn.last_used < self.idle:
                return conn
            conn.close()
        return None

    async def _connect(self, dest: _Destination, server_hostname: str | None) -> _Connection:
        if self._closed:
            raise ConnectFailed("the client is closed")
        loop = asyncio.get_running_loop()
        tls: ssl.SSLContext | None = None
        if dest.tls:
            tls = self._ssl if self._ssl is not None else _default_context()
        try:
            _, conn = await loop.create_connection(
                _Connection,
                dest.host,
                dest.port,
                ssl=tls,
                server_hostname=(server_hostname or dest.host) if tls is not None else None,
            )
        except (OSError, ssl.SSLError) as exc:  # refused, unreachable, unresolvable, bad cert
            raise ConnectFailed(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
        return conn

    def _keep(self, key: tuple[bool, str, int, str | None], conn: _Connection) -> None:
        loop = asyncio.get_running_loop()
        conn.last_used = loop.time()
        idle = self._idle.setdefault(key, [])
        if len(idle) >= MAX_IDLE:
            conn.close()
            return
        idle.append(conn)
        if self._sweeper is None:
            self._sweeper = loop.call_later(self.idle, self._sweep)

    def _sweep(self) -> None:
        """Close what has idled `idle` seconds, so kept connections do not linger."""
        self._sweeper = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for key, idle in list(self._idle.items()):
            fresh = [c for c in idle if c.open() and now - c.last_used < self.idle]
            for conn in idle:
                if conn not in fresh:
                    conn.close()
            if fresh:
                self._idle[key] = fresh
            else:
                del self._idle[key]
        if self._idle:
            self._sweeper = loop.call_later(self.idle, self._sweep)

    def kept(self) -> int:
        """Connections kept open for reuse, over every destination."""
        return sum(1 for idle in self._idle.values() for conn in idle if conn.open())

    async def close(self) -> None:
        """Close the kept connections and wait (a second at most) until they are gone,
        so none outlives the loop. Connections in use are dropped by their requests."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        kept = [conn for idle in self._idle.values() for conn in idle]
        self._idle.clear()
        for conn in kept:
            conn.close()
        if kept:
            await asyncio.wait([conn.lost for conn in kept], timeout=1.0)


@lru_cache(maxsize=1)
def _default_context() -> ssl.SSLContext:
    return ssl.create_default_context()
