"""`receiver events`: the event log, and delivering one event once more."""

from __future__ import annotations

import json

import click
from rich.text import Text

from receiver.cli.client import JSON, segment
from receiver.cli.options import json_option, session
from receiver.cli.output import Cell, show, status
from receiver.core.model import EVENT_TYPES


def _task(event: JSON) -> JSON:
    data = event.get("data")
    task = data.get("task") if isinstance(data, dict) else None
    return task if isinstance(task, dict) else {}


@click.group()
def events() -> None:
    """The event log: one event per task state change."""


@events.command("list")
@click.option("--type", "type_", type=click.Choice(EVENT_TYPES), help="Only this event type.")
@click.option("--task", "task_id", metavar="ID", help="Only this task's events.")
@click.option("--limit", type=click.IntRange(1, 200), help="At most this many (default 50).")
@click.option("--after", metavar="CURSOR", help="The page after this cursor (printed as `more`).")
@json_option
def list_events(
    type_: str | None, task_id: str | None, limit: int | None, after: str | None
) -> None:
    """Events, newest first."""
    s = session()
    params = {"type": type_, "task_id": task_id, "limit": limit, "after": after}
    page = s.api.get("/v1/events", params)
    if s.out.json_mode:
        s.out.json(page)
        return
    s.out.table(
        ("ID", "TYPE", "TASK", "SEQ", "CREATED"),
        (
            (
                str(e["id"]),
                show(e.get("type")),
                show(_task(e).get("id")),
                show(e.get("sequence")),
                show(e.get("created_at")),
            )
            for e in page.get("data", [])
        ),
        empty="no events",
    )
    s.out.more(page, "receiver events list")


@events.command("show")
@click.argument("event_id")
@json_option
def show_command(event_id: str) -> None:
    """One event, exactly as subscribers receive it."""
    s = session()
    event = s.api.get(f"/v1/events/{segment(event_id)}")
    if s.out.json_mode:
        s.out.json(event)
        return
    task = _task(event)
    pairs: list[tuple[str, Cell]] = [
        ("id", str(event.get("id"))),
        ("type", show(event.get("type"))),
        ("sequence", show(event.get("sequence"))),
        ("created", show(event.get("created_at"))),
        ("task", show(task.get("id"))),
        ("task status", status(task.get("status"))),
    ]
    s.out.fields(pairs)
    s.out.line()
    s.out.line(Text("Body, as delivered:", style="bold"))
    s.out.line(json.dumps(event, indent=2, ensure_ascii=False))


@events.command("redeliver")
@click.argument("event_id")
@click.option(
    "--subscription",
    "subscription_id",
    metavar="ID",
    help="Only to this subscription (default: every enabled one that wants the event's type).",
)
@json_option
def redeliver(event_id: str, subscription_id: str | None) -> None:
    """Deliver one event once more."""
    s = session()
    body: JSON = {"subscription_id": subscription_id} if subscription_id else {}
    answer = s.api.post(f"/v1/events/{segment(event_id)}/redeliver", body)
    if s.out.json_mode:
        s.out.json(answer)
        return
    to = subscription_id or "every enabled subscription that wants it"
    s.out.line(f"enqueued {answer.get('enqueued')} deliveries of {event_id} to {to}")
