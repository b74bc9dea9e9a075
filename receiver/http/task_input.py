"""Validation of `POST /v1/tasks` bodies: every problem reported at once, before any upstream call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from receiver.core.model import PROVIDERS, QUALITIES, FieldError, TaskSpec
from receiver.http.io import nesting
from receiver.providers.base import Adapter

FIELDS = ("prompt", "provider", "aspect_ratio", "quality", "image_urls", "metadata")
PROMPT_MAX = 10_000  # our own sanity cap; providers' tighter limits are checked by their adapters
URL_MAX = 2048
METADATA_MAX = 16 * 1024
# Far inside what orjson writes (254 levels), with room for the task and event around it.
METADATA_DEPTH = 32


@dataclass(frozen=True, slots=True)
class TaskInput:
    provider: str
    spec: TaskSpec
    metadata: dict[str, Any] | None


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. "http://[", an IPv6 literal never closed
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def parse_task_input(
    body: Any, adapters: dict[str, Adapter], default_provider: str | None
) -> TaskInput | list[FieldError]:
    if not isinstance(body, dict):
        return [FieldError("", "expected a JSON object")]
    errors = [
        FieldError(key, f"unknown field; allowed: {', '.join(FIELDS)}")
        for key in body
        if key not in FIELDS
    ]

    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        errors.append(FieldError("prompt", "required: a non-empty string"))
    elif len(prompt) > PROMPT_MAX:
        errors.append(FieldError("prompt", f"at most {PROMPT_MAX} characters (got {len(prompt)})"))

    provider = body.get("provider", default_provider)
    if provider is None:
        errors.append(
            FieldError("provider", "no provider is enabled: set RECEIVER_<P>_API_KEY for one")
        )
    elif not isinstance(provider, str) or provider not in PROVIDERS:
        errors.append(FieldError("provider", f"expected one of {', '.join(PROVIDERS)}"))
    elif provider not in adapters:
        errors.append(
            FieldError(
                "provider",
                f"{provider} is not enabled on this service (set RECEIVER_{provider.upper()}_API_KEY); "
                f"enabled: {', '.join(adapters) or 'none'}",
            )
        )

    aspect_ratio = body.get("aspect_ratio", "1:1")
    if not isinstance(aspect_ratio, str):
        errors.append(FieldError("aspect_ratio", 'expected a string such as "16:9"'))
    quality = body.get("quality", "2K")
    if quality not in QUALITIES:
        errors.append(FieldError("quality", f"expected one of {', '.join(QUALITIES)}"))

    image_urls = body.get("image_urls", [])
    if image_urls is None:
        image_urls = []
    if not isinstance(image_urls, list) or not all(isinstance(u, str) for u in image_urls):
        errors.append(FieldError("image_urls", "expected a list of http(s) URLs"))
        image_urls = []
    else:
        for index, url in enumerate(image_urls):
            if len(url) > URL_MAX or not _is_http_url(url):
                errors.append(
                    FieldError(
                        f"image_urls[{index}]",
                        f"expected an http(s) URL of at most {URL_MAX} characters",
                    )
                )

    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            errors.append(FieldError("metadata", "expected a JSON object"))
        elif nesting(metadata) > METADATA_DEPTH:
            errors.append(FieldError("metadata", f"at most {METADATA_DEPTH} levels of nesting"))
        elif len(orjson.dumps(metadata)) > METADATA_MAX:
            errors.append(FieldError("metadata", f"at most {METADATA_MAX} bytes of JSON"))

    if errors:
        return errors
    assert isinstance(provider, str) and isinstance(prompt, str) and isinstance(aspect_ratio, str)
    spec = TaskSpec(
        prompt=prompt, aspect_ratio=aspect_ratio, quality=str(quality), image_urls=tuple(image_urls)
    )
    provider_errors = adapters[provider].validate(spec)
    if provider_errors:
        return provider_errors
    return TaskInput(provider=provider, spec=spec, metadata=metadata)
