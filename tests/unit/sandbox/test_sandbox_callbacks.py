"""revidapi's callbacks: sent at the task's final clock time, body = the status answer."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.clock import ManualClock
from receiver.sandbox import Sandbox, SandboxConfig, create_sandbox_app

from .conftest import (
    BODIES,
    START,
    CallbackSink,
    create,
    create_task,
    eventually,
    serve,
    status,
)

HOOK = "http://hooks.test/revid/cb"


def with_callback(url: str = HOOK) -> dict[str, Any]:
    return {**BODIES["revidapi"], "callBackUrl": url}


async def test_callback_is_sent_at_the_final_time_with_the_status_answer(
    running: Sandbox, running_client: httpx.AsyncClient, clock: ManualClock, sink: CallbackSink
) -> None:
    task_id = await create_task(running_client, "revidapi", **with_callback())
    clock.advance(2.999)
    await asyncio.sleep(0)
    assert sink.received == []
    assert running.callbacks.scheduled == 1
    clock.advance(0.001)
    [got] = await sink.wait_for(1)
    assert got.url == HOOK
    assert got.at == START + 3
    assert got.content_type == "application/json"
    answer = (await status(running_client, "revidapi", task_id)).json()
    assert got.body == answer
    assert got.body["data"]["state"] == "success"
    assert orjson.loads(got.body["data"]["param"]) == with_callback()
    await eventually(lambda: len(running.stats["revidapi"].callbacks) == 1)
    [record] = running.stats["revidapi"].callbacks
    assert (record.task_id, record.kind, record.state, record.outcome) == (
        task_id,
        "final",
        "success",
        "200",
    )
    assert running.stats["revidapi"].callbacks_sent == 1


async def test_a_failed_task_calls_back_too(
    running: Sandbox, running_client: httpx.AsyncClient, clock: ManualClock, sink: CallbackSink
) -> None:
    running.faults["revidapi"].fail_tasks = 1
    await create_task(running_client, "revidapi", **with_callback())
    clock.advance(3)
    [got] = await sink.wait_for(1)
    assert got.body["data"]["state"] == "fail"
    assert got.body["data"]["failCode"] == "500"
    assert got.body["data"]["failMsg"]


async def test_callbacks_go_out_in_due_order(
    running: Sandbox, running_client: httpx.AsyncClient, clock: ManualClock, sink: CallbackSink
) -> None:
    first = await create_task(running_client, "revidapi", **with_callback(HOOK + "/1"))
    clock.advance(1)
    second = await create_task(running_client, "revidapi", **with_callback(HOOK + "/2"))
    clock.advance(2)
    [got] = await sink.wait_for(1)
    assert got.body["data"]["taskId"] == first
    clock.advance(1)
    received = await sink.wait_for(2)
    assert received[1].body["data"]["taskId"] == second
    assert received[1].at == START + 4


async def test_no_callback_without_callbackurl(
    running: Sandbox, running_client: httpx.AsyncClient, clock: ManualClock
) -> None:
    await create_task(running_client, "revidapi")
    assert running.callbacks.scheduled == 0


async def test_early_callback_arrives_before_the_create_answer(
    running: Sandbox, running_client: httpx.AsyncClient, clock: ManualClock, sink: CallbackSink
) -> None:
    running.faults["revidapi"].early_callbacks = 1
    response = await create(running_client, "revidapi", with_callback())
    # No waiting: the callback was delivered while the create was still answering.
    assert len(sink.received) == 1
    got = sink.received[0]
    assert got.body["data"]["taskId"] == response.json()["data"]["taskId"]
    assert got.body["data"]["state"] == "success"
    assert got.body["data"]["costTime"] == 0
    assert got.at == START
    [record] = running.stats["revidapi"].callbacks
    assert record.early and record.outcome == "200"
    # Only the next one was early.
    await create_task(running_client, "revidapi", **with_callback())
    assert len(sink.received) == 1
    assert running.callbacks.scheduled == 1


async def test_duplicate_callbacks_are_sent_twice(
    running: Sandbox, running_client: httpx.AsyncClient, clock: ManualClock, sink: CallbackSink
) -> None:
    running.faults["revidapi"].duplicate_callbacks = 1
    await create_task(running_client, "revidapi", **with_callback())
    await create_task(running_client, "revidapi", **with_callback())
    clock.advance(3)
    received = await sink.wait_for(3)
    await asyncio.sleep(0)
    by_task: dict[str, list[bytes]] = {}
    for r in received:
        by_task.setdefault(r.body["data"]["taskId"], []).append(r.raw)
    assert sorted(len(v) for v in by_task.values()) == [1, 2]
    twice = next(v for v in by_task.values() if len(v) == 2)
    assert twice[0] == twice[1]
    await eventually(lambda: len(running.stats["revidapi"].callbacks) == 3)
    kinds = sorted(r.kind for r in running.stats["revidapi"].callbacks)
    assert kinds == ["duplicate", "final", "final"]


async def test_stale_callback_follows_the_final_one(
    running: Sandbox, running_client: httpx.AsyncClient, clock: ManualClock, sink: CallbackSink
) -> None:
    running.faults["revidapi"].stale_callbacks = 1
    task_id = await create_task(running_client, "revidapi", **with_callback())
    clock.advance(3)
    final, stale = await sink.wait_for(2)
    assert final.body["data"]["state"] == "success"
    assert stale.body["data"]["taskId"] == task_id
    assert stale.body["data"]["state"] == "waiting"
    assert stale.body["data"]["resultJson"] is None
    assert stale.body["data"]["completeTime"] is None
    await eventually(lambda: len(running.stats["revidapi"].callbacks) == 2)
    assert [r.kind for r in running.stats["revidapi"].callbacks] == ["final", "stale"]


async def test_dropped_callbacks_are_not_sent(
    running: Sandbox, running_client: httpx.AsyncClient, clock: ManualClock, sink: CallbackSink
) -> None:
    running.faults["revidapi"].drop_callbacks = 1
    dropped = await create_task(running_client, "revidapi", **with_callback())
    clock.advance(1)
    sent = await create_task(running_client, "revidapi", **with_callback())
    clock.advance(2)
    await eventually(lambda: len(running.stats["revidapi"].callbacks) == 1)
    assert sink.received == []
    clock.advance(1)
    [got] = await sink.wait_for(1)
    assert got.body["data"]["taskId"] == sent
    stats = running.stats["revidapi"]
    await eventually(lambda: stats.callbacks_sent == 1)
    assert stats.callbacks_dropped == 1
    assert stats.callbacks[0].task_id == dropped and stats.callbacks[0].outcome == "dropped"
    # A dropped callback leaves the task completed for whoever polls.
    assert (await status(running_client, "revidapi", dropped)).json()["data"]["state"] == "success"


async def test_receiver_errors_are_recorded_not_raised(
    running: Sandbox, running_client: httpx.AsyncClient, clock: ManualClock, sink: CallbackSink
) -> None:
    sink.status_code = 503
    await create_task(running_client, "revidapi", **with_callback())
    clock.advance(3)
    await sink.wait_for(1)
    await eventually(lambda: len(running.stats["revidapi"].callbacks) == 1)
    record = running.stats["revidapi"].callbacks[0]
    assert (record.outcome, record.status_code) == ("503", 503)


async def test_unreachable_receivers_are_recorded_and_the_runner_goes_on(
    clock: ManualClock, config: SandboxConfig, sink: CallbackSink
) -> None:
    def route(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "down.test":
            return route(request)
        return await sink.handle(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as callback_client:
        box = create_sandbox_app(clock, config=config, callback_client=callback_client)
        transport = httpx.ASGITransport(app=box.app)
        async with (
            box.run(),
            httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c,
        ):
            await create_task(c, "revidapi", **with_callback("http://down.test/cb"))
            await create_task(c, "revidapi", **with_callback())
            clock.advance(3)
            await sink.wait_for(1)
            stats = box.stats["revidapi"]
            await eventually(lambda: len(stats.callbacks) == 2)
            outcomes = {r.url: r.outcome for r in stats.callbacks}
            assert outcomes[HOOK] == "200"
            assert outcomes["http://down.test/cb"].startswith("error: ConnectError")


async def test_callbacks_wait_for_the_runner_and_reset_drops_them(
    clock: ManualClock, config: SandboxConfig, sink: CallbackSink
) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(sink.handle)) as callback_client:
        box = create_sandbox_app(clock, config=config, callback_client=callback_client)
        transport = httpx.ASGITransport(app=box.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
            await create_task(c, "revidapi", **with_callback(HOOK + "/1"))
            clock.advance(5)
            assert sink.received == []  # not running: nothing is sent
            async with box.run():
                [got] = await sink.wait_for(1)
                assert got.url == HOOK + "/1"
                await create_task(c, "revidapi", **with_callback(HOOK + "/2"))
                box.reset()
                clock.advance(5)
                await asyncio.sleep(0)
                assert box.callbacks.scheduled == 0
            assert len(sink.received) == 1


async def test_early_callback_without_the_runner_is_recorded_as_an_error(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    sandbox.faults["revidapi"].early_callbacks = 1
    assert (await create(client, "revidapi", with_callback())).status_code == 200
    [record] = sandbox.stats["revidapi"].callbacks
    assert record.outcome.startswith("error:") and record.status_code is None


async def test_over_real_http_with_the_lifespan(clock: ManualClock, config: SandboxConfig) -> None:
    """The sandbox under uvicorn (lifespan starts the runner) calls a real receiver."""
    arrived: list[dict[str, Any]] = []
    event = asyncio.Event()

    async def hook(request: Request) -> Response:
        arrived.append(orjson.loads(await request.body()))
        event.set()
        return Response(status_code=204)

    receiver = Starlette(routes=[Route("/cb", hook, methods=["POST"])])
    box = create_sandbox_app(clock, config=config)
    async with serve(receiver) as hook_root, serve(box.app, lifespan="on") as root:
        assert box.callbacks.running
        async with httpx.AsyncClient(base_url=root) as c:
            body = with_callback(f"{hook_root}/cb")
            task_id = await create_task(c, "revidapi", **body)
            clock.advance(3)
            async with asyncio.timeout(5):
                await event.wait()
            assert arrived[0]["data"]["taskId"] == task_id
            expected_url = f"{root}/revidapi/files/{task_id}.webp"
            result = orjson.loads(arrived[0]["data"]["resultJson"])
            assert result == {"resultUrls": [expected_url]}
            image = await c.get(expected_url)
            assert image.headers["content-type"] == "image/webp"
            await eventually(lambda: box.stats["revidapi"].callbacks_sent == 1)
            assert box.stats["revidapi"].callbacks[0].outcome == "204"
    assert not box.callbacks.running
