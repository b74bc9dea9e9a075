"""Identifiers that sort by creation time, so "newest first" is `ORDER BY id DESC`.

A ULID in lower-case Crockford base32 behind a prefix: 10 characters of
milliseconds and 16 of randomness. Within one millisecond (or when the clock
steps back) the random part is incremented instead of redrawn, as ULID's
monotonic mode does, so ids made by one process always sort in creation order.
"""

from __future__ import annotations

import os
import threading

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_RANDOM_BITS = 80
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # two characters for each 10 bits
_MASK_40 = (1 << 40) - 1
_RANDOM_LIMIT = 2**_RANDOM_BITS


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        out.append(_ALPHABET[rem])
    return "".join(reversed(out))


def _ulid(millis: int, rand: int) -> str:
    """`_b32(millis, 10) + _b32(rand, 16)`, two characters per lookup on small ints
    (about 2.5x faster; ids are made for every event, delivery and callback)."""
    p = _PAIRS
    m = millis & ((1 << 50) - 1)
    hi = rand >> 40 & _MASK_40
    lo = rand & _MASK_40
    return "".join(
        (
            p[m >> 40],
            p[m >> 30 & 1023],
            p[m >> 20 & 1023],
            p[m >> 10 & 1023],
            p[m & 1023],
            p[hi >> 30],
            p[hi >> 20 & 1023],
            p[hi >> 10 & 1023],
            p[hi & 1023],
            p[lo >> 30],
            p[lo >> 20 & 1023],
            p[lo >> 10 & 1023],
            p[lo & 1023],
        )
    )


class IdGenerator:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_millis = -1
        self._last_random = 0
        # The last id's ULID but its two last characters (which encode the random
        # part's low 10 bits), and the millisecond and high bits it was made for: an
        # increment within one millisecond rarely carries past those bits, so the
        # next id is this and one pair looked up.
        self._head = ""
        self._head_millis = -1
        self._head_high = -1

    def new(self, prefix: str, now: float, entropy: bytes | None = None) -> str:
        millis = int(now * 1000)
        with self._lock:
            if millis <= self._last_millis and self._last_random + 1 < _RANDOM_LIMIT:
                millis, rand = self._last_millis, self._last_random + 1
            else:
                raw = entropy if entropy is not None else os.urandom(10)
                # Leave headroom so increments within a millisecond never overflow.
                rand = int.from_bytes(raw[:10], "big") >> 1
            self._last_millis, self._last_random = millis, rand
            high = rand >> 10
            if high != self._head_high or millis != self._head_millis:
                self._head = _ulid(millis, rand)[:-2]
                self._head_millis, self._head_high = millis, high
            head = self._head
        return f"{prefix}_{head}{_PAIRS[rand & 1023]}"


_default = IdGenerator()

# new_id(prefix, now, entropy=None): the process-wide generator's method itself, a
# call frame less per id (the writer makes two per callback).
new_id = _default.new
