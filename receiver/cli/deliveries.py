"""`receiver deliveries`: what was sent where, and every attempt."""

from __future__ import annotations

import click
from rich.text import Text

from receiver.cli.client import JSON, segment
from receiver.cli.options import json_option, session
from receiver.cli.output import Cell, shorten, show, status

DELIVERY_STATUSES = ("pending", "delivered", "dead", "cancelled")


def _outcome(code: object, error: object) -> str:
    if error:
        return str(error) if code is None else f"{code} ({error})"
    return show(code)


@click.group()
def deliveries() -> None:
    """Deliveries of events to subscriptions, with every attempt."""


@deliveries.command("list")
@click.option("--subscription", "subscription_id", metavar="ID", help="Only to this subscription.")
@click.option("--event", "event_id", metavar="ID", help="Only of this event.")
@click.option(
    "--status", "status_", type=click.Choice(DELIVERY_STATUSES), help="Only in this status."
)
@click.option("--limit", type=click.IntRange(1, 200), help="At most this many (default 50).")
@click.option("--after", metavar="CURSOR", help="The page after this cursor (printed as `more`).")
@json_option
def list_deliveries(
    subscription_id: str | None,
    event_id: str | None,
    status_: str | None,
    limit: int | None,
    after: str | None,
) -> None:
    """Deliveries, newest first."""
    s = session()
    params = {
        "subscription_id": subscription_id,
        "event_id": event_id,
        "status": status_,
        "limit": limit,
        "after": after,
    }
    page = s.api.get("/v1/deliveries", params)
    if s.out.json_mode:
        s.out.json(page)
        return
    s.out.table(
        ("ID", "STATUS", "EVENT", "SUBSCRIPTION", "ATTEMPTS", "LAST", "NEXT ATTEMPT"),
        (
            (
                str(d["id"]),
                status(d.get("status")),
                show(d.get("event_id")),
                show(d.get("subscription_id")),
                show(d.get("attempt_count")),
                shorten(_outcome(d.get("last_status_code"), d.get("last_error")), 40),
                show(d.get("next_attempt_at")),
            )
            for d in page.get("data", [])
        ),
        empty="no deliveries",
    )
    s.out.more(page, "receiver deliveries list")


@deliveries.command("show")
@click.argument("delivery_id")
@json_option
def show_command(delivery_id: str) -> None:
    """One delivery and every attempt: time, duration, status code, answer, error."""
    s = session()
    d = s.api.get(f"/v1/deliveries/{segment(delivery_id)}")
    if s.out.json_mode:
        s.out.json(d)
        return
    pairs: list[tuple[str, Cell]] = [
        ("id", str(d.get("id"))),
        ("status", status(d.get("status"))),
        ("event", show(d.get("event_id"))),
        ("subscription", show(d.get("subscription_id"))),
        ("origin", show(d.get("origin"))),
        ("attempts", show(d.get("attempt_count"))),
        ("next attempt", show(d.get("next_attempt_at"))),
        ("created", show(d.get("created_at"))),
        ("updated", show(d.get("updated_at"))),
    ]
    s.out.fields(pairs)
    s.out.line()
    attempts: list[JSON] = d.get("attempts") or []
    s.out.table(
        ("#", "AT", "TOOK", "STATUS", "ERROR", "ANSWER"),
        (
            (
                str(n),
                show(a.get("attempted_at")),
                f"{a.get('duration_ms', 0):.0f} ms",
                Text(show(a.get("status_code")), style=_code_style(a.get("status_code"))),
                shorten(a.get("error"), 40),
                shorten(a.get("response_body"), 40),
            )
            for n, a in enumerate(attempts, 1)
        ),
        title="Attempts",
        empty="no attempts yet",
    )


def _code_style(code: object) -> str:
    if isinstance(code, int):
        return "green" if 200 <= code < 300 else "red"
    return "red"
