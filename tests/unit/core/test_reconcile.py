from __future__ import annotations

from typing import Any

import pytest
from msgspec.structs import replace

from receiver.core.model import Report, Status, TaskError, TaskSpec
from receiver.core.reconcile import Verdict, failure, reconcile
from receiver.core.task import Task

T0 = 1_800_000_000.0


def make_task(status: Status = Status.QUEUED, **changes: Any) -> Task:
    task = Task(
        id="task_01",
        provider="revidapi",
        status=status,
        spec=TaskSpec(prompt="a cat"),
        created_at=T0,
        updated_at=T0,
    )
    return replace(task, **changes)


def test_submit_answer_moves_queued_to_pending_with_one_submitted_event() -> None:
    out = reconcile(make_task(), Report(Status.PENDING, provider_task_id="up-1"), T0 + 1)
    assert out.verdict is Verdict.APPLIED
    assert out.task.status is Status.PENDING
    assert out.task.provider_task_id == "up-1"
    assert [(e.type, e.sequence) for e in out.events] == [("task.submitted", 1)]


def test_completion_records_urls_and_time_and_numbers_events_in_order() -> None:
    task = make_task(Status.PROCESSING, event_seq=2, provider_task_id="up-1")
    out = reconcile(task, Report(Status.COMPLETED, result_urls=("https://x/1.png",)), T0 + 30)
    assert out.task.status is Status.COMPLETED
    assert out.task.result_urls == ("https://x/1.png",)
    assert out.task.completed_at == T0 + 30
    assert [(e.type, e.sequence) for e in out.events] == [("task.completed", 3)]


def test_failure_keeps_the_providers_code_and_message() -> None:
    out = reconcile(make_task(Status.PENDING), failure("insufficient_credits", "no credits"), T0)
    assert out.task.error == TaskError("insufficient_credits", "no credits")
    assert out.events[0].type == "task.failed"


@pytest.mark.parametrize("final", [Status.COMPLETED, Status.FAILED])
@pytest.mark.parametrize("reported", list(Status))
def test_final_states_are_final(final: Status, reported: Status) -> None:
    task = make_task(final, event_seq=3)
    out = reconcile(task, Report(reported), T0 + 99)
    assert out.task == task
    assert out.events == ()
    assert out.verdict is (Verdict.DUPLICATE if reported == final else Verdict.STALE)


def test_a_late_waiting_after_processing_changes_nothing() -> None:
    task = make_task(Status.PROCESSING, event_seq=2)
    out = reconcile(task, Report(Status.PENDING), T0)
    assert out.verdict is Verdict.STALE and out.task == task and not out.events


def test_an_early_callback_completes_a_queued_task_and_adopts_the_upstream_id() -> None:
    report = Report(Status.COMPLETED, provider_task_id="up-9", result_urls=("u",))
    out = reconcile(make_task(), report, T0)
    assert out.task.status is Status.COMPLETED and out.task.provider_task_id == "up-9"
    # The create answer arriving afterwards is stale but harmless.
    late = reconcile(out.task, Report(Status.PENDING, provider_task_id="up-9"), T0 + 1)
    assert late.verdict is Verdict.STALE and late.task == out.task


def test_a_report_about_another_upstream_task_is_refused() -> None:
    task = make_task(Status.PENDING, provider_task_id="up-1")
    out = reconcile(task, Report(Status.COMPLETED, provider_task_id="up-2"), T0)
    assert out.verdict is Verdict.MISMATCH and out.task == task


def test_an_unmappable_status_moves_nothing() -> None:
    task = make_task(Status.PENDING, provider_task_id="up-1")
    out = reconcile(task, Report(None, provider_task_id="up-1"), T0)
    assert out.verdict is Verdict.UNKNOWN and out.task == task
