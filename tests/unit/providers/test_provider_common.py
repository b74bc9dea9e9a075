"""Shared rules: Retry-After, classification of answers, the registry of adapters."""

from __future__ import annotations

import httpx
import pytest

from receiver.core.model import PROVIDERS, TaskSpec
from receiver.core.retry_after import parse_retry_after
from receiver.errors import PermanentError, TransientError
from receiver.providers import (
    ADAPTER_CLASSES,
    DEFAULT_BASE_URLS,
    Adapter,
    DreamcoreAdapter,
    RevidapiAdapter,
    make_adapter,
)

NOW = 1_800_000_000.0  # Fri, 15 Jan 2027 08:00:00 GMT


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("Fri, 15 Jan 2027 08:00:45 GMT", 45.0),
        ("Fri, 15 Jan 2027 07:59:00 GMT", 0.0),  # already past: go now
        ("Fri, 15 Jan 2027 08:00:10 -0000", 10.0),  # no zone: UTC
        ("-5", None),
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 599])
def test_transient_statuses(status: int) -> None:
    with pytest.raises(TransientError) as caught:
        DreamcoreAdapter("https://d", "k").parse_status(httpx.Response(status))
    assert caught.value.http_status == status
    assert caught.value.code == f"http_{status}"


@pytest.mark.parametrize("status", [301, 400, 401, 402, 403, 404, 409, 410, 418, 422, 451])
def test_permanent_statuses(status: int) -> None:
    with pytest.raises(PermanentError) as caught:
        DreamcoreAdapter("https://d", "k").parse_create(httpx.Response(status))
    assert caught.value.http_status == status
    assert not caught.value.outcome_unknown


def test_long_body_text_is_truncated_to_300_characters() -> None:
    with pytest.raises(PermanentError) as caught:
        DreamcoreAdapter("https://d", "k").parse_create(httpx.Response(451, text="b" * 1000))
    assert caught.value.code == "http_451"
    assert len(caught.value.message) == 300
    assert caught.value.message.startswith("bbb")


def test_retry_after_on_a_503_is_kept_and_garbage_ignored() -> None:
    adapter = DreamcoreAdapter("https://d", "k")
    with pytest.raises(TransientError) as caught:
        adapter.parse_status(httpx.Response(503, headers={"Retry-After": "30"}))
    assert caught.value.retry_after == 30.0
    with pytest.raises(TransientError) as caught:
        adapter.parse_status(httpx.Response(429, headers={"Retry-After": "later"}))
    assert caught.value.retry_after is None


def test_default_base_urls_cover_every_provider() -> None:
    assert set(DEFAULT_BASE_URLS) == set(PROVIDERS) == set(ADAPTER_CLASSES)
    assert DEFAULT_BASE_URLS["revidapi"] == "https://api.revidapi.com/paid"


@pytest.mark.parametrize("name", PROVIDERS)
def test_make_adapter_builds_each_provider(name: str) -> None:
    adapter: Adapter = make_adapter(name, DEFAULT_BASE_URLS[name] + "/", "key")
    assert adapter.name == name
    assert adapter.supports_callback is (name == "revidapi")
    assert adapter.idempotent_create is (name == "apimall")
    assert adapter.limits.max_image_urls == 10
    request = adapter.build_create(TaskSpec(prompt="p"), idempotency_key="k", callback_url=None)
    assert str(request.url).startswith(DEFAULT_BASE_URLS[name] + "/")
    assert "//" not in request.url.path


def test_make_adapter_refuses_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown provider 'kie'; known: apimall"):
        make_adapter("kie", "https://x", "k")


def test_base_url_path_is_kept() -> None:
    request = RevidapiAdapter("http://127.0.0.1:9000/sandbox/revidapi/", "k").build_status("t")
    assert str(request.url) == "http://127.0.0.1:9000/sandbox/revidapi/get/taskid?taskId=t"
