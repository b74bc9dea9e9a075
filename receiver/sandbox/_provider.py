"""The request flow every simulated provider shares; subclasses supply the wire format.

Create: auth, JSON, validation, (idempotent replay), faults, task, callback,
(hang), answer. Status: auth, 429 fault, lookup, answer for the task's phase
at the clock's now.
"""

from __future__ import annotations

import base64
import hmac
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, Router

from receiver.clock import Clock
from receiver.sandbox._callbacks import CallbackJob, CallbackRunner
from receiver.sandbox._faults import Faults
from receiver.sandbox._fields import Invalid
from receiver.sandbox._state import (
    CreateRequest,
    HangGate,
    Phase,
    ProviderStats,
    SandboxConfig,
    SimTask,
)

# A 1x1 lossless WebP, served as every completed task's image.
PLACEHOLDER_WEBP = base64.b64decode("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")

DEFAULT_MESSAGES: Mapping[int, str] = {
    400: "Invalid request parameters",
    401: "API key required or invalid API key",
    402: "Insufficient credits",
    403: "Insufficient balance or permissions",
    404: "Task not found",
    409: "Idempotency-Key conflict",
    422: "Parameter validation failed",
    429: "Rate limit exceeded",
    451: "Prompt blocked by content moderation",
    500: "Internal server error",
    503: "Upstream provider is busy or temporarily unavailable",
}


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


@dataclass(frozen=True, slots=True)
class SimEnv:
    """What the simulators share: time, configuration, the callback runner, randomness."""

    clock: Clock
    config: SandboxConfig
    callbacks: CallbackRunner
    hangs: HangGate
    rng: random.Random


