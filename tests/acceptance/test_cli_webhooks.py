"""The `receiver` command against a running service: subscriptions, the event log,
deliveries with their attempts, redelivery and replay, as a user sees them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import SECRET, SUB_ID, cli
from support import Harness, Subscriber, eventually, running, subscriber

HOOK = "https://hooks.example.com/in"


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(tmp_path) as harness:
        yield harness


async def test_a_subscription_is_added_listed_changed_rotated_and_removed(h: Harness) -> None:
    assert "no subscriptions" in (await cli(h.url, "subscriptions", "list")).ok().out

    added = (
        await cli(
            h.url,
            "subscriptions",
            "add",
            HOOK,
            "--event-type",
            "task.completed",
            "--event-type",
            "task.failed",
            "--description",
            "orders [bold]",
        )
    ).ok()
    sub_id = SUB_ID.findall(added.out)[0]
    secret = SECRET.findall(added.out)[0]
    assert "shown only this once" in added.out
    assert "task.completed, task.failed" in added.out and "orders [bold]" in added.out
    assert len(secret) > len("whsec_") + 40

    listed = (await cli(h.url, "subscriptions", "list")).ok().out
    header, row = listed.splitlines()
    assert header.split() == ["ID", "URL", "EVENTS", "STATE", "DESCRIPTION"]
    assert row.split()[:3] == [sub_id, HOOK, "task.completed,"] and "enabled" in row
    as_json = (await cli(h.url, "subscriptions", "list", "--json")).ok().data()
    assert [s["id"] for s in as_json] == [sub_id]
    shown = (await cli(h.url, "subscriptions", "show", sub_id)).ok().out
    assert sub_id in shown and HOOK in shown and "whsec_" not in shown

    off = (await cli(h.url, "subscriptions", "update", sub_id, "--disable")).ok().out
    assert "disabled" in off and "updated" in off
    changed = (
        await cli(
            h.url,
            "subscriptions",
            "update",
            sub_id,
            "--url",
            "https://hooks.example.com/v2",
            "--all-events",
            "--description",
            "",
            "--enable",
            "--json",
        )
    ).ok()
    assert {k: changed.json()[k] for k in ("url", "event_types", "description", "enabled")} == {
        "url": "https://hooks.example.com/v2",
        "event_types": None,
        "description": None,
        "enabled": True,
    }
    types = await cli(h.url, "subscriptions", "update", sub_id, "--event-type", "task.failed")
    assert "task.failed" in types.ok().out and "task.completed" not in types.out

    rotated = (await cli(h.url, "subscriptions", "rotate-secret", sub_id)).ok().out
    new_secret = SECRET.findall(rotated)[0]
    assert new_secret != secret and "shown only this once" in rotated
    assert "previous secret also signs deliveries until" in rotated
    again = (await cli(h.url, "subscriptions", "rotate-secret", sub_id, "--json")).ok().json()
    assert again["secret"].startswith("whsec_") and again["secret"] != new_secret

    removed = (await cli(h.url, "subscriptions", "remove", sub_id)).ok()
    assert f"removed {sub_id}" in removed.out
    for args in (("show", sub_id), ("remove", sub_id), ("rotate-secret", sub_id)):
        gone = await cli(h.url, "subscriptions", *args)
        assert gone.code == 3 and "does not exist" in gone.err, gone


async def test_subscription_input_is_checked(h: Harness) -> None:
    refused = await cli(h.url, "subscriptions", "add", "ftp://hooks.example.com/in")
    assert refused.code == 4 and "\n  url: " in refused.err, refused
    typo = await cli(h.url, "subscriptions", "add", HOOK, "--event-type", "task.done")
    assert typo.code == 2 and "task.done" in typo.err
    sub = await h.subscribe(HOOK)
    for usage in (
        ("update", sub["id"]),
        ("update", sub["id"], "--all-events", "--event-type", "task.failed"),
    ):
        result = await cli(h.url, "subscriptions", *usage)
        assert result.code == 2 and result.err, usage
    too_long = await cli(h.url, "subscriptions", "update", sub["id"], "--description", "x" * 1001)
    assert too_long.code == 4 and "\n  description: " in too_long.err
    assert (await cli(h.url, "subscriptions", "add", HOOK, "--json")).ok().json()["secret"]


async def completed_task_with_deliveries(h: Harness, hook: Subscriber) -> tuple[str, list[str]]:
    """A task run to completion with every event delivered; its id and event ids (oldest first)."""
    task_id = (await cli(h.url, "submit", "a heron", "--provider", "apimall", "--json")).json()[
        "id"
    ]
    await h.drive(task_id, "completed")
    events = await h.events(task_id)
    await hook.wait_for(len(events))
    await eventually(
        lambda: h.deliveries(status="delivered"),
        lambda ds: len(ds) == len(events),
        what="every delivery to be recorded as delivered",
    )
    page = await h.api.get("/v1/events", params={"task_id": task_id})
    return task_id, [e["id"] for e in reversed(page.json()["data"])]


async def test_events_and_deliveries_show_what_was_sent(h: Harness) -> None:
    async with subscriber() as hook:
        sub_id = (await cli(h.url, "subscriptions", "add", hook.url, "--json")).json()["id"]
        task_id, event_ids = await completed_task_with_deliveries(h, hook)
        last = event_ids[-1]

        table = (await cli(h.url, "events", "list", "--task", task_id)).ok().out
        header, *rows = table.splitlines()
        assert header.split() == ["ID", "TYPE", "TASK", "SEQ", "CREATED"]
        assert [r.split()[0] for r in rows] == event_ids[::-1]
        assert rows[0].split()[1:4] == ["task.completed", task_id, str(len(event_ids))]
        done = await cli(h.url, "events", "list", "--type", "task.completed", "--json")
        assert [e["id"] for e in done.ok().data()] == [last]
        first = (await cli(h.url, "events", "list", "--limit", "1")).ok().out
        assert f"more: receiver events list --after {last}" in first

        shown = (await cli(h.url, "events", "show", last)).ok().out
        assert "task.completed" in shown and task_id in shown and "Body, as delivered" in shown
        body = (await cli(h.url, "events", "show", last, "--json")).ok().json()
        assert body == hook.received[-1].json

        listed = (await cli(h.url, "deliveries", "list", "--subscription", sub_id)).ok().out
        header, *rows = listed.splitlines()
        assert header.split()[:5] == ["ID", "STATUS", "EVENT", "SUBSCRIPTION", "ATTEMPTS"]
        assert len(rows) == len(event_ids)
        assert all(r.split()[1:2] == ["delivered"] and sub_id in r for r in rows)
        of_last = (await cli(h.url, "deliveries", "list", "--event", last, "--json")).ok().data()
        assert [(d["event_id"], d["status"]) for d in of_last] == [(last, "delivered")]
        dead = await cli(h.url, "deliveries", "list", "--status", "dead", "--limit", "5")
        assert dead.ok().out.strip() == "no deliveries"

        delivery = (await cli(h.url, "deliveries", "show", of_last[0]["id"])).ok().out
        assert of_last[0]["id"] in delivery and "delivered" in delivery
        attempts = delivery[delivery.index("Attempts") :].splitlines()
        assert attempts[1].split()[:2] == ["#", "AT"]
        assert attempts[2].split()[0] == "1" and " 204 " in attempts[2]
        full = (await cli(h.url, "deliveries", "show", of_last[0]["id"], "--json")).ok().json()
        assert [a["status_code"] for a in full["attempts"]] == [204]

        for args in (("events", "show", "evt_nope"), ("deliveries", "show", "dlv_nope")):
            missing = await cli(h.url, *args)
            assert missing.code == 3 and "does not exist" in missing.err, missing


async def test_redeliver_and_replay_send_events_again(h: Harness) -> None:
    async with subscriber() as hook:
        sub_id = (await cli(h.url, "subscriptions", "add", hook.url, "--json")).json()["id"]
        _, event_ids = await completed_task_with_deliveries(h, hook)
        sent = len(hook.received)

        one = await cli(h.url, "events", "redeliver", event_ids[0], "--subscription", sub_id)
        assert f"enqueued 1 deliveries of {event_ids[0]} to {sub_id}" in one.ok().out
        everyone = (await cli(h.url, "events", "redeliver", event_ids[-1], "--json")).ok()
        assert everyone.json() == {"enqueued": 1}
        await hook.wait_for(sent + 2)
        assert hook.ids()[sent:] == [event_ids[0], event_ids[-1]]

        window = (await cli(h.url, "replay", sub_id, "--since", "1h")).ok().out
        assert f"enqueued {len(event_ids)} deliveries to {sub_id} (since " in window
        await hook.wait_for(sent + 2 + len(event_ids))
        created: Any = (await h.api.get(f"/v1/events/{event_ids[0]}")).json()["created_at"]
        only_completed = await cli(
            h.url,
            "replay",
            sub_id,
            "--since",
            created,
            "--until",
            "2999-01-01T00:00:00Z",
            "--event-type",
            "task.completed",
            "--json",
        )
        assert only_completed.ok().json() == {"enqueued": 1}
        await hook.wait_for(sent + 3 + len(event_ids))
        assert hook.types()[-1] == "task.completed"

        backwards = await cli(h.url, "replay", sub_id, "--since", "1h", "--until", "2h")
        assert backwards.code == 4 and "\n  until: " in backwards.err, backwards
        for when in ("yesterday", "2026-01-01", "5x"):
            assert (await cli(h.url, "replay", sub_id, "--since", when)).code == 2, when
        assert (await cli(h.url, "replay", sub_id)).code == 2  # --since is required
        missing = await cli(h.url, "replay", "sub_00000000000000000000000000", "--since", "1d")
        assert missing.code == 3

        await cli(h.url, "subscriptions", "update", sub_id, "--disable")
        disabled = await cli(h.url, "replay", sub_id, "--since", "30m")
        assert disabled.code == 4 and "disabled" in disabled.err and "enable it" in disabled.err
        to_disabled = await cli(
            h.url, "events", "redeliver", event_ids[0], "--subscription", sub_id
        )
        assert to_disabled.code == 4 and "subscription-disabled" in to_disabled.err
