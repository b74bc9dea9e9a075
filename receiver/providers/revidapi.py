"""revidapi: Seedream 4.5 text-to-image and edit (seeds/003). The one provider that calls back."""

from __future__ import annotations

import httpx

from receiver.core.model import Report, Status, TaskSpec
from receiver.providers._common import (
    BaseAdapter,
    JSONObject,
    decode_object,
    make_report,
    map_status,
    str_tuple,
    text,
)
from receiver.providers.base import ProviderLimits

# queuing/generating are not in the document but the same upstream family uses them.
_STATUSES = {
    "waiting": Status.PENDING,
    "queuing": Status.PENDING,
    "generating": Status.PROCESSING,
    "success": Status.COMPLETED,
    "fail": Status.FAILED,
}
_QUALITIES = {"2K": "basic", "4K": "high"}


def _is_task_record(data: object) -> bool:
    return isinstance(data, dict) and bool(text(data.get("taskId")) and text(data.get("state")))


def _result_urls(result_json: object) -> tuple[str, ...]:
    # resultJson is JSON encoded inside JSON; tolerate an already decoded object.
    result = decode_object(result_json) if isinstance(result_json, str) else result_json
    return str_tuple(result.get("resultUrls")) if isinstance(result, dict) else ()


class RevidapiAdapter(BaseAdapter):
    name = "revidapi"
    limits = ProviderLimits(
        prompt_max=3000,
        aspect_ratios=("1:1", "4:3", "3:4", "16:9", "9:16", "2:3", "3:2", "21:9"),
        supports_edit=True,
    )
    supports_callback = True
    task_id_key = "taskId"

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self._api_key}

    def build_create(
        self, spec: TaskSpec, *, idempotency_key: str, callback_url: str | None
    ) -> httpx.Request:
        task_input: JSONObject = {
            "prompt": spec.prompt,
            "aspect_ratio": spec.aspect_ratio,
            "quality": _QUALITIES[spec.quality],
        }
        if spec.is_edit:
            task_input["image_urls"] = list(spec.image_urls)
        body: JSONObject = {
            "model": "seedream/4.5-edit" if spec.is_edit else "seedream/4.5-text-to-image",
            "input": task_input,
        }
        if callback_url is not None:
            body["callBackUrl"] = callback_url
        return self.request("POST", "/seedream/create", body=body)

    def build_status(self, provider_task_id: str) -> httpx.Request:
        return self.request("POST", "/get/taskid", params={"taskId": provider_task_id})

    def answer_ok(self, body: JSONObject) -> bool:
        # A body carrying a task record is a report whatever its envelope code: the
        # callback is "identical to the status answer", and this upstream family
        # marks failed tasks with a non-200 envelope code there.
        return body.get("code", 200) in (200, "200") or _is_task_record(body.get("data"))

    def report(self, data: JSONObject, raw: JSONObject) -> Report:
        # A success whose resultJson is missing or garbled yields no URL, which
        # make_report turns into a failed report with code bad_result.
        return make_report(
            self.name,
            map_status(_STATUSES, data.get("state")),
            task_id=text(data.get("taskId")),
            result_urls=_result_urls(data.get("resultJson")),
            error_code=text(data.get("failCode")),
            error_message=text(data.get("failMsg")),
            raw=raw,
        )

    def parse_callback(self, body: bytes) -> Report:
        decoded = decode_object(body)
        if decoded is None:
            raise ValueError("revidapi callback body is not a JSON object")
        data = decoded.get("data")
        if not isinstance(data, dict) or not _is_task_record(data):
            raise ValueError("revidapi callback body lacks data.taskId or data.state")
        return self.report(data, decoded)
