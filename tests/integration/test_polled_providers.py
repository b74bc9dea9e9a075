"""apimall, apipod and dreamcore: no callbacks, so the poller carries every task to its end.

The service and the simulators run as real HTTP servers on loopback; time
moves only when the test advances the shared manual clock.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import running

POLLED = ["apimall", "apipod", "dreamcore"]


def assert_one_final_event(events: list[tuple[int, str]], final: str) -> None:
    assert [seq for seq, _ in events] == list(range(1, len(events) + 1))
    assert events[0][1] == "task.submitted"
    assert [t for _, t in events].count(final) == 1
    assert events[-1][1] == final


@pytest.mark.parametrize("provider", POLLED)
async def test_a_task_is_polled_to_completion(tmp_path: Path, provider: str) -> None:
    async with running(tmp_path) as h:
        task = await h.create(prompt="a lighthouse at dusk", provider=provider, aspect_ratio="16:9")
        assert task["status"] == "queued" and task["mode"] == "poll"
        pending = await h.wait_status(task["id"], "pending")
        assert pending["provider_task_id"]

        done = await h.drive(task["id"], "completed", "failed")
        assert done["status"] == "completed"
        assert done["result_urls"] and all(u.startswith("http") for u in done["result_urls"])
        assert done["completed_at"] is not None and done["error"] is None
        assert_one_final_event(await h.events(task["id"]), "task.completed")
        assert h.sandbox.stats[provider].creates == 1


@pytest.mark.parametrize("provider", POLLED)
async def test_a_task_the_provider_fails_ends_failed_with_its_message(
    tmp_path: Path, provider: str
) -> None:
    async with running(tmp_path) as h:
        h.sandbox.faults[provider].fail_tasks = 1
        task = await h.create(prompt="a lighthouse", provider=provider)
        done = await h.drive(task["id"], "completed", "failed")
        assert done["status"] == "failed"
        assert done["error"]["code"] and done["error"]["message"]
        assert done["result_urls"] == []
        assert_one_final_event(await h.events(task["id"]), "task.failed")


@pytest.mark.parametrize("provider", POLLED)
async def test_429_on_polls_slows_down_and_still_finishes(tmp_path: Path, provider: str) -> None:
    async with running(tmp_path) as h:
        h.sandbox.faults[provider].poll_429 = 3
        h.sandbox.faults[provider].retry_after = 7
        task = await h.create(prompt="a lighthouse", provider=provider)
        await h.wait_status(task["id"], "pending")
        done = await h.drive(task["id"], "completed", "failed", step=3)
        assert done["status"] == "completed"
        assert h.sandbox.stats[provider].rate_limited == 3


@pytest.mark.parametrize("provider", POLLED)
async def test_transient_5xx_on_create_is_retried_without_duplicates(
    tmp_path: Path, provider: str
) -> None:
    async with running(tmp_path) as h:
        h.sandbox.faults[provider].create_5xx = 2
        task = await h.create(prompt="a lighthouse", provider=provider)
        done = await h.drive(task["id"], "completed", "failed", step=2)
        assert done["status"] == "completed"
        # Two refused creates and one that worked: exactly one upstream task.
        assert h.sandbox.stats[provider].create_requests == 3
        assert h.sandbox.stats[provider].creates == 1


@pytest.mark.parametrize(
    ("provider", "status"), [("apimall", 402), ("apipod", 403), ("dreamcore", 402)]
)
async def test_a_permanent_create_error_fails_the_task_with_the_providers_code(
    tmp_path: Path, provider: str, status: int
) -> None:
    async with running(tmp_path) as h:
        h.sandbox.faults[provider].update(
            {"create_error": {"status": status, "n": 1}}, callbacks=False
        )
        task = await h.create(prompt="a lighthouse", provider=provider)
        done = await h.wait_status(task["id"], "failed")
        assert done["error"]["code"] != "timeout" and done["error"]["message"]
        assert done["provider_task_id"] is None
        assert h.sandbox.stats[provider].create_requests == 1  # not retried
        assert await h.events(task["id"]) == [(1, "task.failed")]


async def test_a_task_past_its_deadline_fails_with_timeout(tmp_path: Path) -> None:
    async with running(tmp_path, env={"RECEIVER_TASK_DEADLINE": "20"}) as h:
        h.sandbox.faults["apipod"].poll_429 = 1000
        task = await h.create(prompt="a lighthouse", provider="apipod")
        done = await h.drive(task["id"], "completed", "failed", step=4)
        assert done["status"] == "failed" and done["error"]["code"] == "timeout"
