"""dreamcore: the Seedream 4.5 DreamCore API (seeds/002). No callback."""

from __future__ import annotations

import httpx

from receiver.core.model import Report, Status, TaskSpec
from receiver.providers._common import (
    BaseAdapter,
    JSONObject,
    make_report,
    map_status,
    str_tuple,
    text,
)
from receiver.providers.base import ProviderLimits

_STATUSES = {
    "in_progress": Status.PROCESSING,
    "success": Status.COMPLETED,
    "failed": Status.FAILED,
}
_QUALITIES = {"2K": "basic", "4K": "high"}


class DreamcoreAdapter(BaseAdapter):
    name = "dreamcore"
    limits = ProviderLimits(
        prompt_max=1500,
        aspect_ratios=("1:1", "3:4", "4:3", "9:16", "16:9"),
        supports_edit=True,
    )

    def build_create(
        self, spec: TaskSpec, *, idempotency_key: str, callback_url: str | None
    ) -> httpx.Request:
        # dreamcore takes neither an idempotency key nor a callback URL.
        body: JSONObject = {
            "prompt": spec.prompt,
            "aspectRatio": spec.aspect_ratio,
            "quality": _QUALITIES[spec.quality],
        }
        if spec.is_edit:
            body["imageUrls"] = list(spec.image_urls)
        return self.request("POST", "/generate", body=body)

    def build_status(self, provider_task_id: str) -> httpx.Request:
        return self.request("GET", "/status", params={"task_id": provider_task_id})

    def answer_ok(self, body: JSONObject) -> bool:
        return body.get("code", 200) in (200, "200")

    def report(self, data: JSONObject, raw: JSONObject) -> Report:
        return make_report(
            self.name,
            map_status(_STATUSES, data.get("status")),
            task_id=text(data.get("task_id")),
            result_urls=str_tuple(data.get("response")),
            error_code=None,
            error_message=text(data.get("error_message")),
            raw=raw,
        )
