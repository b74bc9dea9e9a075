"""Reconciliation: the one place where a task's state changes.

Submit answers, polls, callbacks, deadlines and manual syncs all arrive here as
a `Report`; `reconcile` decides, without I/O, what the task becomes and which
events that change owes. Final states are final; a report that would move a
task backwards (a late `waiting` after `success`) or sideways changes nothing.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec
from msgspec.structs import replace

from receiver.core.model import Report, Status, TaskError
from receiver.core.task import Task

EVENT_FOR_STATUS: dict[Status, str] = {
    Status.PENDING: "task.submitted",
    Status.PROCESSING: "task.processing",
    Status.COMPLETED: "task.completed",
    Status.FAILED: "task.failed",
}


class Verdict(StrEnum):
    APPLIED = "applied"  # the task moved forward
    DUPLICATE = "duplicate"  # the report repeats what we know
    STALE = "stale"  # the report is older than what we know
    UNKNOWN = "unknown"  # the provider said something we cannot map
    MISMATCH = "mismatch"  # the report is about another upstream task


class PendingEvent(msgspec.Struct, frozen=True):
    type: str
    sequence: int


class Outcome(msgspec.Struct, frozen=True):
    task: Task
    events: tuple[PendingEvent, ...]
    verdict: Verdict

    @property
    def changed(self) -> bool:
        return bool(self.events)


def reconcile(task: Task, report: Report, now: float) -> Outcome:
    if (
        report.provider_task_id
        and task.provider_task_id
        and report.provider_task_id != task.provider_task_id
    ):
        return Outcome(task, (), Verdict.MISMATCH)

    # Learning the upstream id is not a state change (an early callback may
    # tell us before the create answer does), so it never emits an event.
    if report.provider_task_id and not task.provider_task_id:
        task = replace(task, provider_task_id=report.provider_task_id)

    if report.status is None:
        return Outcome(task, (), Verdict.UNKNOWN)
    if task.status.final or report.status.rank <= task.status.rank:
        same = report.status == task.status
        return Outcome(task, (), Verdict.DUPLICATE if same else Verdict.STALE)

    if report.status is Status.COMPLETED:
        new = _moved(task, report.status, now, report.result_urls, task.error, now)
    elif report.status is Status.FAILED:
        error = report.error or TaskError("generation_failed", "the provider reported a failure")
        new = _moved(task, report.status, now, task.result_urls, error, now)
    else:
        new = _moved(task, report.status, now, task.result_urls, task.error, task.completed_at)
    event = PendingEvent(EVENT_FOR_STATUS[report.status], new.event_seq)
    return Outcome(new, (event,), Verdict.APPLIED)


def _moved(
    task: Task,
    status: Status,
    now: float,
    result_urls: tuple[str, ...],
    error: TaskError | None,
    completed_at: float | None,
) -> Task:
    """The task after a forward move, with its next event number, built positionally in
    one call (every callback and poll comes here), in Task's field order."""
    return Task(
        task.id,
        task.provider,
        status,
        task.spec,
        task.created_at,
        now,
        task.provider_task_id,
        result_urls,
        error,
        task.metadata,
        completed_at,
        task.event_seq + 1,
        task.callback_mode,
    )


def failure(code: str, message: str) -> Report:
    """A report we make ourselves: a permanent submit error, a deadline."""
    return Report(status=Status.FAILED, error=TaskError(code, message))
