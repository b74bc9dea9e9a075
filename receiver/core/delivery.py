"""What one delivery attempt's answer means for the delivery and its subscription. Pure.

- 2xx: delivered.
- 410 Gone: the subscriber asked us to stop: the delivery is dead and the
  subscription is disabled, with the reason shown in the API.
- 429 and 503 with `Retry-After`: the next attempt waits exactly as long as
  the subscriber asked (capped at a day), instead of the schedule's step.
- Anything else (other statuses, timeouts, refused connections, refused
  addresses): the next attempt follows the retry schedule with +/-10 % jitter;
  after the last step the delivery is dead (still replayable).
- A subscription whose attempts have failed without a single success for
  `disable_after` seconds is disabled, with the reason.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from receiver.core.times import to_rfc3339

RETRY_AFTER_CAP = 24 * 3600.0
JITTER = 0.1


class Next(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"


class AttemptResult(msgspec.Struct, frozen=True):
    status_code: int | None  # None when no HTTP answer came (timeout, refused, blocked)
    error: str | None = None
    retry_after: float | None = None


class Decision(msgspec.Struct, frozen=True):
    next: Next
    next_attempt_at: float | None = None
    # Set when the subscription must be disabled; the reason is shown in the API.
    disable_reason: str | None = None
    # The subscription's failing_since after this attempt (None once it succeeded).
    failing_since: float | None = None


DELIVERED = Decision(Next.DELIVERED)  # one for every success: it holds nothing else


def decide(
    result: AttemptResult,
    *,
    attempt: int,  # this attempt's number, from 1
    schedule: tuple[float, ...],
    now: float,
    draw: float,  # uniform in [0, 1), for jitter
    failing_since: float | None,
    disable_after: float,
) -> Decision:
    code = result.status_code
    if code is not None and 200 <= code < 300:
        return DELIVERED
    failing = failing_since if failing_since is not None else now
    if code == 410:
        reason = f"the endpoint answered 410 Gone at {to_rfc3339(now)}"
        return Decision(Next.DEAD, disable_reason=reason, failing_since=failing)
    disable_reason = None
    if now - failing >= disable_after:
        disable_reason = (
            f"every delivery attempt has failed since {to_rfc3339(failing)} "
            f"(more than {disable_after / 86400:g} days)"
        )
    if attempt > len(schedule) or disable_reason:
        return Decision(Next.DEAD, disable_reason=disable_reason, failing_since=failing)
    if code in (429, 503) and result.retry_after is not None:
        delay = min(max(result.retry_after, 0.0), RETRY_AFTER_CAP)
    else:
        delay = schedule[attempt - 1] * (1 - JITTER + 2 * JITTER * draw)
    return Decision(Next.RETRY, next_attempt_at=now + delay, failing_since=failing)
