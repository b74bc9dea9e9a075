"""The hand-made fast paths give exactly what the plain library code gives."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from receiver.core import times
from receiver.core.ids import IdGenerator, _b32, _ulid
from receiver.core.times import to_rfc3339


def reference_rfc3339(ts: float) -> str:
    return (
        datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


@given(st.floats(min_value=0, max_value=253402300799.0, allow_nan=False))
@example(0.0)
@example(-0.0)
@example(1_800_000_000.0)
@example(1_800_000_000.0005)  # half a millisecond: truncated, not rounded
@example(1_800_000_000.9995)
@example(1_800_000_000.9999995)  # rounds up to the next second
@example(1_800_000_000.0000005)  # exactly half a microsecond away: half to even
@example(1_800_000_000.0000015)
@example(951_782_400.0)  # 2000-02-29
@example(253402300799.999)
def test_to_rfc3339_is_exactly_the_library_answer(ts: float) -> None:
    times._last = times._before = (-1.0, "")
    after = math.nextafter(ts, math.inf)
    assert to_rfc3339(ts) == reference_rfc3339(ts)
    assert to_rfc3339(ts) == reference_rfc3339(ts)  # from the memo's last answer
    assert to_rfc3339(after) == reference_rfc3339(after)
    assert to_rfc3339(ts) == reference_rfc3339(ts)  # from the answer before it
    assert to_rfc3339(after) == reference_rfc3339(after)


def test_to_rfc3339_takes_ints_and_leaves_out_of_range_times_to_the_library() -> None:
    assert to_rfc3339(1_800_000_000) == reference_rfc3339(1_800_000_000)
    assert to_rfc3339(-1.5) == reference_rfc3339(-1.5)
    for bad in (math.nan, math.inf, 1e20):
        try:
            reference_rfc3339(bad)
        except (ValueError, OverflowError, OSError) as exc:
            expected: type[BaseException] = type(exc)
        else:  # pragma: no cover
            raise AssertionError("the library accepted it")
        try:
            to_rfc3339(bad)
        except expected:
            pass
        else:  # pragma: no cover
            raise AssertionError(f"{bad} was accepted")


@given(st.integers(min_value=-(2**60), max_value=2**60), st.integers(0, 2**80 - 1))
@example(0, 0)
@example(2**50 - 1, 2**80 - 1)
@example(2**50, 2**79)
@example(-1, 1)
def test_ulid_encoding_is_the_digit_by_digit_one(millis: int, rand: int) -> None:
    assert _ulid(millis, rand) == _b32(millis, 10) + _b32(rand, 16)


@given(
    st.lists(
        st.tuples(st.integers(0, 2**45), st.binary(min_size=10, max_size=10)),
        min_size=1,
        max_size=30,
    ),
    st.integers(0, 2100),
)
@example([(1_800_000_000_000, b"\x00" * 9 + b"\xfe")], 5)  # the low 10 bits carry
@example([(1_800_000_000_000, b"\xff" * 10)], 3)  # the random part at its headroom
def test_ids_are_the_full_encoding_of_each_millisecond_and_random_part(
    steps: list[tuple[int, bytes]], repeats: int
) -> None:
    """Each id spells out its millisecond and random part in full, however the
    generator reuses the previous one's characters; within one millisecond (or
    when the clock steps back) the random part goes up by one."""
    ids = IdGenerator()
    last_millis, last_random = -1, 0
    for millis, entropy in steps:
        for n in range(repeats + 1):
            made = ids.new("evt", millis / 1000 + 0.0001, entropy)
            if millis <= last_millis and last_random + 1 < 2**80:
                use_millis, rand = last_millis, last_random + 1
            else:
                use_millis, rand = millis, int.from_bytes(entropy, "big") >> 1
            assert made == f"evt_{_b32(use_millis, 10)}{_b32(rand, 16)}", (millis, n)
            last_millis, last_random = use_millis, rand
