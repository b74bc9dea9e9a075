"""Identifiers that sort by creation time, so "newest first" is `ORDER BY id DESC`."""

from __future__ import annotations

import os

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        out.append(_ALPHABET[rem])
    return "".join(reversed(out))


def new_id(prefix: str, now: float, entropy: bytes | None = None) -> str:
    """`prefix_` + 10 chars of milliseconds + 16 chars of randomness (a ULID in base32)."""
    rand = entropy if entropy is not None else os.urandom(10)
    millis = int(now * 1000)
    return f"{prefix}_{_b32(millis, 10)}{_b32(int.from_bytes(rand[:10], 'big'), 16)}"
