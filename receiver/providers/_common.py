"""What the four adapters share: decoding, error classification, request shape, Report rules.

Nothing here sends a request. `BaseAdapter` holds the parts of the Adapter
protocol that are the same for every provider; each provider module fills in
its wire format (paths, body fields, where the task id and the status live).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any

import httpx
import orjson

from receiver.core.model import FieldError, Report, Status, TaskError, TaskSpec
from receiver.core.retry_after import http_date, parse_retry_after
from receiver.errors import PermanentError, ProviderError, TransientError
from receiver.providers.base import ProviderLimits

JSONObject = dict[str, Any]

MESSAGE_MAX = 300
_TRANSIENT_STATUSES = frozenset({408, 425, 429})


def decode_object(content: bytes | str) -> JSONObject | None:
    """The JSON object in `content`, or None when it is not valid JSON or not an object."""
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def text(value: object) -> str | None:
    """A non-empty string or integer from a decoded body, as a string; anything else is None."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def str_tuple(value: object) -> tuple[str, ...]:
    """The non-empty strings of a list, or a single non-empty string, as a tuple."""
    items = value if isinstance(value, list) else [value]
    return tuple(item for item in items if isinstance(item, str) and item)


def truncate(message: str) -> str:
    return message if len(message) <= MESSAGE_MAX else message[: MESSAGE_MAX - 3] + "..."


def _response_now(response: httpx.Response) -> float:
    # An HTTP-date Retry-After is relative to the server's own clock, so its Date
    # header is the reference (immune to skew); only without one do we read ours.
    server_now = http_date(response.headers.get("Date", ""))
    return time.time() if server_now is None else server_now


def is_transient_status(status: int) -> bool:
    return status in _TRANSIENT_STATUSES or 500 <= status <= 599


def provider_code_message(body: object) -> tuple[str | None, str | None]:
    """The provider's own error code and message from a decoded error body.

    Knows `{"error": {"code", "message", "type"}}` (apimall, apipod) and
    `{"code", "message" | "msg"}` (dreamcore, revidapi).
    """
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    source: JSONObject = error if isinstance(error, dict) else body
    code = text(source.get("code")) or text(source.get("type"))
    message = text(source.get("message")) or text(source.get("msg"))
    if message is None and isinstance(error, str):
        message = text(error)
    return code, message


def _error(
    provider: str, response: httpx.Response, *, as_status: int | None, code: str, message: str
) -> ProviderError:
    if as_status is None or not is_transient_status(as_status):
        return PermanentError(provider, code, truncate(message), http_status=response.status_code)
    retry_after = parse_retry_after(
        response.headers.get("Retry-After"), now=_response_now(response)
    )
    return TransientError(
        provider,
        code,
        truncate(message),
        http_status=response.status_code,
        retry_after=retry_after,
    )


def _body_text(response: httpx.Response) -> str:
    return response.text.strip() or response.reason_phrase or f"HTTP {response.status_code}"


def http_failure(provider: str, response: httpx.Response) -> ProviderError:
    """The error for a non-2xx answer, classified by its status line."""
    code, message = provider_code_message(decode_object(response.content))
    return _error(
        provider,
        response,
        as_status=response.status_code,
        code=code or f"http_{response.status_code}",
        message=message or _body_text(response),
    )


def body_failure(provider: str, response: httpx.Response, body: JSONObject) -> ProviderError:
    """The error for a failure reported inside a 2xx answer.

    A numeric code in 400-599 counts as that HTTP status; any other is permanent.
    Without a code we say `provider_error` (an `http_200` code would mislead).
    """
    code, message = provider_code_message(body)
    as_status = int(code) if code and code.isdigit() and 400 <= int(code) <= 599 else None
    return _error(
        provider,
        response,
        as_status=as_status,
        code=code or "provider_error",
        message=message or _body_text(response),
    )


def make_report(
    provider: str,
    status: Status | None,
    *,
    task_id: str | None,
    result_urls: tuple[str, ...],
    error_code: str | None,
    error_message: str | None,
    raw: JSONObject,
) -> Report:
    """A Report; result URLs only on completion, an error only on failure.

    A provider that says "completed" but gives no usable URL has produced
    nothing the user can get, and asking again returns the same record: the
    task is reported failed (`bad_result`) rather than completed-and-empty or
    retried forever.
    """
    if status is Status.COMPLETED and not result_urls:
        message = f"{provider} reported the task completed but returned no result URLs"
        return Report(Status.FAILED, task_id, (), TaskError("bad_result", message), raw)
    error = None
    if status is Status.FAILED:
        error = TaskError(error_code or "generation_failed", error_message or "task failed")
    urls = result_urls if status is Status.COMPLETED else ()
    return Report(status, task_id, urls, error, raw)


