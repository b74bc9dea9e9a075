"""dreamcore (seeds/002): POST /generate, GET or POST /status?task_id=."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from receiver.sandbox._fields import text, text_list
from receiver.sandbox._provider import ProviderSim
from receiver.sandbox._state import FAIL_MESSAGE, CreateRequest, Phase, SimTask, iso_s

PROMPT_MAX = 1500
ASPECT_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
QUALITIES = ("basic", "high")
# The document's credit table: (edit, quality) -> credits deducted.
CREDITS = {
    (False, "basic"): 12,
    (False, "high"): 18,
    (True, "basic"): 18,
    (True, "high"): 24,
}


class DreamcoreSim(ProviderSim):
    name = "dreamcore"
    words: ClassVar[Mapping[Phase, str]] = {
        Phase.PENDING: "IN_PROGRESS",
        Phase.PROCESSING: "IN_PROGRESS",
        Phase.COMPLETED: "SUCCESS",
        Phase.FAILED: "FAILED",
    }

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/generate", self.create, methods=["POST"]),
            Route("/status", self.status, methods=["GET", "POST"]),
        ]

    def error_body(self, status: int, message: str, code: str | None) -> dict[str, Any]:
        return {"code": status, "message": message}

    def parse_create(self, body: dict[str, Any]) -> CreateRequest:
        image_urls = text_list(body, "imageUrls")
        return CreateRequest(
            model="seedream-4.5-edit" if image_urls else "seedream-4.5",
            prompt=text(body, "prompt", max_len=PROMPT_MAX),
            aspect_ratio=text(body, "aspectRatio", choices=ASPECT_RATIOS),
            quality=text(body, "quality", choices=QUALITIES),
            image_urls=image_urls,
        )

    async def status_task_id(self, request: Request) -> str | None:
        task_id = request.query_params.get("task_id")
        if task_id or request.method != "POST":
            return task_id
        # POST callers may put it in a JSON body instead of the query.
        try:
            body = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError:
            return None
        found = body.get("task_id") if isinstance(body, dict) else None
        return found if isinstance(found, str) else None

    def new_task_id(self) -> str:
        return "sd45_" + self.random_chars("0123456789abcdef", 16)

    def credits_for(self, request: CreateRequest) -> int:
        return CREDITS[(bool(request.image_urls), request.quality)]

    def create_answer(self, task: SimTask) -> dict[str, Any]:
        return {"code": 200, "message": "success", "data": {"task_id": task.task_id}}

    def status_answer(self, task: SimTask, phase: Phase) -> dict[str, Any]:
        failed = phase is Phase.FAILED
        snapshot: dict[str, Any] = {
            "prompt": task.request.prompt,
            "aspectRatio": task.request.aspect_ratio,
            "quality": task.request.quality,
        }
        if task.request.image_urls:
            snapshot["imageUrls"] = list(task.request.image_urls)
        return {
            "code": 200,
            "message": "success",
            "data": {
                "task_id": task.task_id,
                "status": self.state_word(phase),
                "request": snapshot,
                "response": [task.result_url] if phase is Phase.COMPLETED else [],
                "consumed_credits": 0 if failed else task.credits,
                "error_message": FAIL_MESSAGE if failed else None,
                "created_at": iso_s(task.created_at),
            },
        }
