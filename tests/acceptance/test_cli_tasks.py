"""The `receiver` command against a running service: submitting, following and reading tasks,
what every kind of failure looks like (message and exit code), and the commands that run
things locally (`gen-token`, `migrate`, `serve`, `demo`)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cli_support import Run, cli, cli_process, invoke
from support import Harness, bind, eventually, running, url_of

UNKNOWN_TASK = "task_00000000000000000000000000"


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(tmp_path) as harness:
        yield harness


async def newest_task_id(h: Harness) -> str:
    page = await eventually(
        lambda: h.api.get("/v1/tasks"), lambda r: bool(r.json()["data"]), what="a task"
    )
    task_id: str = page.json()["data"][0]["id"]
    return task_id


async def test_submit_then_show_and_list_what_was_submitted(h: Harness) -> None:
    fox = (
        await cli(
            h.url,
            "submit",
            "a red fox in snow",
            "--provider",
            "apimall",
            "--aspect-ratio",
            "16:9",
            "--quality",
            "4K",
            "--metadata",
            '{"order": 42}',
            "--json",
        )
    ).ok()
    task = fox.json()
    assert task["id"].startswith("task_") and task["status"] == "queued"
    assert (task["provider"], task["aspect_ratio"], task["quality"]) == ("apimall", "16:9", "4K")
    assert task["metadata"] == {"order": 42} and task["prompt"] == "a red fox in snow"

    edit = (
        await cli(h.url, "submit", "the same, in blue", "--image-url", "https://img.example/a.png")
    ).ok()
    assert "Submitted" in edit.out and "https://img.example/a.png" in edit.out
    edit_id = (await h.api.get("/v1/tasks", params={"limit": 1})).json()["data"][0]["id"]
    assert edit_id in edit.out and edit_id != task["id"]

    shown = (await cli(h.url, "tasks", "show", task["id"])).ok()
    for expected in (task["id"], "apimall", "a red fox in snow", "16:9", "4K", '{"order": 42}'):
        assert expected in shown.out
    as_json = (await cli(h.url, "tasks", "show", task["id"], "--json")).ok().json()
    assert as_json == (await h.get(task["id"]))

    table = (await cli(h.url, "tasks", "list")).ok().out
    header, *rows = table.splitlines()
    assert header.split() == ["ID", "STATUS", "PROVIDER", "CREATED", "PROMPT"]
    assert [r.split()[0] for r in rows] == [edit_id, task["id"]]  # newest first
    assert "a red fox in snow" in rows[1]

    only = (await cli(h.url, "tasks", "list", "--provider", "apimall", "--json")).ok()
    assert [t["id"] for t in only.data()] == [task["id"]]
    first = (await cli(h.url, "tasks", "list", "--limit", "1")).ok().out
    assert edit_id in first and f"more: receiver tasks list --after {edit_id}" in first
    second = (await cli(h.url, "tasks", "list", "--after", edit_id, "--json")).ok().json()
    assert [t["id"] for t in second["data"]] == [task["id"]] and second["next"] is None
    none = (await cli(h.url, "tasks", "list", "--status", "completed")).ok()
    assert none.out.strip() == "no tasks"


async def test_submit_wait_follows_the_task_until_it_completes(h: Harness) -> None:
    run = asyncio.create_task(
        cli(h.url, "submit", "a lighthouse at dusk", "--provider", "apimall", "--wait")
    )
    task_id = await newest_task_id(h)
    done = await h.drive(task_id, "completed", "failed")
    assert done["status"] == "completed"
    result = (await run).ok()
    lines = result.out.splitlines()
    assert lines[0].split()[:2] == [task_id, "queued"]  # plain lines without a terminal
    progress = [line.split()[1] for line in lines if line.startswith(task_id)]
    assert progress[-1] == "completed" and progress == list(dict.fromkeys(progress))
    assert all(url in result.out for url in done["result_urls"])
    assert result.err == ""


async def test_submit_wait_exits_1_when_the_task_fails(h: Harness) -> None:
    h.sandbox.faults["apipod"].fail_tasks = 1
    run = asyncio.create_task(
        cli(h.url, "submit", "a storm", "--provider", "apipod", "--wait", "--json")
    )
    task_id = await newest_task_id(h)
    assert (await h.drive(task_id, "completed", "failed"))["status"] == "failed"
    result = await run
    assert result.code == 1, result
    task = result.json()  # stdout is only the final task
    assert (task["id"], task["status"]) == (task_id, "failed") and task["error"]["code"]
    assert f"task {task_id} failed: {task['error']['code']}" in result.err


async def test_an_idempotency_key_gives_the_same_task_and_refuses_another_body(
    h: Harness,
) -> None:
    args = ("submit", "a cat", "--provider", "dreamcore", "--idempotency-key", "order-7")
    first = (await cli(h.url, *args, "--json")).ok().json()
    again = (await cli(h.url, *args)).ok()
    assert first["id"] in again.out and "used before" in again.out
    other = await cli(h.url, "submit", "a dog", "--idempotency-key", "order-7")
    assert other.code == 4, other
    assert "idempotency-conflict" in other.err and first["id"] in other.err


async def test_sync_asks_the_provider_and_says_when_it_cannot(h: Harness) -> None:
    h.sandbox.faults["apimall"].create_5xx = 1
    queued = (await cli(h.url, "submit", "a boat", "--provider", "apimall", "--json")).ok().json()
    await h.eventually_error(queued["id"])
    not_yet = await cli(h.url, "tasks", "sync", queued["id"])
    assert not_yet.code == 4 and "not-submitted" in not_yet.err, not_yet

    await h.drive(queued["id"], "pending", "processing")  # submitted; no poll due yet
    synced = (await cli(h.url, "tasks", "sync", queued["id"], "--json")).ok().json()
    assert synced["id"] == queued["id"] and synced["provider_task_id"]
    assert synced["status"] in ("pending", "processing")
    shown = (await cli(h.url, "tasks", "sync", queued["id"])).ok()
    assert synced["provider_task_id"] in shown.out

    h.sandbox.faults["apimall"].poll_429 = 1
    failed = await cli(h.url, "tasks", "sync", queued["id"])
    assert failed.code == 7 and "upstream-unavailable" in failed.err, failed


async def test_errors_say_what_to_do_and_exit_with_their_code(h: Harness) -> None:
    for args in (("tasks", "show", UNKNOWN_TASK), ("tasks", "sync", "nope")):
        missing = await cli(h.url, *args)
        assert missing.code == 3 and missing.out == "", missing
        assert missing.err.startswith("error: ") and "does not exist" in missing.err

    bad = await cli(h.url, "submit", "x", "--provider", "apipod", "--aspect-ratio", "5:4")
    assert bad.code == 4, bad
    assert "validation" in bad.err and "\n  aspect_ratio: " in bad.err
    edit = await cli(h.url, "submit", "x", "--provider", "apipod", "--image-url", "https://a/b.png")
    assert edit.code == 4 and "\n  image_urls: " in edit.err, edit

    wrong = await cli(h.url, "tasks", "list", token="not-the-token")
    assert wrong.code == 5 and "RECEIVER_API_TOKEN" in wrong.err, wrong
    anonymous = await cli(h.url, "tasks", "list", token=None)
    assert anonymous.code == 5 and "no API token" in anonymous.err, anonymous

    sock = bind()
    nobody = url_of(sock)
    sock.close()
    down = await cli(nobody, "tasks", "list")
    assert down.code == 6, down
    assert nobody in down.err and "receiver serve" in down.err and "RECEIVER_URL" in down.err

    for usage in (
        ("submit", "x", "--quality", "8K"),
        ("submit", "x", "--metadata", "[1]"),
        ("submit", "x", "--metadata", "{nope"),
        ("tasks", "list", "--limit", "0"),
        ("tasks", "show"),
    ):
        assert (await cli(h.url, *usage)).code == 2, usage
    not_http = await cli("ftp://example.com", "tasks", "list")
    assert not_http.code == 2 and "RECEIVER_URL" in not_http.err
    assert (await h.api.get("/v1/tasks")).json()["data"] == []


async def test_the_installed_command_works_as_a_process(h: Harness) -> None:
    made = await cli_process(h.url, "submit", "a kite", "--provider", "revidapi", "--json")
    task = made.ok().json()
    shown = (await cli_process(h.url, "tasks", "show", task["id"])).ok()
    assert task["id"] in shown.out and "a kite" in shown.out and "revidapi" in shown.out
    missing = await cli_process(h.url, "tasks", "show", UNKNOWN_TASK)
    assert missing.code == 3 and "does not exist" in missing.err and missing.out == ""

    script = Path(sys.executable).with_name("receiver")
    if script.exists():  # the console script pip installed: `receiver = "receiver.cli:main"`
        listed = (await cli_process(h.url, "tasks", "list", "--json", program=(str(script),))).ok()
        assert [t["id"] for t in listed.data()] == [task["id"]]


def test_gen_token_and_migrate(tmp_path: Path) -> None:
    token = invoke("", "gen-token").ok().out.strip()
    assert len(token) >= 40 and token.isascii()
    assert len(invoke("", "gen-token", "--json").ok().json()["token"]) >= 40

    env = {"RECEIVER_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}"}
    first = invoke("", "migrate", env=env).ok().out
    assert "applied migrations 1" in first and str(tmp_path / "r.db") in first
    assert "schema is up to date" in invoke("", "migrate", env=env).ok().out
    assert invoke("", "migrate", "--json", env=env).ok().json()["applied"] == []


def test_serve_refuses_to_start_without_a_token() -> None:
    refused = invoke("", "serve", token=None)
    assert refused.code == 1 and "receiver gen-token" in refused.err


def test_help_lists_every_command_and_the_exit_codes() -> None:
    shown: Run = invoke("", "--help").ok()
    for name in (
        "serve",
        "migrate",
        "demo",
        "gen-token",
        "submit",
        "tasks",
        "subscriptions",
        "replay",
        "events",
        "deliveries",
    ):
        assert f"  {name} " in shown.out, name
    assert "6 service unreachable" in " ".join(shown.out.split())