# apimall and apipod both use our own words (apimall's `unknown` maps to None).
OWN_WORDS: dict[str, Status] = {
    s.value: s for s in (Status.PENDING, Status.PROCESSING, Status.COMPLETED, Status.FAILED)
}


def map_status(mapping: dict[str, Status], value: object) -> Status | None:
    """The Status for a provider's status word (case-insensitive); None when unrecognized."""
    word = text(value)
    return mapping.get(word.lower()) if word else None


class BaseAdapter(ABC):
    """The protocol parts every provider shares; subclasses describe their wire format."""

    name: str
    limits: ProviderLimits
    supports_callback: bool = False
    idempotent_create: bool = False
    # Where the task id lives inside `data` (create and status answers alike).
    task_id_key: str = "task_id"

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"}

    def request(
        self,
        method: str,
        path: str,
        *,
        body: JSONObject | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Request:
        all_headers = {"Accept": "application/json", **self.auth_headers(), **(headers or {})}
        content = None
        if body is not None:
            all_headers["Content-Type"] = "application/json"
            content = orjson.dumps(body)
        return httpx.Request(
            method, self.base_url + path, params=params, headers=all_headers, content=content
        )

    def validate(self, spec: TaskSpec) -> list[FieldError]:
        limits, name = self.limits, self.name
        errors: list[FieldError] = []
        if not spec.prompt.strip():
            errors.append(FieldError("prompt", f"{name} requires a non-empty prompt"))
        elif limits.prompt_max is not None and len(spec.prompt) > limits.prompt_max:
            errors.append(
                FieldError(
                    "prompt",
                    f"{name} accepts at most {limits.prompt_max} characters "
                    f"(got {len(spec.prompt)})",
                )
            )
        for field, value, allowed in (
            ("aspect_ratio", spec.aspect_ratio, limits.aspect_ratios),
            ("quality", spec.quality, limits.qualities),
        ):
            if value not in allowed:
                message = f"{name} does not support {field} {value}; allowed: {', '.join(allowed)}"
                errors.append(FieldError(field, message))
        if spec.is_edit and not limits.supports_edit:
            message = f"{name} does not support editing with reference images; omit image_urls"
            errors.append(FieldError("image_urls", message))
        elif len(spec.image_urls) > limits.max_image_urls:
            message = (
                f"{name} accepts at most {limits.max_image_urls} image_urls "
                f"(got {len(spec.image_urls)})"
            )
            errors.append(FieldError("image_urls", message))
        return errors

    @abstractmethod
    def build_create(
        self, spec: TaskSpec, *, idempotency_key: str, callback_url: str | None
    ) -> httpx.Request: ...

    @abstractmethod
    def build_status(self, provider_task_id: str) -> httpx.Request: ...

    @abstractmethod
    def answer_ok(self, body: JSONObject) -> bool:
        """Whether a decoded 2xx answer reports success (failures can hide inside a 200)."""

    def read_answer(self, response: httpx.Response, *, create: bool) -> JSONObject:
        if not response.is_success:
            raise http_failure(self.name, response)
        body = decode_object(response.content)
        if body is None:
            raise TransientError(
                self.name,
                "bad_response",
                f"{self.name} answered HTTP {response.status_code} with a body that is not "
                f"a JSON object: {truncate(_body_text(response))}",
                http_status=response.status_code,
                # A create may have been acted on even though we cannot read the answer.
                outcome_unknown=create,
            )
        if not self.answer_ok(body):
            raise body_failure(self.name, response, body)
        return body

    def parse_create(self, response: httpx.Response) -> str:
        body = self.read_answer(response, create=True)
        data = body.get("data")
        task_id = text(data.get(self.task_id_key)) if isinstance(data, dict) else None
        if task_id is None:
            raise TransientError(
                self.name,
                "missing_task_id",
                f"{self.name} accepted the create but its answer has no data.{self.task_id_key}; "
                "the task may exist upstream",
                http_status=response.status_code,
                outcome_unknown=True,
            )
        return task_id

    def parse_status(self, response: httpx.Response) -> Report:
        body = self.read_answer(response, create=False)
        data = body.get("data")
        if not isinstance(data, dict):
            raise TransientError(
                self.name,
                "bad_response",
                f"{self.name} status answer has no data object",
                http_status=response.status_code,
            )
        return self.report(data, body)

    @abstractmethod
    def report(self, data: JSONObject, raw: JSONObject) -> Report:
        """The Report for the task record `data` of a decoded answer `raw`."""

    def parse_callback(self, body: bytes) -> Report:
        raise NotImplementedError(f"{self.name} sends no callbacks; poll its status instead")
