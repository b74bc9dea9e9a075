"""apipod: wire format and answers as in seeds/001."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from receiver.core.model import FieldError, Status, TaskError, TaskSpec
from receiver.errors import PermanentError, TransientError
from receiver.providers import ApipodAdapter

BASE = "https://api.apipod.ai/v1"
PROMPT = (
    "A vibrant close-up editorial portrait, model with intense gaze, wearing a sculptural hat, "
    "rich color blocking, sharp eye focus, shallow depth of field, Vogue magazine cover aesthetic"
)

# Copied from the document.
CREATE_OK = b'{"code": 0, "message": "success", "data": {"task_id": "task_abc123xyz"}}'
ERROR_PARAMETER = b"""{
"error": {
"message": "Invalid aspect_ratio value",
"type": "invalid_request_error",
"code": "invalid_parameter"
}
}"""


def status_answer(status: str, **data: object) -> httpx.Response:
    # The document gives the status fields (code, message, data.task_id, status,
    # completed_at, result, error_message) but no full example answer.
    body = {
        "code": 0,
        "message": "success",
        "data": {"task_id": "task_abc123xyz", "status": status, **data},
    }
    return httpx.Response(200, json=body)


def adapter() -> ApipodAdapter:
    return ApipodAdapter(BASE, "sk-pod")


def test_build_create_matches_the_document() -> None:
    spec = TaskSpec(prompt=PROMPT, aspect_ratio="3:4", quality="2K")
    request = adapter().build_create(spec, idempotency_key="k", callback_url="https://x/cb")
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/images/generations"
    assert request.headers["Authorization"] == "Bearer sk-pod"
    assert request.headers["Content-Type"] == "application/json"
    assert "Idempotency-Key" not in request.headers
    assert json.loads(request.content) == {
        "model": "seedream-v4.5",
        "prompt": PROMPT,
        "aspect_ratio": "3:4",
        "quality": "2K",
    }


def test_build_status() -> None:
    request = adapter().build_status("task_abc123xyz")
    assert request.method == "GET"
    assert str(request.url) == f"{BASE}/images/status/task_abc123xyz"
    assert request.headers["Authorization"] == "Bearer sk-pod"


def test_parse_create_seed_example() -> None:
    assert adapter().parse_create(httpx.Response(200, content=CREATE_OK)) == "task_abc123xyz"


def test_parse_status_completed() -> None:
    urls = ["https://cdn.apipod.ai/a.png", "https://cdn.apipod.ai/b.png"]
    report = adapter().parse_status(
        status_answer("completed", completed_at=1736412345, result=urls, error_message="")
    )
    assert report.status is Status.COMPLETED
    assert report.provider_task_id == "task_abc123xyz"
    assert report.result_urls == tuple(urls)
    assert report.raw["data"]["completed_at"] == 1736412345


@pytest.mark.parametrize(
    ("word", "status"),
    [("pending", Status.PENDING), ("processing", Status.PROCESSING), ("queued", None)],
)
def test_parse_status_unfinished(word: str, status: Status | None) -> None:
    report = adapter().parse_status(status_answer(word))
    assert report.status is status
    assert report.result_urls == ()


def test_parse_status_failed() -> None:
    report = adapter().parse_status(status_answer("failed", error_message="content policy"))
    assert report.status is Status.FAILED
    assert report.error == TaskError("generation_failed", "content policy")


def test_a_null_error_field_is_not_a_failure() -> None:
    body = {"code": 0, "message": "success", "error": None, "data": {"task_id": "t1"}}
    assert adapter().parse_create(httpx.Response(200, json=body)) == "t1"


def test_invalid_parameter_is_permanent_with_providers_code() -> None:
    with pytest.raises(PermanentError) as caught:
        adapter().parse_create(httpx.Response(400, content=ERROR_PARAMETER))
    assert caught.value.provider == "apipod"
    assert caught.value.code == "invalid_parameter"
    assert caught.value.message == "Invalid aspect_ratio value"
    assert caught.value.http_status == 400


@pytest.mark.parametrize("status", [401, 403, 404])
def test_refusals_are_permanent(status: int) -> None:
    body = {"error": {"message": "nope", "type": "auth_error", "code": f"e{status}"}}
    with pytest.raises(PermanentError) as caught:
        adapter().parse_status(httpx.Response(status, json=body))
    assert caught.value.code == f"e{status}"


def test_nonzero_code_in_a_200_is_a_failure() -> None:
    body = {"code": 1001, "message": "model unavailable", "data": None}
    with pytest.raises(PermanentError) as caught:
        adapter().parse_create(httpx.Response(200, json=body))
    assert (caught.value.code, caught.value.message) == ("1001", "model unavailable")


def test_http_status_code_in_a_200_is_classified_as_that_status() -> None:
    body = {"code": 429, "message": "slow down"}
    response = httpx.Response(200, json=body, headers={"Retry-After": "3"})
    with pytest.raises(TransientError) as caught:
        adapter().parse_status(response)
    assert (caught.value.code, caught.value.retry_after) == ("429", 3.0)
    assert caught.value.http_status == 200


def test_rate_limit_with_http_date_retry_after() -> None:
    headers = {
        "Date": "Wed, 21 Oct 2026 07:28:00 GMT",
        "Retry-After": "Wed, 21 Oct 2026 07:28:30 GMT",
    }
    with pytest.raises(TransientError) as caught:
        adapter().parse_status(httpx.Response(429, headers=headers))
    assert caught.value.retry_after == 30.0
    assert (caught.value.code, caught.value.message) == ("http_429", "Too Many Requests")


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient(status: int) -> None:
    with pytest.raises(TransientError):
        adapter().parse_status(httpx.Response(status))


def test_garbled_create_answer_has_unknown_outcome() -> None:
    with pytest.raises(TransientError) as caught:
        adapter().parse_create(httpx.Response(200, content=b'{"code": 0, "data": '))
    assert caught.value.outcome_unknown


def test_validate_refuses_edits() -> None:
    spec = TaskSpec(prompt="p", image_urls=("https://a/1.png",))
    assert adapter().validate(spec) == [
        FieldError(
            "image_urls", "apipod does not support editing with reference images; omit image_urls"
        )
    ]


def test_validate_prompt_length_and_ratio() -> None:
    assert adapter().validate(TaskSpec(prompt="x" * 4000, aspect_ratio="21:9")) == []
    assert adapter().validate(TaskSpec(prompt="x" * 4001, aspect_ratio="5:4")) == [
        FieldError("prompt", "apipod accepts at most 4000 characters (got 4001)"),
        FieldError(
            "aspect_ratio",
            "apipod does not support aspect_ratio 5:4; "
            "allowed: 1:1, 2:3, 3:2, 3:4, 4:3, 16:9, 9:16, 21:9",
        ),
    ]


def test_validate_refuses_a_blank_prompt() -> None:
    assert adapter().validate(TaskSpec(prompt="  ")) == [
        FieldError("prompt", "apipod requires a non-empty prompt")
    ]


def test_sends_no_callbacks() -> None:
    with pytest.raises(NotImplementedError):
        adapter().parse_callback(b"{}")


async def test_round_trip_over_http() -> None:
    pod = adapter()
    done = {
        "code": 0,
        "message": "success",
        "data": {"task_id": "task_abc123xyz", "status": "completed", "result": ["https://r/1"]},
    }
    with respx.mock(assert_all_called=True) as router:
        router.post(f"{BASE}/images/generations").respond(200, content=CREATE_OK)
        router.get(f"{BASE}/images/status/task_abc123xyz").respond(200, json=done)
        async with httpx.AsyncClient() as client:
            created = await client.send(
                pod.build_create(TaskSpec(prompt=PROMPT), idempotency_key="k", callback_url=None)
            )
            answer = await client.send(pod.build_status(pod.parse_create(created)))
    assert pod.parse_status(answer).result_urls == ("https://r/1",)
