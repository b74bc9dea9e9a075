"""The outbound client against a real endpoint on loopback."""

from __future__ import annotations

from support import subscriber

from receiver.outbound import Outbound


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
