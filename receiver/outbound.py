"""Outbound HTTP (provider calls and webhook deliveries) over aiohttp's connection pool.

Measured on this 2-core machine against a 204 sink on the other core
(`scripts/bench b3` keeps the ceiling side of this): httpx's AsyncClient did
400-700 requests/s at 4 to 64 in flight, the httpx-aiohttp transport
900-2,700/s, aiohttp itself 2,600-12,000/s (httpx issue 3215). So requests
go out through aiohttp; adapters still build `httpx.Request` and parse
`httpx.Response` objects, which stay plain data here.

Failures are sorted by what they tell about the request's fate:
`NotSent` (the connection was never made: repeating cannot duplicate) and
`NoAnswer` (sent, or maybe sent, but no answer came: the outcome is unknown).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

import aiohttp
import httpx
from multidict import CIMultiDictProxy
from yarl import URL


class OutboundError(Exception):
    pass


class NotSent(OutboundError):
    """The request never left: connection refused, DNS failure, no free connection in time."""


class NoAnswer(OutboundError):
    """The request may have been received, but no (complete) answer came back."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes  # all of it, or the first `keep` bytes when a cap was asked for


class Outbound:
    def __init__(self, *, limit: int = 200, user_agent: str = "receiver") -> None:
        self.limit = limit
        self.user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.limit, limit_per_host=0, ttl_dns_cache=10, family=socket.AF_UNSPEC
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # Each request has its own deadline (`within`, asyncio.timeout): no
                # second, session-wide timer per request from aiohttp.
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None),
                skip_auto_headers=("User-Agent", "Content-Type"),
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
        """One request, redirects never followed; `keep` caps how much of the answer is read."""
        try:
            async with asyncio.timeout(within):
                async with self._client().request(
                    method,
                    URL(url, encoded=True),
                    headers=headers,
                    data=body or None,
                    allow_redirects=False,
                    server_hostname=server_hostname,
                ) as response:
                    data = await (
                        response.content.read(keep) if keep is not None else response.read()
                    )
                    return Answer(response.status, response.headers, data)
        except aiohttp.ClientConnectorError as exc:
            raise NotSent(f"cannot connect: {exc}") from exc
        except TimeoutError as exc:
            raise NoAnswer(f"no answer within {within:g} s") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise NoAnswer(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc

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
        if self._session is not None:
            await self._session.close()
            self._session = None
