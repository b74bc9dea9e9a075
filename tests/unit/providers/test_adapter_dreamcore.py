"""dreamcore: wire format and answers as in seeds/002."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from receiver.core.model import FieldError, Status, TaskError, TaskSpec
from receiver.errors import PermanentError, TransientError
from receiver.providers import DreamcoreAdapter

BASE = "https://seedream45ai.org/api"
PROMPT = "Cinematic photo of an obsidian smartwatch on a marble plinth, volumetric lighting"

# Copied from the document.
CREATE_OK = b"""{
"code": 200,
"message": "success",
"data": {
"task_id": "sd45_b83bf7c0c51a4c71"
}
}"""
STATUS_SUCCESS = b"""{
"code": 200,
"message": "success",
"data": {
"task_id": "sd45_b83bf7c0c51a4c71",
"status": "SUCCESS",
"request": {
"prompt": "Cinematic photo of an obsidian smartwatch on a marble plinth, volumetric lighting",
"aspectRatio": "4:3",
"quality": "high"
},
"response": [
"https://watch_001.png"
],
"consumed_credits": 12,
"error_message": null,
"created_at": "2025-06-14T05:21:11Z"
}
}"""


def adapter() -> DreamcoreAdapter:
    return DreamcoreAdapter(BASE, "dc-key")


def status_answer(status: str, **data: object) -> httpx.Response:
    body = json.loads(STATUS_SUCCESS)
    body["data"].update(status=status, response=[], **data)
    return httpx.Response(200, json=body)


def test_build_create_text_to_image() -> None:
    spec = TaskSpec(prompt=PROMPT, aspect_ratio="4:3", quality="4K")
    request = adapter().build_create(spec, idempotency_key="k", callback_url=None)
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/generate"
    assert request.headers["Authorization"] == "Bearer dc-key"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "prompt": PROMPT,
        "aspectRatio": "4:3",
        "quality": "high",
    }


def test_build_create_edit() -> None:
    spec = TaskSpec(prompt="p", quality="2K", image_urls=("https://a/1.png",))
    request = adapter().build_create(spec, idempotency_key="k", callback_url=None)
    assert json.loads(request.content) == {
        "prompt": "p",
        "aspectRatio": "1:1",
        "quality": "basic",
        "imageUrls": ["https://a/1.png"],
    }


def test_build_status_puts_the_id_in_the_query() -> None:
    request = adapter().build_status("sd45 b&c")
    assert request.method == "GET"
    assert str(request.url) == f"{BASE}/status?task_id=sd45+b%26c"
    assert request.url.params["task_id"] == "sd45 b&c"
    assert request.headers["Authorization"] == "Bearer dc-key"


def test_parse_create_seed_example() -> None:
    assert adapter().parse_create(httpx.Response(200, content=CREATE_OK)) == "sd45_b83bf7c0c51a4c71"


def test_parse_status_seed_success() -> None:
    report = adapter().parse_status(httpx.Response(200, content=STATUS_SUCCESS))
    assert report.status is Status.COMPLETED
    assert report.provider_task_id == "sd45_b83bf7c0c51a4c71"
    assert report.result_urls == ("https://watch_001.png",)
    assert report.raw["data"]["consumed_credits"] == 12


def test_parse_status_in_progress() -> None:
    report = adapter().parse_status(status_answer("IN_PROGRESS"))
    assert (report.status, report.result_urls, report.error) == (Status.PROCESSING, (), None)


def test_parse_status_failed() -> None:
    report = adapter().parse_status(status_answer("FAILED", error_message="upstream timeout"))
    assert report.status is Status.FAILED
    assert report.error == TaskError("generation_failed", "upstream timeout")


def test_parse_status_unrecognized_word() -> None:
    assert adapter().parse_status(status_answer("QUEUED")).status is None


def test_insufficient_credits_402_is_permanent() -> None:
    body = {"code": 402, "message": "Insufficient credits"}
    with pytest.raises(PermanentError) as caught:
        adapter().parse_create(httpx.Response(402, json=body))
    assert (caught.value.code, caught.value.message) == ("402", "Insufficient credits")
    assert caught.value.http_status == 402


def test_unauthorized_without_body_uses_the_http_status() -> None:
    with pytest.raises(PermanentError) as caught:
        adapter().parse_create(httpx.Response(401))
    assert (caught.value.code, caught.value.message) == ("http_401", "Unauthorized")


def test_failure_code_inside_a_200() -> None:
    with pytest.raises(PermanentError) as caught:
        adapter().parse_create(httpx.Response(200, json={"code": 402, "message": "no credits"}))
    assert (caught.value.code, caught.value.http_status) == ("402", 200)
    with pytest.raises(TransientError):
        adapter().parse_status(httpx.Response(200, json={"code": 500, "message": "busy"}))


def test_rate_limit_is_transient_with_retry_after() -> None:
    response = httpx.Response(
        429, json={"code": 429, "message": "slow"}, headers={"Retry-After": "12"}
    )
    with pytest.raises(TransientError) as caught:
        adapter().parse_status(response)
    assert caught.value.retry_after == 12.0


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient(status: int) -> None:
    with pytest.raises(TransientError) as caught:
        adapter().parse_create(httpx.Response(status, json={"code": status, "message": "oops"}))
    assert not caught.value.outcome_unknown


def test_garbled_create_answer_has_unknown_outcome() -> None:
    with pytest.raises(TransientError) as caught:
        adapter().parse_create(httpx.Response(201, content=b"OK"))
    assert caught.value.outcome_unknown


def test_validate_limits() -> None:
    assert adapter().validate(TaskSpec(prompt="x" * 1500, aspect_ratio="9:16")) == []
    assert adapter().validate(TaskSpec(prompt="x" * 1620, aspect_ratio="21:9")) == [
        FieldError("prompt", "dreamcore accepts at most 1500 characters (got 1620)"),
        FieldError(
            "aspect_ratio",
            "dreamcore does not support aspect_ratio 21:9; allowed: 1:1, 3:4, 4:3, 9:16, 16:9",
        ),
    ]


async def test_round_trip_over_http() -> None:
    core = adapter()
    with respx.mock(assert_all_called=True) as router:
        router.post(f"{BASE}/generate").respond(200, content=CREATE_OK)
        status_route = router.get(f"{BASE}/status", params={"task_id": "sd45_b83bf7c0c51a4c71"})
        status_route.respond(200, content=STATUS_SUCCESS)
        async with httpx.AsyncClient() as client:
            created = await client.send(
                core.build_create(TaskSpec(prompt=PROMPT), idempotency_key="k", callback_url=None)
            )
            answer = await client.send(core.build_status(core.parse_create(created)))
    assert core.parse_status(answer).result_urls == ("https://watch_001.png",)
