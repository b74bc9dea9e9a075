"""Standard Webhooks signatures (v1): `v1,` + base64 HMAC-SHA256 over `{id}.{timestamp}.{body}`.

The key is the base64-decoded part of a `whsec_` secret. During a rotation the
header carries one signature per live secret, space separated, so a consumer
holding either secret verifies. The timestamp is passed in, never read here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

PREFIX = "whsec_"


def new_secret(size: int = 32) -> str:
    if not 24 <= size <= 64:
        raise ValueError("a webhook secret has 24 to 64 random bytes")
    return PREFIX + base64.b64encode(os.urandom(size)).decode()


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signature_header(keys: list[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(sign(key, msg_id, timestamp, body) for key in keys)


def verify(key: bytes, msg_id: str, timestamp: int, body: bytes, header: str) -> bool:
    """True when any v1 signature in `header` matches (constant-time compare)."""
    expected = sign(key, msg_id, timestamp, body).encode()
    return any(hmac.compare_digest(expected, part.encode()) for part in header.split(" "))
