from __future__ import annotations

import pytest

from receiver.delivery.addresses import (
    AddressRefused,
    CachedResolver,
    Resolver,
    check_url_shape,
    resolve_target,
    target_without_lookup,
)


def resolver_for(answers: dict[str, list[str]]) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise OSError("name not known")
        return answers[host]

    return resolve


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://10.1.2.3/x",
        "http://192.168.0.1/x",
        "http://172.16.5.4/x",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/x",
        "http://0.0.0.0/x",
        "http://[::1]/x",
        "http://[fe80::1]/x",
        "http://[fd00::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://224.0.0.1/x",
        "http://internal.example/x",
    ],
)
async def test_non_public_destinations_are_refused_naming_the_setting(url: str) -> None:
    resolve = resolver_for({"internal.example": ["10.0.0.7"]})
    with pytest.raises(AddressRefused, match="RECEIVER_ALLOW_PRIVATE_URLS"):
        await resolve_target(url, allow_private=False, resolver=resolve)


async def test_a_public_name_is_pinned_to_the_checked_address() -> None:
    resolve = resolver_for({"hooks.example.com": ["93.184.215.14"]})
    target = await resolve_target(
        "https://hooks.example.com:8443/in?x=1", allow_private=False, resolver=resolve
    )
    assert target.pinned and target.host == "hooks.example.com"
    assert target.url == "https://93.184.215.14:8443/in?x=1"


async def test_a_name_that_turns_private_later_is_refused_at_delivery_time() -> None:
    answers = {"hooks.example.com": ["93.184.215.14"]}
    resolve = resolver_for(answers)
    await resolve_target("https://hooks.example.com/", allow_private=False, resolver=resolve)
    answers["hooks.example.com"] = ["93.184.215.14", "127.0.0.1"]
    with pytest.raises(AddressRefused, match=r"127\.0\.0\.1"):
        await resolve_target("https://hooks.example.com/", allow_private=False, resolver=resolve)


async def test_unresolvable_names_are_refused_and_private_ones_allowed_when_configured() -> None:
    resolve = resolver_for({})
    with pytest.raises(AddressRefused, match="cannot resolve"):
        await resolve_target("https://nowhere.example/", allow_private=False, resolver=resolve)
    target = await resolve_target("http://127.0.0.1:9/x", allow_private=True, resolver=resolve)
    assert target.url == "http://127.0.0.1:9/x" and not target.pinned


async def test_a_public_ip_literal_needs_no_lookup_and_is_pinned_as_itself() -> None:
    resolve = resolver_for({})  # any lookup would fail
    target = await resolve_target(
        "http://93.184.215.14:81/in", allow_private=False, resolver=resolve
    )
    assert target.pinned and target.url == "http://93.184.215.14:81/in"
    assert target_without_lookup("http://93.184.215.14:81/in", allow_private=False) == target


@pytest.mark.parametrize("url", ["http://10.1.2.3/x", "https://hooks.example.com/"])
async def test_kept_answers_never_stand_for_a_lookup_or_a_refusal(url: str) -> None:
    # A name must be looked up at each delivery (through the resolver's own short cache),
    # and a private literal refused each time: neither is answered from the per-URL cache.
    assert target_without_lookup(url, allow_private=False) is None
    assert target_without_lookup(url, allow_private=True) is not None


@pytest.mark.parametrize(
    "url", ["ftp://a.example/x", "file:///etc/passwd", "http://", "https://a:99999/", "nonsense"]
)
def test_only_http_and_https_urls_have_a_valid_shape(url: str) -> None:
    assert check_url_shape(url) is not None
    assert check_url_shape("https://a.example/hook") is None


async def test_dns_answers_are_kept_ten_seconds_so_a_rebind_is_refused_soon_after() -> None:
    answers = {"hooks.example.com": ["93.184.215.14"]}
    asked: list[str] = []
    clock = [1000.0]

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return await resolver_for(answers)(host, port)

    cached = CachedResolver(resolve, now=lambda: clock[0])
    url = "https://hooks.example.com/in"
    for _ in range(3):  # one lookup for every delivery within the ten seconds
        target = await resolve_target(url, allow_private=False, resolver=cached)
        assert target.url == "https://93.184.215.14/in"
    assert asked == ["hooks.example.com"]
    answers["hooks.example.com"] = ["10.0.0.7"]  # the name now points inside
    clock[0] += 9.9
    await resolve_target(url, allow_private=False, resolver=cached)
    clock[0] += 0.2
    with pytest.raises(AddressRefused, match="not a public address"):
        await resolve_target(url, allow_private=False, resolver=cached)
    assert len(asked) == 2


async def test_failed_lookups_are_not_kept_and_the_cache_stays_bounded() -> None:
    answers: dict[str, list[str]] = {}
    cached = CachedResolver(resolver_for(answers), now=lambda: 0.0, size=2)
    with pytest.raises(AddressRefused, match="cannot resolve"):
        await resolve_target("https://late.example/", allow_private=False, resolver=cached)
    answers["late.example"] = ["93.184.215.14"]  # registered since: found at once
    assert await cached("late.example", 443) == ["93.184.215.14"]
    answers.update({"a.example": ["93.184.215.1"], "b.example": ["93.184.215.2"]})
    await cached("a.example", 443)
    await cached("b.example", 443)  # the oldest (late.example) is dropped
    answers["late.example"] = ["10.0.0.7"]
    assert await cached("late.example", 443) == ["10.0.0.7"]
