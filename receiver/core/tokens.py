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
(B1). `tests/unit/core/test_tokens_match_itsdangerous.py` checks that both
accept and refuse exactly the same tokens.
"""

from __future__ import annotations

import hmac
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, bytes_to_int

from receiver.core.signing import keyed_hmac

SALT = "receiver.callback.v1"


@dataclass(frozen=True, slots=True)
class CallbackClaim:
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
            if not hmac.compare_digest(mac.digest(), base64_decode(signature)):
                return None
            age = int(self._now()) - bytes_to_int(base64_decode(stamp))
            if not 0 <= age <= int(max_age):
                return None
            if payload.startswith(b"."):  # the serializer compresses long payloads
                payload = zlib.decompress(base64_decode(payload[1:]))
            else:
                payload = base64_decode(payload)
            value = orjson.loads(payload)
        except (BadData, UnicodeEncodeError, struct.error, zlib.error, orjson.JSONDecodeError):
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
