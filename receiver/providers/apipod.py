"""apipod: Seedream v4.5 text to image (seeds/001). No edit, no callback."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from receiver.core.model import Report, TaskSpec
from receiver.providers._common import (
    OWN_WORDS,
    BaseAdapter,
    JSONObject,
    make_report,
    map_status,
    str_tuple,
    text,
)
from receiver.providers.base import ProviderLimits


class ApipodAdapter(BaseAdapter):
    name = "apipod"
    limits = ProviderLimits(
        prompt_max=4000,
        aspect_ratios=("1:1", "2:3", "3:2", "3:4", "4:3", "16:9", "9:16", "21:9"),
        supports_edit=False,  # the document describes text-to-image only
    )

    def build_create(
        self, spec: TaskSpec, *, idempotency_key: str, callback_url: str | None
    ) -> httpx.Request:
        # apipod takes neither an idempotency key nor a callback URL.
        body: JSONObject = {
            "model": "seedream-v4.5",
            "prompt": spec.prompt,
            "aspect_ratio": spec.aspect_ratio,
            "quality": spec.quality,
        }
        return self.request("POST", "/images/generations", body=body)

    def build_status(self, provider_task_id: str) -> httpx.Request:
        return self.request("GET", "/images/status/" + quote(provider_task_id, safe=""))

    def answer_ok(self, body: JSONObject) -> bool:
        return body.get("code", 0) in (0, "0") and not body.get("error")

    def report(self, data: JSONObject, raw: JSONObject) -> Report:
        return make_report(
            self.name,
            map_status(OWN_WORDS, data.get("status")),
            task_id=text(data.get("task_id")),
            result_urls=str_tuple(data.get("result")),
            error_code=None,
            error_message=text(data.get("error_message")),
            raw=raw,
        )
