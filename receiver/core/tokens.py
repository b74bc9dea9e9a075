"""Signed callback tokens: the `{token}` in `/callbacks/{provider}/{token}`.

A token names one task and one provider, is signed with the service's secret
key (itsdangerous, salted so no other signed value can pass for it) and
expires long after the task's deadline, so a late but genuine callback still
verifies while an old leaked URL eventually stops working. The time is passed
in, never read from the system clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

SALT = "receiver.callback.v1"


@dataclass(frozen=True, slots=True)
class CallbackClaim:
    task_id: str
    provider: str


def _serializer(secret_key: str, now: float) -> URLSafeTimedSerializer:
    class _Signer(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(now)

    return URLSafeTimedSerializer(secret_key, salt=SALT, signer=_Signer)


def sign_callback(secret_key: str, claim: CallbackClaim, now: float) -> str:
    token = _serializer(secret_key, now).dumps([claim.task_id, claim.provider])
    return token if isinstance(token, str) else token.decode()


def verify_callback(
    secret_key: str, token: str, now: float, max_age: float
) -> CallbackClaim | None:
    """The claim a genuine, unexpired token carries; None for anything else."""
    try:
        value = _serializer(secret_key, now).loads(token, max_age=int(max_age))
    except BadData:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(part, str) for part in value)
    ):
        return None
    return CallbackClaim(task_id=value[0], provider=value[1])
