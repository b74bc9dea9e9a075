"""apipod (seeds/001): POST /images/generations, GET /images/status/{task_id}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from starlette.routing import BaseRoute, Route

from receiver.sandbox._fields import text
from receiver.sandbox._provider import ProviderSim
from receiver.sandbox._state import FAIL_MESSAGE, CreateRequest, Phase, SimTask

MODEL = "seedream-v4.5"
PROMPT_MAX = 4000
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "16:9", "9:16", "21:9")
QUALITIES = ("2K", "4K")
# status -> (error.type, error.code); the document shows only invalid_request_error.
ERRORS = {
    400: ("invalid_request_error", "invalid_parameter"),
    401: ("authentication_error", "invalid_api_key"),
    402: ("insufficient_quota", "insufficient_balance"),
    403: ("permission_error", "insufficient_balance"),
    404: ("invalid_request_error", "task_not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", "internal_error"),
}
_ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


class ApipodSim(ProviderSim):
    name = "apipod"
    words: ClassVar[Mapping[Phase, str]] = {p: p.value for p in Phase}

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/images/generations", self.create, methods=["POST"]),
            Route("/images/status/{task_id}", self.status, methods=["GET"]),
        ]

    def error_body(self, status: int, message: str, code: str | None) -> dict[str, Any]:
        kind, default_code = ERRORS.get(status, ("api_error", "error"))
        return {"error": {"message": message, "type": kind, "code": code or default_code}}

    def parse_create(self, body: dict[str, Any]) -> CreateRequest:
        return CreateRequest(
            model=text(body, "model", choices=(MODEL,)),
            prompt=text(body, "prompt", max_len=PROMPT_MAX),
            aspect_ratio=text(
                body, "aspect_ratio", required=False, default="1:1", choices=ASPECT_RATIOS
            ),
            quality=text(body, "quality", required=False, default="2K", choices=QUALITIES),
        )

    def new_task_id(self) -> str:
        return "task_" + self.random_chars(_ID_CHARS, 20)

    def create_answer(self, task: SimTask) -> dict[str, Any]:
        return {"code": 0, "message": "success", "data": {"task_id": task.task_id}}

    def status_answer(self, task: SimTask, phase: Phase) -> dict[str, Any]:
        return {
            "code": 0,
            "message": "success",
            "data": {
                "task_id": task.task_id,
                "status": self.state_word(phase),
                "completed_at": int(task.final_at) if phase.final else None,
                "result": [task.result_url] if phase is Phase.COMPLETED else [],
                "error_message": FAIL_MESSAGE if phase is Phase.FAILED else None,
            },
        }
