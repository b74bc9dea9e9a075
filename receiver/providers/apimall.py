"""apimall: Seedream 4.5 through apimall's unified image API (seeds/000)."""

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


class ApimallAdapter(BaseAdapter):
    name = "apimall"
    limits = ProviderLimits(
        prompt_max=None,  # the document states no limit
        aspect_ratios=("1:1", "2:3", "3:2", "3:4", "4:3", "16:9", "9:16", "21:9"),
        supports_edit=True,
    )
    idempotent_create = True

    def build_create(
        self, spec: TaskSpec, *, idempotency_key: str, callback_url: str | None
    ) -> httpx.Request:
        # apimall never calls back, so callback_url is not sent.
        body: JSONObject = {
            "model": "seedream-4-5",
            # The document only shows "text-to-image" and names no value for edits;
            # "image-to-image" is our best reading, paired with image_urls.
            "type": "image-to-image" if spec.is_edit else "text-to-image",
            "prompt": spec.prompt,
            "aspect_ratio": spec.aspect_ratio,
            "image_resolution": spec.quality,
        }
        if spec.is_edit:
            body["image_urls"] = list(spec.image_urls)
        return self.request(
            "POST", "/images/generate", body=body, headers={"Idempotency-Key": idempotency_key}
        )

    def build_status(self, provider_task_id: str) -> httpx.Request:
        return self.request("GET", "/images/" + quote(provider_task_id, safe=""))

    def answer_ok(self, body: JSONObject) -> bool:
        return body.get("success") is not False and not body.get("error")

    def report(self, data: JSONObject, raw: JSONObject) -> Report:
        output = data.get("output")
        result_urls = (
            (str_tuple(output.get("resultUrls")) if isinstance(output, dict) else ())
            or str_tuple(data.get("primary_url"))
            or str_tuple(data.get("image_url"))
        )
        return make_report(
            self.name,
            map_status(OWN_WORDS, data.get("status")),
            task_id=text(data.get("task_id")),
            result_urls=result_urls,
            error_code=None,
            error_message=text(data.get("error_message")),
            raw=raw,
        )
