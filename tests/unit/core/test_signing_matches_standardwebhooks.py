"""Delivery signatures must be exactly what the `standardwebhooks` reference makes and
accepts, however many messages one keyed HMAC has signed before (signing copies it)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from receiver.core.signing import new_secret, secret_key, signature_header

SECRETS = [new_secret(), new_secret(48)]
T0 = 1_800_000_000

bodies = st.text(max_size=300).map(str.encode)
ids = st.text(alphabet="abcdefghjkmnpqrstvwxyz0123456789_", min_size=1, max_size=30)


@settings(max_examples=150)
@given(
    msg_id=ids,
    timestamp=st.integers(min_value=0, max_value=4_000_000_000),
    body=bodies,
    which=st.integers(min_value=0, max_value=1),
)
def test_one_secret_signs_as_the_reference_does(
    msg_id: str, timestamp: int, body: bytes, which: int
) -> None:
    secret = SECRETS[which]
    ours = signature_header([secret_key(secret)], msg_id, timestamp, body)
    reference = Webhook(secret).sign(
        msg_id, datetime.fromtimestamp(timestamp, tz=UTC), body.decode()
    )
    assert ours == reference


def test_a_rotation_header_carries_the_references_signature_for_each_secret() -> None:
    body = b'{"type":"task.completed"}'
    header = signature_header([secret_key(s) for s in SECRETS], "evt_1", T0, body)
    when = datetime.fromtimestamp(T0, tz=UTC)
    assert header.split(" ") == [Webhook(s).sign("evt_1", when, body.decode()) for s in SECRETS]


def test_signing_one_message_does_not_change_the_next_ones_signature() -> None:
    key = secret_key(SECRETS[0])
    first = signature_header([key], "evt_1", T0, b"one")
    signature_header([key], "evt_2", T0, b"two" * 100)
    assert signature_header([key], "evt_1", T0, b"one") == first
    assert signature_header([key], "evt_1", T0, b"one!") != first
