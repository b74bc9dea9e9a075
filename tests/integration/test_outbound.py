"""The outbound client against a real endpoint on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import httpx
import pytest
from support import subscriber, until

from receiver.outbound import Answer, NoAnswer, Outbound


async def test_cookies_a_destination_sets_are_never_sent_back() -> None:
    outbound = Outbound()
    try:
        async with subscriber() as endpoint:
            # By name: a cookie jar ignores cookies from bare IP addresses.
            url = endpoint.url.replace("127.0.0.1", "localhost")
            endpoint.script = [(200, {"set-cookie": "session=abc; Path=/"})]
            first = await outbound.request("POST", url, body=b"{}", within=5)
            assert first.headers.get("set-cookie") == "session=abc; Path=/"
            await outbound.request("POST", url, body=b"{}", within=5)
            assert [r.headers.get("cookie") for r in endpoint.received] == [None, None]
    finally:
        await outbound.close()


def _send(outbound: Outbound, how: str, url: str, within: float) -> Awaitable[Answer]:
    """A provider call (`request`) or a delivery's POST (`post`, the lean client)."""
    if how == "request":
        return outbound.request("POST", url, body=b"{}", within=within)
    return outbound.post(url, headers={}, body=b"{}", within=within, keep=1024)


@pytest.mark.parametrize("how", ["request", "post"])
async def test_a_request_past_its_deadline_ends_as_no_answer_and_the_task_lives_on(
    how: str,
) -> None:
    outbound = Outbound()
    outbound.deadlines.resolution = 0.02
    try:
        async with subscriber() as endpoint:
            endpoint.hold = True  # takes the request, never answers (until released)
            with pytest.raises(NoAnswer, match=r"no answer within 0\.1 s"):
                await _send(outbound, how, endpoint.url, 0.1)
            task = asyncio.current_task()
            assert task is not None and task.cancelling() == 0  # not left cancelled
            assert not outbound.deadlines._pending
            endpoint.hold = False
            answer = await _send(outbound, how, endpoint.url, 5)
            assert answer.status == 204
    finally:
        await outbound.close()


async def test_a_cancelled_request_is_cancelled_not_timed_out_and_deadlines_are_let_go() -> None:
    outbound = Outbound()
    try:
        async with subscriber() as endpoint:
            endpoint.hold = True
            request = asyncio.ensure_future(
                outbound.request("POST", endpoint.url, body=b"{}", within=30)
            )
            await until(lambda: len(endpoint.received) == 1, within=5, what="the request")
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request
            assert not outbound.deadlines._pending  # nothing left to cancel later
    finally:
        await outbound.close()


async def test_a_provider_call_carries_our_user_agent_and_its_own_content_type() -> None:
    outbound = Outbound(user_agent="receiver/test")
    try:
        async with subscriber() as endpoint:
            request = httpx.Request(
                "POST",
                endpoint.url,
                headers={"Content-Type": "application/json", "Authorization": "Bearer k"},
                content=b"{}",
            )
            await outbound.send(request, within=5)
            (received,) = endpoint.received
            assert received.headers["user-agent"] == "receiver/test"  # never aiohttp's
            assert received.headers["content-type"] == "application/json"
            assert received.headers["authorization"] == "Bearer k"
    finally:
        await outbound.close()
