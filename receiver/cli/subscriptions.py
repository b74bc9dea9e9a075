"""`receiver subscriptions` (webhook endpoints) and `receiver replay` (send a window again)."""

from __future__ import annotations

import click
from rich.text import Text

from receiver.cli.client import JSON, segment
from receiver.cli.options import json_option, session, time_value
from receiver.cli.output import Cell, Output, shorten, show
from receiver.core.model import EVENT_TYPES


def _events(sub: JSON) -> str:
    types = sub.get("event_types")
    return "all" if types is None else show(types)


def _enabled(sub: JSON) -> Text:
    if sub.get("enabled"):
        return Text("enabled", style="green")
    reason = sub.get("disabled_reason")
    return Text(f"disabled ({reason})" if reason else "disabled", style="red")


def show_subscription(out: Output, sub: JSON, *, title: str | None = None) -> None:
    if out.json_mode:
        out.json(sub)
        return
    pairs: list[tuple[str, Cell]] = [
        ("id", str(sub.get("id"))),
        ("url", show(sub.get("url"))),
        ("events", _events(sub)),
        ("description", show(sub.get("description"))),
        ("state", _enabled(sub)),
        ("failing since", show(sub.get("failing_since"))),
        ("created", show(sub.get("created_at"))),
        ("updated", show(sub.get("updated_at"))),
    ]
    out.fields(pairs, title=title)
    secret = sub.get("secret")
    if secret:
        out.line()
        out.line(Text("Signing secret (shown only this once; store it now):", style="bold yellow"))
        out.line(Text(str(secret), style="bold"))
        if sub.get("previous_secret_expires_at"):
            out.line(
                f"The previous secret also signs deliveries until {sub['previous_secret_expires_at']}."
            )


event_type_option = click.option(
    "--event-type",
    "event_types",
    multiple=True,
    type=click.Choice(EVENT_TYPES),
    help="Only this event type; repeat for several.",
)


@click.group()
def subscriptions() -> None:
    """Webhook subscriptions: where events are delivered."""


@subscriptions.command("add")
@click.argument("url")
@event_type_option
@click.option("--description", help="A note for people.")
@json_option
def add(url: str, event_types: tuple[str, ...], description: str | None) -> None:
    """Deliver events to URL. Prints the signing secret, which is shown only this once."""
    s = session()
    body: JSON = {"url": url}
    if event_types:
        body["event_types"] = list(event_types)
    if description is not None:
        body["description"] = description
    show_subscription(s.out, s.api.post("/v1/subscriptions", body), title="Subscription added")


@subscriptions.command("list")
@json_option
def list_subscriptions() -> None:
    """Every subscription, newest first."""
    s = session()
    data: list[JSON] = []
    after: str | None = None
    while True:  # a short list; fetch it all
        page = s.api.get("/v1/subscriptions", {"limit": 200, "after": after})
        data.extend(page.get("data", []))
        after = page.get("next")
        if not after:
            break
    if s.out.json_mode:
        s.out.json({"data": data, "next": None})
        return
    s.out.table(
        ("ID", "URL", "EVENTS", "STATE", "DESCRIPTION"),
        (
            (
                str(x["id"]),
                show(x.get("url")),
                _events(x),
                _enabled(x),
                shorten(x.get("description"), 40),
            )
            for x in data
        ),
        empty="no subscriptions; add one with `receiver subscriptions add URL`",
    )


@subscriptions.command("show")
@click.argument("subscription_id")
@json_option
def show_command(subscription_id: str) -> None:
    """One subscription."""
    s = session()
    show_subscription(s.out, s.api.get(f"/v1/subscriptions/{segment(subscription_id)}"))


@subscriptions.command("update")
@click.argument("subscription_id")
@click.option("--url", "new_url", help="A new endpoint URL.")
@event_type_option
@click.option("--all-events", is_flag=True, help="Deliver every event type.")
@click.option("--description", help='A new note ("" clears it).')
@click.option("--enable/--disable", "enabled", default=None, help="Turn deliveries on or off.")
@json_option
def update(
    subscription_id: str,
    new_url: str | None,
    event_types: tuple[str, ...],
    all_events: bool,
    description: str | None,
    enabled: bool | None,
) -> None:
    """Change a subscription."""
    if event_types and all_events:
        raise click.UsageError("give --event-type or --all-events, not both")
    body: JSON = {}
    if new_url is not None:
        body["url"] = new_url
    if event_types:
        body["event_types"] = list(event_types)
    if all_events:
        body["event_types"] = None
    if description is not None:
        body["description"] = description or None
    if enabled is not None:
        body["enabled"] = enabled
    if not body:
        raise click.UsageError(
            "nothing to change: give --url, --event-type, --all-events, --description, "
            "--enable or --disable"
        )
    s = session()
    sub = s.api.patch(f"/v1/subscriptions/{segment(subscription_id)}", body)
    show_subscription(s.out, sub, title="Subscription updated")


@subscriptions.command("remove")
@click.argument("subscription_id")
@json_option
def remove(subscription_id: str) -> None:
    """Remove a subscription; deliveries still owed to it are cancelled."""
    s = session()
    s.api.delete(f"/v1/subscriptions/{segment(subscription_id)}")
    if s.out.json_mode:
        s.out.json({"id": subscription_id, "removed": True})
    else:
        s.out.line(f"removed {subscription_id}; deliveries still owed to it are cancelled")


@subscriptions.command("rotate-secret")
@click.argument("subscription_id")
@json_option
def rotate_secret(subscription_id: str) -> None:
    """A new signing secret; for 24 hours deliveries are signed with the old one too."""
    s = session()
    sub = s.api.post(f"/v1/subscriptions/{segment(subscription_id)}/rotate-secret")
    show_subscription(s.out, sub, title="Secret rotated")


@click.command()
@click.argument("subscription_id")
@click.option(
    "--since",
    required=True,
    metavar="TIME",
    callback=time_value,
    help="RFC 3339, or a time ago such as 30m, 2h, 1d.",
)
@click.option(
    "--until",
    metavar="TIME",
    callback=time_value,
    help="End of the window (default: now); same forms.",
)
@event_type_option
@json_option
def replay(
    subscription_id: str, since: str, until: str | None, event_types: tuple[str, ...]
) -> None:
    """Deliver every event in a time window to a subscription again."""
    s = session()
    body: JSON = {"since": since}
    if until is not None:
        body["until"] = until
    if event_types:
        body["event_types"] = list(event_types)
    answer = s.api.post(f"/v1/subscriptions/{segment(subscription_id)}/replay", body)
    if s.out.json_mode:
        s.out.json(answer)
        return
    window = f"since {since}" + (f" until {until}" if until else "")
    s.out.line(f"enqueued {answer.get('enqueued')} deliveries to {subscription_id} ({window})")
