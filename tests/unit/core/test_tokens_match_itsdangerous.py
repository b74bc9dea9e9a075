"""`CallbackTokens.verify` checks tokens by itself (for speed); it must accept and refuse
exactly what itsdangerous's own `loads` does for the same key, salt, clock and max age."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

from receiver.core.tokens import SALT, CallbackClaim, CallbackTokens

KEY = "a-secret-key-for-tests"
T0 = 1_800_000_000
MAX_AGE = 3600


def reference(token: str, now: int, max_age: int) -> CallbackClaim | None:
    """What itsdangerous itself makes of the token."""

    class Clocked(TimestampSigner):
        def get_timestamp(self) -> int:
            return now

    serializer = URLSafeTimedSerializer(KEY, salt=SALT, signer=Clocked)
    signer = Clocked(KEY, salt=SALT)  # what serializer.make_signer(SALT) makes
    try:
        payload = signer.unsign(token, max_age=max_age)
        value = serializer.load_payload(payload)
    except (BadData, UnicodeEncodeError):
        return None
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return CallbackClaim(value[0], value[1])
    return None


def ours(token: str, now: int, max_age: int) -> CallbackClaim | None:
    return CallbackTokens(KEY, lambda: now).verify(token, max_age)


def token_at(claim: CallbackClaim, at: int) -> str:
    return CallbackTokens(KEY, lambda: at).sign(claim)


CLAIMS = st.builds(
    CallbackClaim,
    st.text(min_size=0, max_size=300),
    st.sampled_from(["revidapi", "apimall", "apipod", "dreamcore"]),
)


@given(claim=CLAIMS, signed_at=st.integers(T0 - 2 * MAX_AGE, T0 + 10), now=st.just(T0))
def test_genuine_tokens_verify_alike_at_any_age(
    claim: CallbackClaim, signed_at: int, now: int
) -> None:
    token = token_at(claim, signed_at)
    expected = reference(token, now, MAX_AGE)
    assert ours(token, now, MAX_AGE) == expected
    if 0 <= now - signed_at <= MAX_AGE:
        assert expected == claim


@settings(max_examples=300)
@given(
    claim=CLAIMS,
    position=st.integers(0, 10_000),
    replacement=st.text(alphabet=string.printable + "é\u2603", min_size=0, max_size=3),
    cut=st.booleans(),
)
def test_altered_tokens_are_refused_alike(
    claim: CallbackClaim, position: int, replacement: str, cut: bool
) -> None:
    token = token_at(claim, T0 - 5)
    at = position % (len(token) + 1)
    altered = token[:at] if cut else token[:at] + replacement + token[at + 1 :]
    assert ours(altered, T0, MAX_AGE) == reference(altered, T0, MAX_AGE)


@given(text=st.text(max_size=200))
def test_any_text_is_judged_alike(text: str) -> None:
    assert ours(text, T0, MAX_AGE) == reference(text, T0, MAX_AGE)


def test_a_token_signed_with_another_key_or_salt_is_refused() -> None:
    claim = CallbackClaim("task_1", "revidapi")
    other_key = CallbackTokens("another-key", lambda: T0).sign(claim)
    other_salt = URLSafeTimedSerializer(KEY, salt="another.salt").dumps(["task_1", "revidapi"])
    assert ours(other_key, T0, MAX_AGE) is None
    assert ours(other_salt, T0 + 1, MAX_AGE) is None
    assert ours(token_at(claim, T0), T0, MAX_AGE) == claim
