"""Where deliveries may go: http(s) only, and only to public addresses unless allowed.

The check runs when a subscription is created or changed, and again before
every attempt, on a DNS answer at most RESOLVE_TTL seconds old (`CachedResolver`:
a lookup per delivery cost a thread hop and often a DNS round trip), so a
name later pointed inside the network is refused within seconds. The attempt
then connects to the address that passed the check (the URL's host is kept
for `Host` and TLS), so DNS cannot change between the check and the
connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import SplitResult, urlsplit

from receiver.errors import ReceiverError

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SETTING = "RECEIVER_ALLOW_PRIVATE_URLS"
RESOLVE_TTL = 10.0  # as long as aiohttp's own DNS cache keeps answers for provider calls


class AddressRefused(ReceiverError):
    pass


@dataclass(frozen=True, slots=True)
class Target:
    url: str  # what to connect to (the checked address when pinned)
    host: str  # the URL's own host, for Host and TLS SNI
    pinned: bool


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class CachedResolver:
    """A resolver whose answers are kept `ttl` seconds (failures are not kept), for at
    most `size` hosts, the oldest dropped first."""

    def __init__(
        self,
        resolve: Resolver,
        ttl: float = RESOLVE_TTL,
        *,
        now: Callable[[], float] = time.monotonic,
        size: int = 1024,
    ) -> None:
        self._resolve = resolve
        self._ttl = ttl
        self._now = now
        self._size = size
        self._answers: dict[tuple[str, int], tuple[float, list[str]]] = {}

    async def __call__(self, host: str, port: int) -> list[str]:
        key = (host, port)
        kept = self._answers.get(key)
        if kept is not None and kept[0] > self._now():
            return list(kept[1])
        answer = await self._resolve(host, port)
        self._answers.pop(key, None)
        if len(self._answers) >= self._size:
            del self._answers[next(iter(self._answers))]
        self._answers[key] = (self._now() + self._ttl, list(answer))
        return answer


def is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$"
)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_url_shape(url: str) -> str | None:
    """A message for a URL that can never be delivered to; None when it is well formed."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "expected an http:// or https:// URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "expected an http:// or https:// URL"
    if not _HOSTNAME.match(parts.hostname) and not _is_ip(parts.hostname):
        return f"{parts.hostname!r} is not a valid host name"
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return "a URL cannot contain spaces or control characters"
    if len(url) > 2048:
        return "at most 2048 characters"
    return None


@lru_cache(maxsize=4096)
def target_without_lookup(url: str, *, allow_private: bool) -> Target | None:
    """`resolve_target`'s answer when it needs no name lookup (private destinations
    allowed, or a public IP literal), kept per URL: every delivery asks. None when a
    lookup is needed or the address is refused (`resolve_target` says why)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if allow_private:
        return Target(url, host, pinned=False)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return _pinned(parts, host, [address]) if is_public(address) else None


async def resolve_target(url: str, *, allow_private: bool, resolver: Resolver) -> Target:
    """The address to connect to, or AddressRefused saying why not."""
    known = target_without_lookup(url, allow_private=allow_private)
    if known is not None:
        return known
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in await resolver(host, port)]
        except (OSError, ValueError) as exc:
            raise AddressRefused(f"cannot resolve {host}: {exc}") from exc
    if not addresses:
        raise AddressRefused(f"cannot resolve {host}: no addresses")
    for address in addresses:
        if not is_public(address):
            raise AddressRefused(
                f"{host} resolves to {address}, which is not a public address; "
                f"set {SETTING}=true to allow private and loopback destinations"
            )
    return _pinned(parts, host, addresses)


def _pinned(parts: SplitResult, host: str, addresses: list[IPAddress]) -> Target:
    chosen = addresses[0]
    literal = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    return Target(parts._replace(netloc=netloc).geturl(), host, pinned=True)
