"""The deliveries' HTTP/1.1 client against real servers on loopback: a raw one that
answers with exact bytes, and uvicorn with TLS."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
import trustme
import uvicorn
from support import Subscriber, until

from receiver.delivery.http1 import Http1Pool
from receiver.outbound import NoAnswer, NotSent, Outbound


@dataclass
class RawServer:
    """Reads each request whole (head and Content-Length body) and answers with the next
    scripted bytes; b"" closes the connection without answering, and an answer that ends
    with CLOSE is written and the connection closed after it, unasked."""

    script: list[bytes] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    closed: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                except asyncio.CancelledError:  # the test is over: a connection left open
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.requests.append(head + await reader.readexactly(length))
                answer = self.script.pop(0) if self.script else NO_CONTENT
                if not answer:
                    return
                writer.write(answer.removesuffix(CLOSE))
                await writer.drain()
                if answer.endswith(CLOSE) or answer.startswith(b"HTTP/1.0"):
                    return
        finally:
            writer.close()
            self.closed += 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook?x=1"


NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"
CLOSE = b"<close>"


@asynccontextmanager
async def raw_server() -> AsyncIterator[RawServer]:
    raw = RawServer()
    server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    raw.port = server.sockets[0].getsockname()[1]
    try:
        yield raw
    finally:
        server.close()
        for writer in raw.writers:  # closed, and gone before the test's loop is
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@asynccontextmanager
async def pool(**options: object) -> AsyncIterator[Http1Pool]:
    client = Http1Pool(user_agent="receiver/test", **options)  # type: ignore[arg-type]
    try:
        yield client
    finally:
        await client.close()


HEADERS = {"content-type": "application/json", "webhook-id": "evt_1"}


async def test_a_post_carries_its_headers_and_body_and_the_connection_is_kept() -> None:
    async with raw_server() as server, pool() as client:
        server.script = [
            b"HTTP/1.1 200 OK\r\nretry-after: 30\r\ncontent-length: 2\r\n\r\nok",
            NO_CONTENT,
        ]
        first = await client.post(server.url, HEADERS, b'{"a":1}', keep=1024)
        second = await client.post(server.url, HEADERS, b'{"b":2}', keep=1024)
        assert (first.status, first.body) == (200, b"ok")
        assert ("retry-after", "30") in first.headers
        assert (second.status, second.body) == (204, b"")
        assert server.connections == 1  # both on one kept connection
        head, body = server.requests[0].split(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        assert lines[0] == "POST /hook?x=1 HTTP/1.1"
        assert sorted(lines[1:]) == sorted(
            [
                "content-type: application/json",
                "webhook-id: evt_1",
                "user-agent: receiver/test",
                f"host: 127.0.0.1:{server.port}",
                "content-length: 7",
            ]
        )
        assert body == b'{"a":1}'


async def test_a_host_and_user_agent_the_caller_names_replace_the_defaults() -> None:
    async with raw_server() as server, pool() as client:
        named = {**HEADERS, "host": "hooks.example.com", "User-Agent": "theirs/1"}
        await client.post(server.url, named, b"{}", keep=10)
        head = server.requests[0].decode()
        assert "\r\nhost: hooks.example.com\r\n" in head and head.count("host:") == 1
        assert head.lower().count("user-agent:") == 1 and "User-Agent: theirs/1" in head


async def test_chunked_answers_and_answers_ended_by_closing_are_read_whole() -> None:
    async with raw_server() as server, pool() as client:
        server.script = [
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            b"HTTP/1.0 500 Oops\r\n\r\nboom",  # no length: the body ends with the connection
            NO_CONTENT,
        ]
        chunked = await client.post(server.url, HEADERS, b"{}", keep=1024)
        closing = await client.post(server.url, HEADERS, b"{}", keep=1024)
        after = await client.post(server.url, HEADERS, b"{}", keep=1024)
        assert (chunked.status, chunked.body) == (200, b"hello")
        assert (closing.status, closing.body) == (500, b"boom")
        assert after.status == 204
        assert server.connections == 2  # the closed one was not reused


async def test_only_the_first_bytes_asked_for_are_kept_and_that_connection_is_dropped() -> None:
    async with raw_server() as server, pool() as client:
        big = b"x" * 100_000
        server.script = [b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(big) + big]
        reply = await client.post(server.url, HEADERS, b"{}", keep=100)
        assert reply.body == b"x" * 100
        assert (await client.post(server.url, HEADERS, b"{}", keep=100)).status == 204
        assert server.connections == 2


async def test_interim_answers_are_skipped() -> None:
    async with raw_server() as server, pool() as client:
        server.script = [
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok"
        ]
        reply = await client.post(server.url, HEADERS, b"{}", keep=10)
        assert (reply.status, reply.body) == (201, b"ok")


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async with raw_server() as server, pool() as client:
        server.script = [NO_CONTENT + CLOSE]  # a keep-alive answer, then the server hangs up
        await client.post(server.url, HEADERS, b"{}", keep=10)
        await until(lambda: server.closed == 1 and client.kept() == 0, what="the hang-up seen")
        after = await asyncio.wait_for(client.post(server.url, HEADERS, b"{}", keep=10), 5)
        assert after.status == 204
        assert server.connections == 2


async def test_connections_idle_past_the_limit_are_not_reused() -> None:
    async with raw_server() as server, pool(idle=0.0) as client:
        for _ in range(3):
            assert (await client.post(server.url, HEADERS, b"{}", keep=10)).status == 204
        assert server.connections == 3


async def test_failures_say_whether_the_request_may_have_left() -> None:
    outbound = Outbound(user_agent="receiver/test")
    try:
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            refused = f"http://127.0.0.1:{unused.getsockname()[1]}/hook"
            with pytest.raises(NotSent, match="cannot connect"):
                await outbound.post(refused, headers=HEADERS, body=b"{}", within=5, keep=10)
        async with raw_server() as server:
            with pytest.raises(NotSent, match="line break"):
                await outbound.post(
                    server.url, headers={"x-bad": "a\r\nb: c"}, body=b"{}", within=5, keep=10
                )
            assert server.requests == []  # nothing was written
            server.script = [b"", b"NOT HTTP AT ALL\r\n\r\n"]
            with pytest.raises(NoAnswer, match="closed before an answer"):
                await outbound.post(server.url, headers=HEADERS, body=b"{}", within=5, keep=10)
            with pytest.raises(NoAnswer, match="malformed answer"):
                await outbound.post(server.url, headers=HEADERS, body=b"{}", within=5, keep=10)
            answer = await outbound.post(server.url, headers=HEADERS, body=b"{}", within=5, keep=10)
            assert answer.status == 204
    finally:
        await outbound.close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def test_tls_connects_to_the_address_and_verifies_the_name(ca: trustme.CA) -> None:
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    outbound = Outbound(ssl_context=client_context)
    endpoint = Subscriber()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    try:
        async with _serve_tls(endpoint, sock, ca.issue_cert("hooks.example.com")) as url:
            address = f"{url}/hook"
            pinned = {**HEADERS, "host": "hooks.example.com"}
            answer = await outbound.post(
                address,
                headers=pinned,
                body=b"{}",
                within=5,
                keep=10,
                server_hostname="hooks.example.com",
            )
            assert answer.status == 204
            assert endpoint.received[0].headers["host"] == "hooks.example.com"
            with pytest.raises(NotSent, match="cannot connect"):
                await outbound.post(
                    address,
                    headers=pinned,
                    body=b"{}",
                    within=5,
                    keep=10,
                    server_hostname="other.example.com",
                )
            assert len(endpoint.received) == 1  # the second never reached it
    finally:
        await outbound.close()


@asynccontextmanager
async def _serve_tls(
    endpoint: Subscriber, sock: socket.socket, cert: trustme.LeafCert
) -> AsyncIterator[str]:
    """`endpoint` under uvicorn with TLS on `sock`, for the name `cert` was issued to."""
    with cert.private_key_pem.tempfile() as key, cert.cert_chain_pems[0].tempfile() as chain:
        config = uvicorn.Config(
            endpoint.app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            ssl_keyfile=key,
            ssl_certfile=chain,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        await until(lambda: server.started or task.done(), what="server start")
        try:
            yield f"https://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            endpoint.release.set()
            server.should_exit = True
            await task
