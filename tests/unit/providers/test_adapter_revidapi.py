"""revidapi: wire format, answers and callbacks as in seeds/003."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest
import respx

from receiver.core.model import FieldError, Status, TaskError, TaskSpec
from receiver.errors import PermanentError, TransientError
from receiver.providers import RevidapiAdapter

BASE = "https://api.revidapi.com/paid"
TASK_ID = "281e5b0*********************f39b9"
RESULT_URL = "https://static.aiquickdraw.com/tools/example/1764852542872_Bz0RzMXs.webp"

# Copied from the document.
CREATE_OK = b"""{
"code": 200,
"msg": "success",
"data": {
"taskId": "281e5b0*********************f39b9"
}
}"""
# The document's status example, verbatim. It is not valid JSON: inside `param`
# the prompt's quotes are written \\" (an escaped backslash that ends the string).
STATUS_WAITING_VERBATIM = rb"""{
"code": 200,
"msg": "success",
"data": {
"taskId": "281e5b0*********************f39b9",
"model": "seedream/4.5-text-to-image",
"state": "waiting",
"param": "{\"model\":\"seedream/4.5-text-to-image\",\"input\":{\"prompt\":\"A full-process cafe design tool for entrepreneurs and designers. It covers core needs including store layout, functional zoning, decoration style, equipment selection, and customer group adaptation, supporting integrated planning of \\"commercial attributes + aesthetic design.\\" Suitable as a promotional image for a cafe design SaaS product, with a 16:9 aspect ratio.\",\"aspect_ratio\":\"1:1\",\"quality\":\"basic\"}}",
"resultJson": "{\"resultUrls\":[\"https://static.aiquickdraw.com/tools/example/1764852542872_Bz0RzMXs.webp\"]}",
"failCode": null,
"failMsg": null,
"costTime": null,
"completeTime": null,
"createTime": 1757584164490
}
}"""
# The same answer with the nested quotes escaped as the provider must send them.
STATUS_WAITING = STATUS_WAITING_VERBATIM.replace(rb'\\"commercial', rb"\\\"commercial").replace(
    rb'design.\\"', rb"design.\\\""
)


def adapter() -> RevidapiAdapter:
    return RevidapiAdapter(BASE, "rv-key")


def answer(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(STATUS_WAITING)
    body["data"].update(changes)
    return body


def success(**changes: Any) -> dict[str, Any]:
    return answer(state="success", costTime=15342, completeTime=1757584179832, **changes)


def test_build_create_text_to_image_without_callback() -> None:
    spec = TaskSpec(prompt="a cafe", aspect_ratio="16:9", quality="2K")
    request = adapter().build_create(spec, idempotency_key="k", callback_url=None)
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/seedream/create"
    assert request.headers["x-api-key"] == "rv-key"
    assert "Authorization" not in request.headers
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "model": "seedream/4.5-text-to-image",
        "input": {"prompt": "a cafe", "aspect_ratio": "16:9", "quality": "basic"},
    }


def test_build_create_edit_with_callback() -> None:
    spec = TaskSpec(prompt="bluer", quality="4K", image_urls=("https://a/1.png",))
    request = adapter().build_create(spec, idempotency_key="k", callback_url="https://me/cb/tok")
    assert json.loads(request.content) == {
        "model": "seedream/4.5-edit",
        "input": {
            "prompt": "bluer",
            "aspect_ratio": "1:1",
            "quality": "high",
            "image_urls": ["https://a/1.png"],
        },
        "callBackUrl": "https://me/cb/tok",
    }


def test_build_status_is_a_bodyless_post_with_the_id_in_the_query() -> None:
    request = adapter().build_status(TASK_ID)
    assert request.method == "POST"
    assert request.url.path == "/paid/get/taskid"
    assert request.url.params["taskId"] == TASK_ID
    assert request.content == b""
    assert request.headers["x-api-key"] == "rv-key"


def test_parse_create_seed_example() -> None:
    assert adapter().parse_create(httpx.Response(200, content=CREATE_OK)) == TASK_ID


def test_the_documents_verbatim_status_example_is_garbled_and_retried() -> None:
    with pytest.raises(TransientError) as caught:
        adapter().parse_status(httpx.Response(200, content=STATUS_WAITING_VERBATIM))
    assert caught.value.code == "bad_response"


def test_parse_status_waiting_ignores_result_json() -> None:
    report = adapter().parse_status(httpx.Response(200, content=STATUS_WAITING))
    assert report.status is Status.PENDING
    assert report.provider_task_id == TASK_ID
    assert report.result_urls == ()
    assert report.raw["data"]["createTime"] == 1757584164490


@pytest.mark.parametrize(
    ("state", "status"),
    [("queuing", Status.PENDING), ("generating", Status.PROCESSING), ("paused", None)],
)
def test_parse_status_other_states(state: str, status: Status | None) -> None:
    report = adapter().parse_status(httpx.Response(200, json=answer(state=state, resultJson="")))
    assert report.status is status


def test_parse_status_success_decodes_result_json() -> None:
    report = adapter().parse_status(httpx.Response(200, json=success()))
    assert report.status is Status.COMPLETED
    assert report.result_urls == (RESULT_URL,)


def test_parse_status_fail_keeps_fail_code_and_message() -> None:
    body = answer(state="fail", resultJson=None, failCode="500", failMsg="Internal Error")
    report = adapter().parse_status(httpx.Response(200, json=body))
    assert report.status is Status.FAILED
    assert report.error == TaskError("500", "Internal Error")


def test_parse_status_fail_without_details() -> None:
    report = adapter().parse_status(httpx.Response(200, json=answer(state="fail")))
    assert report.error == TaskError("generation_failed", "task failed")


@pytest.mark.parametrize("result_json", [None, "", "{not json", '{"resultObject": {}}'])
def test_success_without_readable_result_urls_is_reported_failed(result_json: str | None) -> None:
    report = adapter().parse_status(httpx.Response(200, json=success(resultJson=result_json)))
    assert report.status is Status.FAILED
    assert report.error is not None and report.error.code == "bad_result"


def test_parse_callback_success_and_fail() -> None:
    done = adapter().parse_callback(orjson.dumps(success()))
    assert (done.status, done.result_urls) == (Status.COMPLETED, (RESULT_URL,))
    # This upstream family marks failed callbacks with a non-200 envelope code.
    failed = {
        "code": 501,
        "msg": "Image generation failed",
        **{"data": answer(state="fail")["data"]},
    }
    report = adapter().parse_callback(orjson.dumps(failed))
    assert report.status is Status.FAILED
    assert report.provider_task_id == TASK_ID


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>", "not a JSON object"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"code": 200, "data": {"state": "success"}}', "lacks data.taskId or data.state"),
        (b'{"code": 200, "data": {"taskId": "t1"}}', "lacks data.taskId or data.state"),
        (b'{"code": 200, "msg": "success"}', "lacks data.taskId or data.state"),
    ],
)
def test_parse_callback_refuses_foreign_bodies(body: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        adapter().parse_callback(body)


@pytest.mark.parametrize(("status", "code"), [(400, 400), (402, 402), (404, 404), (422, 422)])
def test_documented_refusals_are_permanent(status: int, code: int) -> None:
    body = {"code": code, "msg": "Insufficient account balance"}
    with pytest.raises(PermanentError) as caught:
        adapter().parse_create(httpx.Response(status, json=body))
    assert (caught.value.code, caught.value.message) == (str(code), "Insufficient account balance")
    assert caught.value.provider == "revidapi"


def test_failure_inside_a_200_without_task_record() -> None:
    with pytest.raises(PermanentError) as caught:
        adapter().parse_status(httpx.Response(200, json={"code": 404, "msg": "task not found"}))
    assert (caught.value.code, caught.value.message) == ("404", "task not found")


def test_rate_limit_is_transient_with_retry_after() -> None:
    response = httpx.Response(429, json={"code": 429, "msg": "rate"}, headers={"Retry-After": "2"})
    with pytest.raises(TransientError) as caught:
        adapter().parse_create(response)
    assert caught.value.retry_after == 2.0


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient(status: int) -> None:
    with pytest.raises(TransientError):
        adapter().parse_status(httpx.Response(status, text="Internal Server Error"))


def test_garbled_create_answer_has_unknown_outcome() -> None:
    with pytest.raises(TransientError) as caught:
        adapter().parse_create(httpx.Response(200, json={"code": 200, "msg": "success"}))
    assert caught.value.outcome_unknown
    assert "data.taskId" in caught.value.message


def test_validate_limits() -> None:
    ok = TaskSpec(prompt="x" * 3000, aspect_ratio="2:3", image_urls=("u",) * 10)
    assert adapter().validate(ok) == []
    assert adapter().validate(TaskSpec(prompt="x" * 3001, aspect_ratio="5:4")) == [
        FieldError("prompt", "revidapi accepts at most 3000 characters (got 3001)"),
        FieldError(
            "aspect_ratio",
            "revidapi does not support aspect_ratio 5:4; "
            "allowed: 1:1, 4:3, 3:4, 16:9, 9:16, 2:3, 3:2, 21:9",
        ),
    ]


async def test_round_trip_over_http() -> None:
    revid = adapter()
    spec = TaskSpec(prompt="a cafe")
    with respx.mock(assert_all_called=True) as router:
        create = router.post(f"{BASE}/seedream/create").respond(200, content=CREATE_OK)
        router.post(f"{BASE}/get/taskid", params={"taskId": TASK_ID}).respond(200, json=success())
        async with httpx.AsyncClient() as client:
            request = revid.build_create(spec, idempotency_key="k", callback_url="https://me/cb")
            task_id = revid.parse_create(await client.send(request))
            answer_ = await client.send(revid.build_status(task_id))
    assert json.loads(create.calls.last.request.content)["callBackUrl"] == "https://me/cb"
    assert revid.parse_status(answer_).result_urls == (RESULT_URL,)
