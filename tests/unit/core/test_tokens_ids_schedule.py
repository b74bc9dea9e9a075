from __future__ import annotations

from receiver.core.ids import new_id
from receiver.core.schedule import POLL_BACKOFF, SUBMIT_BACKOFF, Backoff
from receiver.core.tokens import CallbackClaim, sign_callback, verify_callback

CLAIM = CallbackClaim("task_01", "revidapi")


def test_a_token_verifies_with_its_key_until_it_expires() -> None:
    token = sign_callback("key", CLAIM, 1000.0)
    assert verify_callback("key", token, 1000.0 + 3600, max_age=7200) == CLAIM
    assert verify_callback("key", token, 1000.0 + 7201, max_age=7200) is None


def test_forged_and_altered_tokens_do_not_verify() -> None:
    token = sign_callback("key", CLAIM, 1000.0)
    assert verify_callback("other-key", token, 1000.0, max_age=60) is None
    _payload, stamp, signature = token.split(".")
    forged = sign_callback("key", CallbackClaim("task_02", "revidapi"), 1000.0).split(".")[0]
    assert verify_callback("key", f"{forged}.{stamp}.{signature}", 1000.0, max_age=60) is None
    assert verify_callback("key", "not-a-token", 1000.0, max_age=60) is None


def test_ids_sort_by_creation_time() -> None:
    early = new_id("task", 1000.0, b"\xff" * 10)
    late = new_id("task", 1000.001, b"\x00" * 10)
    assert early.startswith("task_") and len(early) == len("task_") + 26
    assert early < late


def test_backoff_grows_to_its_cap_and_honours_retry_after() -> None:
    plain = Backoff(first=1, factor=2, cap=10, jitter=0)
    assert [plain.delay(n, 0.5) for n in range(6)] == [1, 2, 4, 8, 10, 10]
    assert plain.delay(0, 0.5, at_least=30) == 30
    assert 0.8 <= SUBMIT_BACKOFF.delay(0, 0.0) <= SUBMIT_BACKOFF.delay(0, 0.999) <= 1.2
    assert POLL_BACKOFF.delay(100, 0.5) == POLL_BACKOFF.cap


def test_ids_made_in_one_millisecond_still_sort_in_creation_order() -> None:
    made = [new_id("task", 2000.0) for _ in range(200)]
    assert made == sorted(made) and len(set(made)) == 200
    # A clock that steps back does not break the order either.
    assert new_id("task", 1999.0) > made[-1]
