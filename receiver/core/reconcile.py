"""Reconciliation: the one place where a task's state changes.

Submit answers, polls, callbacks, deadlines and manual syncs all arrive here as
a `Report`; `reconcile` decides, without I/O, what the task becomes and which
events that change owes. Final states are final; a report that would move a
task backwards (a late `waiting` after `success`) or sideways changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

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


@dataclass(frozen=True, slots=True)
class PendingEvent:
    type: str
    sequence: int


@dataclass(frozen=True, slots=True)
class Outcome:
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

    # One replace() with every change: each call rebuilds the whole record.
    if report.status is Status.COMPLETED:
        new = replace(
            task,
            status=report.status,
            updated_at=now,
            event_seq=task.event_seq + 1,
            result_urls=report.result_urls,
            completed_at=now,
        )
    elif report.status is Status.FAILED:
        error = report.error or TaskError("generation_failed", "the provider reported a failure")
        new = replace(
            task,
            status=report.status,
            updated_at=now,
            event_seq=task.event_seq + 1,
            error=error,
            completed_at=now,
        )
    else:
        new = replace(task, status=report.status, updated_at=now, event_seq=task.event_seq + 1)
    event = PendingEvent(EVENT_FOR_STATUS[report.status], new.event_seq)
    return Outcome(new, (event,), Verdict.APPLIED)


def failure(code: str, message: str) -> Report:
    """A report we make ourselves: a permanent submit error, a deadline."""
    return Report(status=Status.FAILED, error=TaskError(code, message))
