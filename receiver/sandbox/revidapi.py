"""revidapi (seeds/003): POST /seedream/create, POST /get/taskid?taskId=; calls back.

The status answer is also the callback body: `param` is the whole create
request and `resultJson` the result, each JSON encoded inside the JSON.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from receiver.sandbox._fields import Invalid, text, text_list
from receiver.sandbox._provider import ProviderSim
from receiver.sandbox._state import FAIL_MESSAGE, CreateRequest, Phase, SimTask, unix_ms

TEXT_TO_IMAGE = "seedream/4.5-text-to-image"
EDIT = "seedream/4.5-edit"
PROMPT_MAX = 3000
ASPECT_RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16", "2:3", "3:2", "21:9")
QUALITIES = ("basic", "high")
CREDITS_PER_IMAGE = 12
FAIL_CODE = "500"


class RevidapiSim(ProviderSim):
    name = "revidapi"
    words: ClassVar[Mapping[Phase, str]] = {
        Phase.PENDING: "waiting",
        Phase.PROCESSING: "waiting",
        Phase.COMPLETED: "success",
        Phase.FAILED: "fail",
    }
    invalid_status = 422
    sends_callbacks = True

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/seedream/create", self.create, methods=["POST"]),
            Route("/get/taskid", self.status, methods=["POST"]),
        ]

    def authorized(self, request: Request) -> bool:
        return hmac.compare_digest(request.headers.get("x-api-key", ""), self.api_key)

    def error_body(self, status: int, message: str, code: str | None) -> dict[str, Any]:
        return {"code": status, "msg": message}

    def parse_create(self, body: dict[str, Any]) -> CreateRequest:
        model = text(body, "model", choices=(TEXT_TO_IMAGE, EDIT))
        params = body.get("input")
        if not isinstance(params, dict):
            raise Invalid("input is required and must be an object")
        image_urls = text_list(params, "image_urls", where="input.")
        if model == EDIT and not image_urls:
            raise Invalid(f"input.image_urls is required for {EDIT}")
        callback_url = text(body, "callBackUrl", required=False) or None
        if callback_url is not None and urlsplit(callback_url).scheme not in ("http", "https"):
            raise Invalid("callBackUrl must be an http(s) URL")
        return CreateRequest(
            model=model,
            prompt=text(params, "prompt", max_len=PROMPT_MAX, where="input."),
            aspect_ratio=text(params, "aspect_ratio", choices=ASPECT_RATIOS, where="input."),
            quality=text(params, "quality", choices=QUALITIES, where="input."),
            image_urls=image_urls,
            callback_url=callback_url,
        )

    async def status_task_id(self, request: Request) -> str | None:
        return request.query_params.get("taskId")

    def new_task_id(self) -> str:
        return self.random_chars("0123456789abcdef", 32)

    def credits_for(self, request: CreateRequest) -> int:
        return CREDITS_PER_IMAGE

    def create_answer(self, task: SimTask) -> dict[str, Any]:
        return {"code": 200, "msg": "success", "data": {"taskId": task.task_id}}

    def status_answer(self, task: SimTask, phase: Phase) -> dict[str, Any]:
        success = phase is Phase.COMPLETED
        failed = phase is Phase.FAILED
        result = orjson.dumps({"resultUrls": [task.result_url]}).decode() if success else None
        return {
            "code": 200,
            "msg": "success",
            "data": {
                "taskId": task.task_id,
                "model": task.request.model,
                "state": self.state_word(phase),
                "param": orjson.dumps(task.body).decode(),
                "resultJson": result,
                "failCode": FAIL_CODE if failed else None,
                "failMsg": FAIL_MESSAGE if failed else None,
                "costTime": unix_ms(task.final_at) - unix_ms(task.created_at)
                if phase.final
                else None,
                "completeTime": unix_ms(task.final_at) if phase.final else None,
                "createTime": unix_ms(task.created_at),
            },
        }
