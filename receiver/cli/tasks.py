"""`receiver tasks`: list tasks, show one, ask its provider about it now."""

from __future__ import annotations

import click
from rich.text import Text

from receiver.cli.client import JSON, segment
from receiver.cli.options import json_option, session
from receiver.cli.output import Cell, Output, shorten, show, status
from receiver.core.model import PROVIDERS, Status

STATUSES = tuple(s.value for s in Status)


def error_text(task: JSON) -> str:
    error = task.get("error")
    if not isinstance(error, dict):
        return "-"
    return f"{error.get('code')}: {error.get('message')}"


def show_task(out: Output, task: JSON, *, title: str | None = None) -> None:
    if out.json_mode:
        out.json(task)
        return
    pairs: list[tuple[str, Cell]] = [
        ("id", str(task.get("id"))),
        ("status", status(task.get("status"))),
        ("provider", show(task.get("provider"))),
        ("provider task", show(task.get("provider_task_id"))),
        ("mode", show(task.get("mode"))),
        ("prompt", show(task.get("prompt"))),
        ("aspect ratio", show(task.get("aspect_ratio"))),
        ("quality", show(task.get("quality"))),
        ("images in", show(task.get("image_urls"))),
        ("results", Text("\n".join(task.get("result_urls") or []) or "-")),
        ("error", Text(error_text(task), style="red" if task.get("error") else "")),
        ("metadata", show(task.get("metadata"))),
        ("created", show(task.get("created_at"))),
        ("updated", show(task.get("updated_at"))),
        ("completed", show(task.get("completed_at"))),
    ]
    out.fields(pairs, title=title)


@click.group()
def tasks() -> None:
    """Tasks: list them, show one, sync one with its provider."""


@tasks.command("list")
@click.option("--status", "status_", type=click.Choice(STATUSES), help="Only tasks in this status.")
@click.option("--provider", type=click.Choice(PROVIDERS), help="Only this provider's tasks.")
@click.option("--limit", type=click.IntRange(1, 200), help="At most this many (default 50).")
@click.option("--after", metavar="CURSOR", help="The page after this cursor (printed as `more`).")
@json_option
def list_tasks(
    status_: str | None, provider: str | None, limit: int | None, after: str | None
) -> None:
    """Tasks, newest first."""
    s = session()
    params = {"status": status_, "provider": provider, "limit": limit, "after": after}
    page = s.api.get("/v1/tasks", params)
    if s.out.json_mode:
        s.out.json(page)
        return
    s.out.table(
        ("ID", "STATUS", "PROVIDER", "CREATED", "PROMPT"),
        (
            (
                str(t["id"]),
                status(t.get("status")),
                show(t.get("provider")),
                show(t.get("created_at")),
                shorten(t.get("prompt"), 50),
            )
            for t in page.get("data", [])
        ),
        empty="no tasks",
    )
    s.out.more(page, "receiver tasks list")


@tasks.command("show")
@click.argument("task_id")
@json_option
def show_command(task_id: str) -> None:
    """One task, with its results or its error."""
    s = session()
    show_task(s.out, s.api.get(f"/v1/tasks/{segment(task_id)}"))


@tasks.command("sync")
@click.argument("task_id")
@json_option
def sync(task_id: str) -> None:
    """Ask the task's provider about it now, and show the task after reconciling the answer."""
    s = session()
    show_task(s.out, s.api.post(f"/v1/tasks/{segment(task_id)}/sync"))
