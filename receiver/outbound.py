"""Outbound HTTP: provider calls over aiohttp's connection pool, webhook deliveries over
our own HTTP/1.1 client (`post`, receiver/delivery/http1.py: a sixth of aiohttp's CPU
per request, for the service's busiest path).

Measured on this 2-core machine against a 204 sink on the other core
(an earlier session's `scripts/bench b3`): httpx's AsyncClient did 400-700
requests/s at 4 to 64 in flight, the httpx-aiohttp transport 900-2,700/s,
aiohttp itself 2,600-12,000/s (httpx issue 3215). So provider calls go out
through aiohttp; adapters still build `httpx.Request` and parse
`httpx.Response` objects, which stay plain data here. Deliveries measured
again (64 in flight, a bare sink on the other core, CPU per request of this
process): aiohttp 70-83 us, pyreqwest 40 us, `post` 20-22 us.

Failures are sorted by what they tell about the request's fate:
`NotSent` (the connection was never made: repeating cannot duplicate) and
`NoAnswer` (sent, or maybe sent, but no answer came: the outcome is unknown).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass, field

import aiohttp
import httpx
import msgspec
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from receiver.delivery.http1 import ConnectFailed, ExchangeFailed, Http1Pool


class OutboundError(Exception):
    pass


class NotSent(OutboundError):
    """The request never left: connection refused, DNS failure, no free connection in time."""


class NoAnswer(OutboundError):
    """The request may have been received, but no (complete) answer came back."""


class Answer(msgspec.Struct, frozen=True):
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes  # all of it, or the first `keep` bytes when a cap was asked for


@dataclass(eq=False, slots=True)
class _Deadline:
    task: asyncio.Task[object]
    at: float  # loop time
    expired: bool = field(default=False)


class Deadlines:
    """Deadlines for many requests kept by one timer, checked every `resolution` seconds
    while any is pending. `asyncio.timeout` arms and cancels a timer of its own per
    request, a libuv handle under uvloop: ~8 us of the dispatcher's loop per delivery
    (B3), against a set insertion here. A request that runs out is cancelled up to
    `resolution` late, which for deadlines of seconds (deliveries, provider calls) is
    in the noise."""

    def __init__(self, resolution: float = 0.05) -> None:
        self.resolution = resolution
        self._pending: set[_Deadline] = set()
        self._timer: asyncio.TimerHandle | None = None

    def enter(self, within: float) -> _Deadline:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline needs a running task")
        loop = task.get_loop()
        deadline = _Deadline(task, loop.time() + within)
        self._pending.add(deadline)
        if self._timer is None:
            self._timer = loop.call_later(min(self.resolution, max(within, 0.0)), self._sweep)
        return deadline

    def leave(self, deadline: _Deadline) -> None:
        self._pending.discard(deadline)

    def _sweep(self) -> None:
        self._timer = None
        if not self._pending:
            return
        loop = next(iter(self._pending)).task.get_loop()
        now = loop.time()
        for deadline in [d for d in self._pending if d.at <= now]:
            self._pending.discard(deadline)
            deadline.expired = True
            deadline.task.cancel()
        if self._pending:
            self._timer = loop.call_later(self.resolution, self._sweep)


class Outbound:
    def __init__(
        self,
        *,
        limit: int = 200,
        user_agent: str = "receiver",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.limit = limit
        self.user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        # Webhook deliveries' POSTs (see `post`); `ssl_context` is for tests' own CAs.
        self._posts = Http1Pool(user_agent=user_agent, ssl_context=ssl_context)
        self.deadlines = Deadlines()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.limit, limit_per_host=0, ttl_dns_cache=10, family=socket.AF_UNSPEC
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # Each request has its own deadline (`within`, see Deadlines): no
                # second, session-wide timer per request from aiohttp.
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None),
                # No skip_auto_headers: with it aiohttp rebuilds and copies a header map
                # for every request (9.5 against 7.2 us to make a request object), and
                # its defaults never apply to us anyway: the session's user-agent is
                # ours, and every body we send has its content-type (deliveries,
                # providers' JSON).
                # No cookies kept or sent: a subscriber's or provider's Set-Cookie must
                # not ride along on later requests (and the jar costs every request).
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"user-agent": self.user_agent},
            )
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        within: float,
        keep: int | None = None,
        server_hostname: str | None = None,
    ) -> Answer:
        """One request, redirects never followed; `keep` caps how much of the answer is read.
        No answer within `within` seconds (give or take the deadlines' resolution):
        `NoAnswer`."""
        deadline = self.deadlines.enter(within)
        try:
            async with self._client().request(
                method,
                URL(url, encoded=True),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                server_hostname=server_hostname,
            ) as response:
                data = await (response.content.read(keep) if keep is not None else response.read())
                return Answer(response.status, response.headers, data)
        except asyncio.CancelledError as exc:
            # Ours (the deadline ran out) unless somebody else cancelled the task too.
            if deadline.expired and deadline.task.uncancel() == 0:
                raise NoAnswer(f"no answer within {within:g} s") from exc
            raise
        except aiohttp.ClientConnectorError as exc:
            self._spent(deadline)
            raise NotSent(f"cannot connect: {exc}") from exc
        except TimeoutError as exc:
            self._spent(deadline)
            raise NoAnswer(f"no answer within {within:g} s") from exc
        except (aiohttp.ClientError, OSError) as exc:
            self._spent(deadline)
            raise NoAnswer(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
        finally:
            self.deadlines.leave(deadline)

    async def post(
        self,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes,
        within: float,
        keep: int,
        server_hostname: str | None = None,
    ) -> Answer:
        """A webhook delivery's POST, on the lean HTTP/1.1 client (receiver/delivery/http1.py:
        a sixth of aiohttp's CPU per request); the same answers and failures as `request`."""
        deadline = self.deadlines.enter(within)
        try:
            reply = await self._posts.post(
                url, headers, body, keep=keep, server_hostname=server_hostname
            )
            return Answer(reply.status, CIMultiDictProxy(CIMultiDict(reply.headers)), reply.body)
        except asyncio.CancelledError as exc:
            if deadline.expired and deadline.task.uncancel() == 0:
                raise NoAnswer(f"no answer within {within:g} s") from exc
            raise
        except ConnectFailed as exc:
            raise NotSent(f"cannot connect: {exc}") from exc
        except ExchangeFailed as exc:
            raise NoAnswer(str(exc)) from exc
        finally:
            self.deadlines.leave(deadline)

    @staticmethod
    def _spent(deadline: _Deadline) -> None:
        """The deadline's cancellation came out as another error (the client caught it):
        take the request back, so the task (a long-lived worker) is not left cancelling."""
        if deadline.expired:
            deadline.task.uncancel()

    async def send(self, request: httpx.Request, within: float) -> httpx.Response:
        """Send an adapter's request; the answer comes back as an httpx.Response."""
        answer = await self.request(
            request.method,
            str(request.url),
            # aiohttp computes Host and Content-Length itself.
            headers={
                k: v for k, v in request.headers.items() if k not in ("host", "content-length")
            },
            body=request.content,
            within=within,
        )
        return httpx.Response(
            answer.status,
            headers=list(answer.headers.items()),
            content=answer.body,
            request=request,
        )

    async def close(self) -> None:
        await self._posts.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