class ProviderSim(ABC):
    name: ClassVar[str]
    words: ClassVar[Mapping[Phase, str]]  # the provider's status word for each phase
    invalid_status: ClassVar[int] = 400
    busy_status: ClassVar[int] = 500
    sends_callbacks: ClassVar[bool] = False

    def __init__(self, env: SimEnv) -> None:
        self.env = env
        self.api_key = env.config.api_key(self.name)
        self.tasks: dict[str, SimTask] = {}
        self.faults = Faults()
        self.stats = ProviderStats()
        self.credits = env.config.initial_credits

    # -- the wire format, per provider -------------------------------------------------

    @abstractmethod
    def routes(self) -> list[BaseRoute]: ...

    @abstractmethod
    def error_body(self, status: int, message: str, code: str | None) -> dict[str, Any]: ...

    @abstractmethod
    def parse_create(self, body: dict[str, Any]) -> CreateRequest:
        """The validated request, or raise Invalid."""

    @abstractmethod
    def new_task_id(self) -> str: ...

    @abstractmethod
    def create_answer(self, task: SimTask) -> dict[str, Any]: ...

    @abstractmethod
    def status_answer(self, task: SimTask, phase: Phase) -> dict[str, Any]: ...

    def credits_for(self, request: CreateRequest) -> int:
        return 0

    def authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), self.api_key)

    async def status_task_id(self, request: Request) -> str | None:
        task_id = request.path_params.get("task_id")
        return task_id if isinstance(task_id, str) else None

    def replay(self, request: Request, body: dict[str, Any]) -> Response | None:
        """An earlier answer to give again instead of creating (apimall's Idempotency-Key)."""
        return None

    def remember(self, request: Request, body: dict[str, Any], answer: dict[str, Any]) -> None:
        """Called with each new task's answer before it is sent."""
        return None

    def reset(self) -> None:
        self.tasks.clear()
        self.faults.clear()
        self.stats.clear()
        self.credits = self.env.config.initial_credits

    # -- shared behaviour ------------------------------------------------------------

    def router(self) -> Router:
        return Router([*self.routes(), Route("/files/{name}", self.file, methods=["GET"])])

    def state_word(self, phase: Phase) -> str:
        return self.words[phase]

    def error(
        self,
        status: int,
        message: str | None = None,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        text_ = message or DEFAULT_MESSAGES.get(status, "Request failed")
        return json_response(self.error_body(status, text_, code), status, headers)

    def random_chars(self, alphabet: str, n: int) -> str:
        return "".join(self.env.rng.choice(alphabet) for _ in range(n))

    async def create(self, request: Request) -> Response:
        if not self.authorized(request):
            self.stats.unauthorized += 1
            return self.error(401)
        self.stats.create_requests += 1
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return self._reject(400, "Request body is not valid JSON")
        if not isinstance(body, dict):
            return self._reject(400, "Request body must be a JSON object")
        try:
            parsed = self.parse_create(body)
        except Invalid as exc:
            return self._reject(self.invalid_status, exc.message)
        replayed = self.replay(request, body)
        if replayed is not None:
            self.stats.idempotent_replays += 1
            return replayed
        if self.faults.take("create_5xx"):
            self.stats.create_faults += 1
            return self.error(self.busy_status)
        fault = self.faults.take_create_error()
        if fault is not None:
            self.stats.create_faults += 1
            return self.error(fault.status, fault.message)
        task = self._new_task(parsed, body, request)
        answer = self.create_answer(task)
        self.remember(request, body, answer)
        if parsed.callback_url:
            job = CallbackJob(
                task,
                parsed.callback_url,
                self.status_answer,
                self.state_word,
                self.faults,
                self.stats,
            )
            if task.early:
                await self.env.callbacks.deliver(job)
            else:
                self.env.callbacks.schedule(task.final_at, job)
        if self.faults.take("create_hang"):
            self.stats.create_hangs += 1
            await self.env.hangs.hang()
        return json_response(answer)

    async def status(self, request: Request) -> Response:
        if not self.authorized(request):
            self.stats.unauthorized += 1
            return self.error(401)
        self.stats.status_queries += 1
        if self.faults.take("poll_429"):
            self.stats.rate_limited += 1
            return self.error(429, headers={"retry-after": str(self.faults.retry_after)})
        task_id = await self.status_task_id(request)
        if not task_id:
            return self._reject(self.invalid_status, "task id is required")
        task = self.tasks.get(task_id)
        if task is None:
            self.stats.not_found += 1
            return self.error(404, f"Task {task_id} not found")
        return json_response(self.status_answer(task, task.phase(self.env.clock.now())))

    async def file(self, request: Request) -> Response:
        name: str = request.path_params["name"]
        task = self.tasks.get(name.removesuffix(".webp")) if name.endswith(".webp") else None
        now = self.env.clock.now()
        ttl = self.env.config.result_ttl_seconds
        if (
            task is None
            or task.phase(now) is not Phase.COMPLETED
            or (ttl is not None and now > task.final_at + ttl)
        ):
            return Response("Not Found", 404, media_type="text/plain")
        return Response(PLACEHOLDER_WEBP, media_type="image/webp")

    def task_json(self, task: SimTask, now: float) -> dict[str, Any]:
        phase = task.phase(now)
        return {
            "task_id": task.task_id,
            "phase": phase.value,
            "state": self.state_word(phase),
            "created_at": task.created_at,
            "processing_at": task.processing_at,
            "final_at": task.final_at,
            "fails": task.fails,
            "early": task.early,
            "callback_url": task.request.callback_url,
            "result_url": task.result_url,
            "request": task.body,
        }

    def _reject(self, status: int, message: str) -> Response:
        self.stats.rejected += 1
        return self.error(status, message)

    def _new_task(self, parsed: CreateRequest, body: dict[str, Any], request: Request) -> SimTask:
        cfg, now = self.env.config, self.env.clock.now()
        early = self.sends_callbacks and self.faults.take("early_callbacks")
        processing_at = now + cfg.pending_seconds
        final_at = processing_at + cfg.processing_seconds
        if cfg.processing_jitter_seconds > 0:
            final_at += self.env.rng.uniform(0, cfg.processing_jitter_seconds)
        if early:
            processing_at = final_at = now
        task_id = self.new_task_id()
        while task_id in self.tasks:
            task_id = self.new_task_id()
        base = (cfg.public_base_url or str(request.base_url)).rstrip("/")
        credits = self.credits_for(parsed)
        self.credits -= credits
        task = SimTask(
            provider=self.name,
            task_id=task_id,
            request=parsed,
            body=body,
            created_at=now,
            processing_at=processing_at,
            final_at=final_at,
            fails=self.faults.take("fail_tasks"),
            early=early,
            result_url=f"{base}/{self.name}/files/{task_id}.webp",
            credits=credits,
        )
        self.tasks[task_id] = task
        self.stats.creates += 1
        return task
