"""One create attempt, one status query: each ends in exactly one store write.

The decisions (retry, give up, when to look again) are made here from the
adapter's typed answer or error; the state change itself is `reconcile`'s.
When to look again is `rt.polling`'s (receiver/core/adaptive.py), which learns
from every completion a status query finds.
"""

from __future__ import annotations

import logging

from receiver.core.model import Report, Status
from receiver.core.reconcile import failure
from receiver.core.schedule import SUBMIT_BACKOFF
from receiver.errors import PermanentError, TransientError
from receiver.runtime import Runtime
from receiver.store.base import Applied, Claim

log = logging.getLogger("receiver.workers")

UNKNOWN_OUTCOME = (
    "the create request was sent to {provider} but no answer came back (timeout or restart), "
    "so {provider} may have started the task; receiver does not send it again, to avoid "
    "paying twice for one image. Submit a new task if you still want it."
)


def _deadline_failure(rt: Runtime, claim: Claim) -> Report:
    return failure(
        "timeout",
        f"the task did not finish within RECEIVER_TASK_DEADLINE ({rt.settings.task_deadline:g} s)",
    )


async def submit_once(rt: Runtime, claim: Claim) -> None:
    task = claim.task
    now = rt.clock.now()
    adapter = rt.adapters.get(task.provider)
    if now >= claim.deadline_at:
        await rt.apply_report(task.id, _deadline_failure(rt, claim), now, settles_submit=True)
        return
    if adapter is None:
        report = failure("provider_disabled", f"{task.provider} is not enabled on this service")
        await rt.apply_report(task.id, report, now, settles_submit=True)
        return
    if claim.was_inflight and not adapter.idempotent_create:
        report = failure("submit_outcome_unknown", UNKNOWN_OUTCOME.format(provider=task.provider))
        await rt.apply_report(task.id, report, now, settles_submit=True)
        return

    callback_url = rt.callback_url(task.id, task.provider) if task.callback_mode else None
    # Our task id is the Idempotency-Key, so a repeated create (after a timeout
    # or a restart) is recognised by providers that honour the header.
    request = adapter.build_create(task.spec, idempotency_key=task.id, callback_url=callback_url)
    try:
        provider_task_id = adapter.parse_create(await rt.send(task.provider, request))
    except TransientError as exc:
        rt.metrics.creates.inc(task.provider, "transient")
        now = rt.clock.now()
        if exc.outcome_unknown and not adapter.idempotent_create:
            if task.callback_mode:
                # A callback may still tell us; decide after the grace period.
                at = now + rt.settings.callback_grace
                await rt.store.retry_submit(task.id, at, inflight=True, error=str(exc))
            else:
                report = failure(
                    "submit_outcome_unknown", UNKNOWN_OUTCOME.format(provider=task.provider)
                )
                await rt.apply_report(task.id, report, now, settles_submit=True)
            return
        delay = SUBMIT_BACKOFF.delay(claim.attempts, rt.rng.random(), at_least=exc.retry_after)
        log.info("create for %s failed (%s); retrying in %.1f s", task.id, exc, delay)
        await rt.store.retry_submit(task.id, now + delay, inflight=False, error=str(exc))
        return
    except PermanentError as exc:
        rt.metrics.creates.inc(task.provider, "permanent")
        await rt.apply_report(
            task.id, failure(exc.code, exc.message), rt.clock.now(), settles_submit=True
        )
        return
    rt.metrics.creates.inc(task.provider, "ok")

    now = rt.clock.now()
    if task.callback_mode:
        poll_at = min(now + rt.settings.callback_grace, claim.deadline_at)
    else:
        poll_at = rt.polling.next_at(
            task.provider, task.created_at, now, claim.deadline_at, attempt=0, draw=rt.rng.random()
        )
    await rt.apply_report(
        task.id,
        Report(status=Status.PENDING, provider_task_id=provider_task_id),
        now,
        settles_submit=True,
        poll_at=poll_at,
    )


async def query_status(rt: Runtime, provider: str, provider_task_id: str) -> Report:
    """Ask the provider about one task; raises TransientError / PermanentError."""
    adapter = rt.adapters.get(provider)
    if adapter is None:
        raise PermanentError(provider, "provider_disabled", f"{provider} is not enabled")
    return adapter.parse_status(await rt.send(provider, adapter.build_status(provider_task_id)))


async def poll_once(rt: Runtime, claim: Claim) -> Applied | None:
    task = claim.task
    now = rt.clock.now()
    if claim.due_at:  # how late this query starts against its due time
        rt.metrics.poll_schedule_lag.labels(task.provider).observe(max(0.0, now - claim.due_at))
    if now >= claim.deadline_at:
        rt.polling.forget(task.id)
        return await rt.apply_report(task.id, _deadline_failure(rt, claim), now)
    if task.provider_task_id is None:  # cannot happen for a settled create; be safe
        await rt.store.reschedule_poll(task.id, claim.deadline_at, "no upstream task id")
        return None
    try:
        report = await query_status(rt, task.provider, task.provider_task_id)
    except TransientError as exc:
        rt.metrics.polls.inc(task.provider, "transient")
        now = rt.clock.now()
        at = rt.polling.next_at(
            task.provider,
            task.created_at,
            now,
            claim.deadline_at,
            attempt=claim.attempts,
            draw=rt.rng.random(),
            at_least=exc.retry_after,
        )
        await rt.store.reschedule_poll(task.id, at, str(exc))
        return None
    except PermanentError as exc:
        rt.metrics.polls.inc(task.provider, "permanent")
        rt.polling.forget(task.id)
        return await rt.apply_report(task.id, failure(exc.code, exc.message), rt.clock.now())
    rt.metrics.polls.inc(task.provider, "ok")
    now = rt.clock.now()
    at = rt.polling.next_at(
        task.provider,
        task.created_at,
        now,
        claim.deadline_at,
        attempt=claim.attempts + 1,
        draw=rt.rng.random(),
    )
    applied = await rt.apply_report(task.id, report, now, poll_at=at)
    if applied is not None:
        _learn(rt, claim, applied, now)
    return applied


def _learn(rt: Runtime, claim: Claim, applied: Applied, now: float) -> None:
    """Tell the polling model what this status query saw."""
    task = applied.task
    if not task.status.final:
        rt.polling.looked(task.id, now)
    elif task.status is Status.COMPLETED and applied.event_ids:  # this query completed it
        rt.polling.completed(
            task.provider,
            task.id,
            task.created_at,
            now,
            first_look=claim.attempts == 0,
            draw=rt.rng.random(),
        )
    else:
        rt.polling.forget(task.id)
