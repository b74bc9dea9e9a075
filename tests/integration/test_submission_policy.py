"""Never two upstream tasks for one of ours, whatever happens to a create request.

`create_hang` makes the simulator create the task and then withhold the answer
past our upstream timeout: the outcome of that create is unknown to us.
"""

from __future__ import annotations

from pathlib import Path

from support import running

FAST_TIMEOUT = {"RECEIVER_UPSTREAM_TIMEOUT": "0.5"}


async def test_apimall_repeats_an_unknown_create_with_the_same_idempotency_key(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, env=FAST_TIMEOUT) as h:
        h.sandbox.faults["apimall"].create_hang = 1
        task = await h.create(prompt="a kite", provider="apimall")
        done = await h.drive(task["id"], "completed", "failed", step=2)
        h.sandbox.release_hangs()
        assert done["status"] == "completed"
        stats = h.sandbox.stats["apimall"]
        assert stats.create_requests == 2 and stats.idempotent_replays == 1
        assert len(h.sandbox.tasks("apimall")) == 1


async def test_a_provider_without_idempotency_is_not_sent_an_unknown_create_twice(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, env=FAST_TIMEOUT) as h:
        h.sandbox.faults["apipod"].create_hang = 1
        task = await h.create(prompt="a kite", provider="apipod")
        done = await h.wait_status(task["id"], "failed")
        h.sandbox.release_hangs()
        assert done["error"]["code"] == "submit_outcome_unknown"
        assert "not send it again" in done["error"]["message"]
        h.clock.advance(120)
        assert h.sandbox.stats["apipod"].create_requests == 1


async def test_revidapi_settles_an_unknown_create_by_its_callback(tmp_path: Path) -> None:
    async with running(tmp_path, env=FAST_TIMEOUT) as h:
        h.sandbox.faults["revidapi"].create_hang = 1
        task = await h.create(prompt="a kite", provider="revidapi")
        # The create timed out on our side; the provider did start the task.
        await h.eventually_error(task["id"])
        h.clock.advance(10)  # the render ends and the callback comes, within the grace
        done = await h.wait_status(task["id"], "completed")
        h.sandbox.release_hangs()
        assert done["provider_task_id"] and done["result_urls"]
        assert h.sandbox.stats["revidapi"].create_requests == 1
