"""apimall (seeds/000): POST /images/generate, GET /images/{task_id}; honours Idempotency-Key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from receiver.sandbox._fields import Invalid, text, text_list
from receiver.sandbox._provider import ProviderSim, SimEnv, json_response
from receiver.sandbox._state import FAIL_MESSAGE, CreateRequest, Phase, SimTask, iso_ms

MODEL = "seedream-4-5"
TYPES = ("text-to-image", "image-to-image", "edit")
RESOLUTIONS = ("2K", "4K")
# The document says "when supported by the model": Seedream 4.5's ratios.
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "16:9", "9:16", "21:9")
CREDITS = {"2K": 8, "4K": 16}
ERROR_CODES = {
    400: "invalid_request",
    401: "invalid_api_key",
    402: "insufficient_credits",
    403: "access_denied",
    404: "task_not_found",
    409: "idempotency_conflict",
    429: "rate_limit_exceeded",
    451: "content_moderation_blocked",
    500: "internal_error",
    503: "upstream_unavailable",
}
_ULID = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True, slots=True)
class _Remembered:
    fingerprint: bytes
    answer: dict[str, Any]


class ApimallSim(ProviderSim):
    name = "apimall"
    words: ClassVar[Mapping[Phase, str]] = {p: p.value for p in Phase}
    busy_status = 503

    def __init__(self, env: SimEnv) -> None:
        super().__init__(env)
        self.idempotency: dict[str, _Remembered] = {}

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/images/generate", self.create, methods=["POST"]),
            Route("/images/{task_id}", self.status, methods=["GET"]),
        ]

    def reset(self) -> None:
        super().reset()
        self.idempotency.clear()

    def ulid(self, prefix: str) -> str:
        return prefix + self.random_chars(_ULID, 26)

    def error_body(self, status: int, message: str, code: str | None) -> dict[str, Any]:
        return {
            "success": False,
            "error": {"code": code or ERROR_CODES.get(status, "error"), "message": message},
            "request_id": self.ulid("req_"),
        }

    def parse_create(self, body: dict[str, Any]) -> CreateRequest:
        model = text(body, "model", choices=(MODEL,))
        kind = text(body, "type", required=False, default="text-to-image", choices=TYPES)
        prompt = text(body, "prompt")
        image_urls = text_list(body, "image_urls")
        if kind != "text-to-image" and not image_urls:
            raise Invalid(f"image_urls is required when type is {kind}")
        return CreateRequest(
            model=model,
            prompt=prompt,
            aspect_ratio=text(
                body, "aspect_ratio", required=False, default="1:1", choices=ASPECT_RATIOS
            ),
            quality=text(
                body, "image_resolution", required=False, default="2K", choices=RESOLUTIONS
            ),
            image_urls=image_urls,
        )

    def new_task_id(self) -> str:
        return self.ulid("img_")

    def credits_for(self, request: CreateRequest) -> int:
        return CREDITS[request.quality]

    def replay(self, request: Request, body: dict[str, Any]) -> Response | None:
        key = request.headers.get("idempotency-key")
        if not key or key not in self.idempotency:
            return None
        seen = self.idempotency[key]
        if seen.fingerprint != _fingerprint(body):
            return self.error(
                409,
                "Idempotency-Key was already used with a different request body",
                code="idempotency_conflict",
            )
        return json_response(seen.answer)

    def remember(self, request: Request, body: dict[str, Any], answer: dict[str, Any]) -> None:
        key = request.headers.get("idempotency-key")
        if key:
            self.idempotency[key] = _Remembered(_fingerprint(body), answer)

    def create_answer(self, task: SimTask) -> dict[str, Any]:
        return {
            "success": True,
            "data": {
                "task_id": task.task_id,
                "request_id": self.ulid("provider_req_"),
                "credits_used": task.credits,
                "remaining_credits": self.credits,
                "model": task.request.model,
            },
            "request_id": self.ulid("req_"),
        }

    def status_answer(self, task: SimTask, phase: Phase) -> dict[str, Any]:
        done = phase is Phase.COMPLETED
        failed = phase is Phase.FAILED
        return {
            "success": True,
            "data": {
                "task_id": task.task_id,
                "model": task.request.model,
                "status": self.state_word(phase),
                "output": {"resultUrls": [task.result_url] if done else []},
                "primary_url": task.result_url if done else None,
                "image_url": task.result_url if done else None,
                "error_message": FAIL_MESSAGE if failed else None,
                "credits_used": task.credits,
                "credits_refunded": task.credits if failed else 0,
                "created_at": iso_ms(task.created_at),
                "updated_at": iso_ms(task.changed_at(phase)),
                "completed_at": iso_ms(task.final_at) if phase.final else None,
            },
            "request_id": self.ulid("req_"),
        }


def _fingerprint(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
