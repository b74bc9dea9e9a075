"""Signed callback tokens: the `{token}` in `/callbacks/{provider}/{token}`.

A token names one task and one provider, is signed with the service's secret
key (itsdangerous, salted so no other signed value can pass for it) and
expires long after the task's deadline, so a late but genuine callback still
verifies while an old leaked URL eventually stops working. Time comes from the
caller (a `now` function), never from the system clock directly.

`CallbackTokens` builds its serializer once: this is on the callback hot path.
Tokens are made by itsdangerous; `verify` checks them itself, with the same
derived key and the same rules as `TimestampSigner.unsign` (HMAC-SHA1 over
`payload.timestamp`, constant-time compare, age within [0, max_age]) with one
keyed HMAC copied per token: itsdangerous's own path (signer objects, a digest-method
lookup, exceptions for control flow) took about a sixth of the ingest thread
(B1). Its base64 is decoded straight by `binascii`, as itsdangerous's
`base64_decode` does underneath three layers of Python (the same padding,
alphabet and leniency). `tests/unit/core/test_tokens_match_itsdangerous.py`
checks that both accept and refuse exactly the same tokens.
"""

from __future__ import annotations

import binascii
import hmac
import zlib
from collections.abc import Callable

import msgspec
import orjson
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from receiver.core.signing import keyed_hmac

SALT = "receiver.callback.v1"
_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _b64decode(data: bytes) -> bytes:
    """`itsdangerous.encoding.base64_decode` for bytes: padded, the URL-safe alphabet
    mapped to the standard one, characters outside it skipped (binascii's default, as
    `base64.b64decode` leaves it); raises binascii.Error, a ValueError, where that
    raises BadData. Each token has three parts to decode, ~1 us each the long way."""
    return binascii.a2b_base64((data + b"=" * (-len(data) % 4)).translate(_URLSAFE))


class CallbackClaim(msgspec.Struct, frozen=True):
    """What a token names (a frozen Struct, made for every callback: ~0.1 us against a
    frozen dataclass's ~0.45)."""

    task_id: str
    provider: str


class CallbackTokens:
    def __init__(self, secret_key: str, now: Callable[[], float]) -> None:
        derived: dict[str | bytes | None, bytes] = {}

        class _Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(now())

            def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
                # A pure function of the secret and the salt: derive it once.
                key = derived.get(secret_key)
                if key is None:
                    key = derived[secret_key] = super().derive_key(secret_key)
                return key

        self._serializer = URLSafeTimedSerializer(secret_key, salt=SALT, signer=_Signer)
        # The key the serializer's signer (make_signer(SALT)) signs with, already in an
        # HMAC that each verification copies: `hmac.digest` by digest name makes OpenSSL
        # look the digest up on every call (5 % of the ingest thread in B1, as in B3's
        # delivery signatures: receiver/core/signing.py).
        self._keyed = keyed_hmac(_Signer(secret_key, salt=SALT).derive_key(), "sha1")
        self._now = now

    def sign(self, claim: CallbackClaim) -> str:
        token = self._serializer.dumps([claim.task_id, claim.provider])
        return token if isinstance(token, str) else token.decode()

    def verify(self, token: str, max_age: float) -> CallbackClaim | None:
        """The claim a genuine, unexpired token carries; None for anything else."""
        try:
            signed, _, signature = token.encode().rpartition(b".")
            payload, dot, stamp = signed.rpartition(b".")
            if not dot:
                return None
            mac = self._keyed.copy()
            mac.update(signed)
            if not hmac.compare_digest(mac.digest(), _b64decode(signature)):
                return None
            stamp = _b64decode(stamp)
            if len(stamp) > 8:  # what itsdangerous's bytes_to_int refuses (struct.error)
                return None
            age = int(self._now()) - int.from_bytes(stamp, "big")
            if not 0 <= age <= int(max_age):
                return None
            if payload.startswith(b"."):  # the serializer compresses long payloads
                payload = zlib.decompress(_b64decode(payload[1:]))
            else:
                payload = _b64decode(payload)
            value = orjson.loads(payload)
        # ValueError: bad base64 (binascii.Error), a token that is not ASCII
        # (UnicodeEncodeError), a payload that is not JSON (orjson.JSONDecodeError).
        except (ValueError, zlib.error):
            return None
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(part, str) for part in value)
        ):
            return None
        return CallbackClaim(task_id=value[0], provider=value[1])


def sign_callback(secret_key: str, claim: CallbackClaim, now: float) -> str:
    return CallbackTokens(secret_key, lambda: now).sign(claim)


def verify_callback(
    secret_key: str, token: str, now: float, max_age: float
) -> CallbackClaim | None:
    return CallbackTokens(secret_key, lambda: now).verify(token, max_age)
