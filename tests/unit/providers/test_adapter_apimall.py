"""apimall: wire format and answers as in seeds/000."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest
import respx

from receiver.core.model import FieldError, Status, TaskError, TaskSpec
from receiver.errors import PermanentError, TransientError
from receiver.providers import ApimallAdapter

BASE = "https://gateway.apimall.ai/api/v1"
TASK_ID = "img_01HQ9M7XJQ7PZ3GQ9F6C5W3N2M"
PROMPT = "A jewelry campaign shot with glossy reflections and a soft studio gradient."

# Copied from the document.
CREATE_OK = b"""{
"success": true,
"data": {
"task_id": "img_01HQ9M7XJQ7PZ3GQ9F6C5W3N2M",
"request_id": "provider_req_01HQ9M87A5Y2QZW0S1R3T6YQ2C",
"credits_used": 8,
"remaining_credits": 112,
"model": "seedream-4-5"
},
"request_id": "req_01HQ9M7J7X9P7Y8T6W5V4U3S2R"
}"""
ERROR_CREDITS = b"""{
"success": false,
"error": {
"code": "insufficient_credits",
"message": "Insufficient credits"
},
"request_id": "req_01HQ9M7J7X9P7Y8T6W5V4U3S2R"
}"""
STATUS_COMPLETED = b"""{
"success": true,
"data": {
"task_id": "img_01HQ9M7XJQ7PZ3GQ9F6C5W3N2M",
"model": "seedream-4-5",
"status": "completed",
"output": {
"resultUrls": [
"https://cdn.apimall.ai/generated/image-01.webp"
]
},
"primary_url": "https://cdn.apimall.ai/generated/result.webp",
"image_url": "https://cdn.apimall.ai/generated/cover.webp",
"error_message": null,
"credits_used": 8,
"credits_refunded": 0,
"created_at": "2026-03-12T09:30:00.000Z",
"updated_at": "2026-03-12T09:31:06.000Z",
"completed_at": "2026-03-12T09:31:06.000Z"
},
"request_id": "req_01HQ9M7J7X9P7Y8T6W5V4U3S2R"
}"""


def adapter() -> ApimallAdapter:
    return ApimallAdapter(BASE + "/", "sk-test")


def status_answer(**changes: Any) -> httpx.Response:
    body = json.loads(STATUS_COMPLETED)
    body["data"].update(changes)
    return httpx.Response(200, content=orjson.dumps(body))


def test_build_create_text_to_image() -> None:
    spec = TaskSpec(prompt=PROMPT, aspect_ratio="16:9", quality="4K")
    request = adapter().build_create(spec, idempotency_key="idem-1", callback_url="https://x/cb")
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/images/generate"
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert request.headers["Idempotency-Key"] == "idem-1"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert json.loads(request.content) == {
        "model": "seedream-4-5",
        "type": "text-to-image",
        "prompt": PROMPT,
        "aspect_ratio": "16:9",
        "image_resolution": "4K",
    }


def test_build_create_edit_sends_image_urls() -> None:
    spec = TaskSpec(prompt="make it blue", image_urls=("https://a/1.png", "https://a/2.png"))
    request = adapter().build_create(spec, idempotency_key="k", callback_url=None)
    assert json.loads(request.content) == {
        "model": "seedream-4-5",
        "type": "image-to-image",
        "prompt": "make it blue",
        "aspect_ratio": "1:1",
        "image_resolution": "2K",
        "image_urls": ["https://a/1.png", "https://a/2.png"],
    }


def test_build_status_encodes_the_id_as_one_path_segment() -> None:
    request = adapter().build_status("img/1 ?x")
    assert request.method == "GET"
    assert str(request.url) == f"{BASE}/images/img%2F1%20%3Fx"
    assert request.headers["Authorization"] == "Bearer sk-test"


def test_parse_create_seed_example() -> None:
    assert adapter().parse_create(httpx.Response(200, content=CREATE_OK)) == TASK_ID


def test_parse_status_seed_completed_prefers_result_urls() -> None:
    report = adapter().parse_status(httpx.Response(200, content=STATUS_COMPLETED))
    assert report.status is Status.COMPLETED
    assert report.provider_task_id == TASK_ID
    assert report.result_urls == ("https://cdn.apimall.ai/generated/image-01.webp",)
    assert report.error is None
    assert report.raw["data"]["credits_used"] == 8


@pytest.mark.parametrize(
    ("changes", "urls"),
    [
        ({"output": {"resultUrls": []}}, ("https://cdn.apimall.ai/generated/result.webp",)),
        ({"output": None, "primary_url": None}, ("https://cdn.apimall.ai/generated/cover.webp",)),
    ],
)
def test_parse_status_falls_back_to_primary_then_image_url(
    changes: dict[str, Any], urls: tuple[str, ...]
) -> None:
    assert adapter().parse_status(status_answer(**changes)).result_urls == urls


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("pending", Status.PENDING),
        ("processing", Status.PROCESSING),
        ("unknown", None),
        ("exploded", None),
    ],
)
def test_parse_status_maps_unfinished_states(word: str, status: Status | None) -> None:
    report = adapter().parse_status(status_answer(status=word))
    assert report.status is status
    assert report.result_urls == ()
    assert report.error is None


def test_parse_status_failed_carries_error_message() -> None:
    report = adapter().parse_status(
        status_answer(status="failed", output=None, error_message="NSFW content detected")
    )
    assert report.status is Status.FAILED
    assert report.error == TaskError("generation_failed", "NSFW content detected")
    assert report.result_urls == ()


def test_parse_status_failed_without_message() -> None:
    report = adapter().parse_status(status_answer(status="failed"))
    assert report.error == TaskError("generation_failed", "task failed")


def test_completed_without_any_url_is_reported_failed() -> None:
    report = adapter().parse_status(status_answer(output={}, primary_url=None, image_url=None))
    assert report.status is Status.FAILED
    assert report.error is not None and report.error.code == "bad_result"


@pytest.mark.parametrize("status", [200, 402])
def test_insufficient_credits_is_permanent_in_status_line_or_body(status: int) -> None:
    with pytest.raises(PermanentError) as caught:
        adapter().parse_create(httpx.Response(status, content=ERROR_CREDITS))
    assert caught.value.provider == "apimall"
    assert caught.value.code == "insufficient_credits"
    assert caught.value.message == "Insufficient credits"
    assert caught.value.http_status == status
    assert not caught.value.outcome_unknown


def test_idempotency_conflict_is_permanent() -> None:
    body = b'{"success":false,"error":{"code":"idempotency_conflict","message":"key reused"}}'
    with pytest.raises(PermanentError) as caught:
        adapter().parse_create(httpx.Response(409, content=body))
    assert (caught.value.code, caught.value.http_status) == ("idempotency_conflict", 409)


def test_rate_limit_is_transient_with_retry_after() -> None:
    body = b'{"success":false,"error":{"code":"rate_limited","message":"Too many jobs"}}'
    response = httpx.Response(429, content=body, headers={"Retry-After": "7"})
    with pytest.raises(TransientError) as caught:
        adapter().parse_status(response)
    assert (caught.value.code, caught.value.message) == ("rate_limited", "Too many jobs")
    assert caught.value.retry_after == 7.0


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient(status: int) -> None:
    with pytest.raises(TransientError) as caught:
        adapter().parse_create(httpx.Response(status, text="upstream busy"))
    assert caught.value.code == f"http_{status}"
    assert caught.value.message == "upstream busy"
    assert not caught.value.outcome_unknown


def test_garbled_create_answer_has_unknown_outcome() -> None:
    with pytest.raises(TransientError) as caught:
        adapter().parse_create(httpx.Response(200, text="<html>gateway</html>"))
    assert caught.value.outcome_unknown


def test_create_answer_without_task_id_has_unknown_outcome() -> None:
    with pytest.raises(TransientError) as caught:
        adapter().parse_create(httpx.Response(200, json={"success": True, "data": {}}))
    assert caught.value.outcome_unknown
    assert "data.task_id" in caught.value.message


def test_garbled_status_answer_is_transient() -> None:
    with pytest.raises(TransientError) as caught:
        adapter().parse_status(httpx.Response(200, text="{not json"))
    assert not caught.value.outcome_unknown


def test_validate_accepts_long_prompts_and_edits() -> None:
    spec = TaskSpec(prompt="x" * 20_000, aspect_ratio="21:9", image_urls=("https://a/1.png",))
    assert adapter().validate(spec) == []


def test_validate_names_the_provider_and_allowed_values() -> None:
    spec = TaskSpec(prompt="hi", aspect_ratio="5:4", quality="8K", image_urls=("u",) * 11)
    assert adapter().validate(spec) == [
        FieldError(
            "aspect_ratio",
            "apimall does not support aspect_ratio 5:4; "
            "allowed: 1:1, 2:3, 3:2, 3:4, 4:3, 16:9, 9:16, 21:9",
        ),
        FieldError("quality", "apimall does not support quality 8K; allowed: 2K, 4K"),
        FieldError("image_urls", "apimall accepts at most 10 image_urls (got 11)"),
    ]


async def test_round_trip_over_http() -> None:
    spec = TaskSpec(prompt=PROMPT)
    client_adapter = adapter()
    with respx.mock(assert_all_called=True) as router:
        create = router.post(f"{BASE}/images/generate").respond(200, content=CREATE_OK)
        router.get(f"{BASE}/images/{TASK_ID}").respond(200, content=STATUS_COMPLETED)
        async with httpx.AsyncClient() as client:
            request = client_adapter.build_create(spec, idempotency_key="idem-9", callback_url=None)
            task_id = client_adapter.parse_create(await client.send(request))
            answer = await client.send(client_adapter.build_status(task_id))
    report = client_adapter.parse_status(answer)
    assert create.calls.last.request.headers["Idempotency-Key"] == "idem-9"
    assert report.status is Status.COMPLETED
    assert report.provider_task_id == TASK_ID
