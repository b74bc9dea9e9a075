"""revidapi calls back: signed callback URLs, early/duplicate/stale/dropped callbacks, forged tokens."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from support import Harness, running

from receiver.core.tokens import CallbackClaim, sign_callback


def callback_rows(h: Harness, task_id: str) -> list[tuple[str, bytes]]:
    with closing(sqlite3.connect(h.db)) as conn:
        rows = conn.execute(
            "SELECT verdict, body FROM callbacks WHERE task_id = ? ORDER BY id", (task_id,)
        ).fetchall()
    return [(str(v), bytes(b)) for v, b in rows]


async def test_a_callback_completes_the_task_without_any_poll(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        task = await h.create(prompt="a red fox", provider="revidapi", quality="4K")
        assert task["mode"] == "callback"
        await h.wait_status(task["id"], "pending")
        # Past the simulated render time, well inside the callback grace (60 s).
        h.clock.advance(10)
        done = await h.wait_status(task["id"], "completed")
        assert done["result_urls"]
        assert h.sandbox.stats["revidapi"].status_queries == 0
        assert [v for v, _ in callback_rows(h, task["id"])] == ["applied"]
        assert await h.events(task["id"]) == [(1, "task.submitted"), (2, "task.completed")]


async def test_an_early_callback_before_the_create_answer_is_accepted(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.sandbox.faults["revidapi"].early_callbacks = 1
        task = await h.create(prompt="a red fox", provider="revidapi")
        done = await h.wait_status(task["id"], "completed")
        assert done["provider_task_id"]  # learnt from the callback or the create answer
        assert await h.events(task["id"]) == [(1, "task.completed")]
        assert h.sandbox.stats["revidapi"].status_queries == 0


async def test_duplicate_and_stale_callbacks_give_exactly_one_completed_event(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        h.sandbox.faults["revidapi"].duplicate_callbacks = 1
        h.sandbox.faults["revidapi"].stale_callbacks = 1
        task = await h.create(prompt="a red fox", provider="revidapi")
        await h.wait_status(task["id"], "pending")
        h.clock.advance(10)
        await h.wait_status(task["id"], "completed")
        verdicts = await _eventually_rows(h, task["id"], 3)
        assert sorted(verdicts) == ["applied", "duplicate", "stale"]
        events = await h.events(task["id"])
        assert [t for _, t in events].count("task.completed") == 1
        assert (await h.get(task["id"]))["status"] == "completed"


async def _eventually_rows(h: Harness, task_id: str, n: int) -> list[str]:
    from support import eventually

    async def probe() -> list[str]:
        return [v for v, _ in callback_rows(h, task_id)]

    return await eventually(probe, lambda rows: len(rows) >= n, what=f"{n} callbacks stored")


async def test_a_dropped_callback_is_recovered_by_the_poller(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.sandbox.faults["revidapi"].drop_callbacks = 1
        task = await h.create(prompt="a red fox", provider="revidapi")
        await h.wait_status(task["id"], "pending")
        h.clock.advance(30)  # rendered, but the callback never comes
        assert (await h.get(task["id"]))["status"] == "pending"
        done = await h.drive(task["id"], "completed", step=15)
        assert done["result_urls"]
        assert h.sandbox.stats["revidapi"].status_queries >= 1
        assert callback_rows(h, task["id"]) == []


async def test_forged_altered_and_cross_provider_tokens_get_404_and_change_nothing(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        task = await h.create(prompt="a red fox", provider="revidapi")
        await h.wait_status(task["id"], "pending")
        upstream_id = (await h.get(task["id"]))["provider_task_id"]
        body = {
            "code": 200,
            "msg": "success",
            "data": {
                "taskId": upstream_id,
                "model": "seedream/4.5-text-to-image",
                "state": "success",
                "resultJson": '{"resultUrls":["https://evil.example/x.png"]}',
            },
        }
        now = h.clock.now()
        secret = h.sandbox_url  # not the service's key
        forged = sign_callback(secret, CallbackClaim(task["id"], "revidapi"), now)
        real = _real_token(h, task["id"])
        payload, stamp, signature = real.split(".")
        altered = f"{payload}.{stamp}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"
        attempts = [
            f"/callbacks/revidapi/{forged}",
            f"/callbacks/revidapi/{altered}",
            f"/callbacks/apimall/{real}",  # a genuine token on another provider's path
            f"/callbacks/nosuch/{real}",
            "/callbacks/revidapi/not-a-token",
        ]
        for path in attempts:
            response = await h.api.post(path, json=body, headers={"authorization": ""})
            assert response.status_code == 404, (path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        after = await h.get(task["id"])
        assert after["status"] == "pending" and after["result_urls"] == []
        assert callback_rows(h, task["id"]) == []

        # The genuine token on its own path works, and a non-JSON body is a 400.
        bad = await h.api.post(f"/callbacks/revidapi/{real}", content=b"<xml/>")
        assert bad.status_code == 400
        ok = await h.api.post(f"/callbacks/revidapi/{real}", json=body)
        assert ok.status_code == 200
        assert (await h.get(task["id"]))["status"] == "completed"


def _real_token(h: Harness, task_id: str) -> str:
    sim_tasks = h.sandbox.tasks("revidapi")
    urls = [t.request.callback_url for t in sim_tasks if t.request.callback_url]
    assert urls, "the service gave revidapi a callBackUrl"
    url = next(u for u in urls if u)
    assert url.startswith(f"{h.url}/callbacks/revidapi/")
    return url.rsplit("/", 1)[1]


async def test_a_failed_callback_fails_the_task_with_the_providers_code(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.sandbox.faults["revidapi"].fail_tasks = 1
        task = await h.create(prompt="a red fox", provider="revidapi")
        await h.wait_status(task["id"], "pending")
        h.clock.advance(10)
        done = await h.wait_status(task["id"], "failed")
        assert done["error"]["code"] == "500" and done["error"]["message"]
        assert await h.events(task["id"]) == [(1, "task.submitted"), (2, "task.failed")]
        assert h.sandbox.stats["revidapi"].status_queries == 0


async def test_429_on_safety_net_polls_is_honoured(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        faults = h.sandbox.faults["revidapi"]
        faults.drop_callbacks, faults.poll_429, faults.retry_after = 1, 2, 20
        task = await h.create(prompt="a red fox", provider="revidapi")
        await h.wait_status(task["id"], "pending")
        done = await h.drive(task["id"], "completed", step=10)
        assert done["result_urls"]
        assert h.sandbox.stats["revidapi"].rate_limited == 2


async def test_transient_5xx_on_create_is_retried_once_answered(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.sandbox.faults["revidapi"].create_5xx = 2
        task = await h.create(prompt="a red fox", provider="revidapi")
        await h.drive(task["id"], "pending", step=2)
        h.clock.advance(10)
        await h.wait_status(task["id"], "completed")
        stats = h.sandbox.stats["revidapi"]
        assert (stats.create_requests, stats.creates) == (3, 1)


async def test_a_callback_about_another_upstream_task_is_refused_but_kept(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        task = await h.create(prompt="a red fox", provider="revidapi")
        await h.wait_status(task["id"], "pending")
        token = _real_token(h, task["id"])
        body = {
            "code": 200,
            "msg": "ok",
            "data": {
                "taskId": "someone-else",
                "state": "success",
                "resultJson": '{"resultUrls":["https://x/y.png"]}',
            },
        }
        response = await h.api.post(f"/callbacks/revidapi/{token}", json=body)
        assert response.status_code == 400
        assert (await h.get(task["id"]))["status"] == "pending"
        assert [v for v, _ in callback_rows(h, task["id"])] == ["mismatch"]

        huge = b'{"code":200,"data":{"taskId":"' + b"x" * (1024 * 1024) + b'"}}'
        assert (await h.api.post(f"/callbacks/revidapi/{token}", content=huge)).status_code == 413
        assert len(callback_rows(h, task["id"])) == 1


async def test_a_callback_nested_too_deeply_to_answer_as_json_is_listed_as_text(
    tmp_path: Path,
) -> None:
    # orjson reads 1024 levels but writes 254: listing this body as JSON was a 500.
    async with running(tmp_path) as h:
        task = await h.create(prompt="a red fox", provider="revidapi")
        await h.wait_status(task["id"], "pending")
        token = _real_token(h, task["id"])
        provider_task_id = (await h.get(task["id"]))["provider_task_id"]
        deep = b'{"a":' * 300 + b"1" + b"}" * 300
        body = b'{"code":200,"data":{"taskId":"%s","state":"waiting","x":%s}}' % (
            provider_task_id.encode(),
            deep,
        )
        response = await h.api.post(f"/callbacks/revidapi/{token}", content=body)
        assert response.status_code == 200, response.text
        listed = await h.api.get("/v1/callbacks", params={"task_id": task["id"]})
        assert listed.status_code == 200, listed.text
        assert [c["body"] for c in listed.json()["data"]] == [body.decode()]
