"""The control API under /_sim: faults, stats, tasks, reset. No auth: loopback only."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.sandbox._provider import ProviderSim, json_response

if TYPE_CHECKING:
    from receiver.sandbox._app import Sandbox


def control_routes(sandbox: Sandbox) -> list[Route]:
    def provider(request: Request) -> ProviderSim | None:
        return sandbox.providers.get(request.path_params["provider"])

    def unknown(request: Request) -> Response:
        name = request.path_params["provider"]
        known = ", ".join(sandbox.providers)
        return json_response({"error": f"unknown provider {name!r}; known: {known}"}, 404)

    async def get_faults(request: Request) -> Response:
        sim = provider(request)
        return unknown(request) if sim is None else json_response(sim.faults.as_json())

    async def set_faults(request: Request) -> Response:
        sim = provider(request)
        if sim is None:
            return unknown(request)
        try:
            changes = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return json_response({"error": "body must be a JSON object"}, 400)
        if not isinstance(changes, dict):
            return json_response({"error": "body must be a JSON object"}, 400)
        try:
            sim.faults.update(changes, callbacks=sim.sends_callbacks)
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response(sim.faults.as_json())

    async def stats(request: Request) -> Response:
        return json_response(sandbox.stats_json())

    async def tasks(request: Request) -> Response:
        name = request.path_params["provider"]
        if name not in sandbox.providers:
            return unknown(request)
        now = sandbox.clock.now()
        return json_response({"provider": name, "now": now, "tasks": sandbox.task_states(name)})

    async def reset(request: Request) -> Response:
        sandbox.reset()
        return json_response({"reset": True})

    async def release_hangs(request: Request) -> Response:
        return json_response({"released": sandbox.release_hangs()})

    return [
        Route("/_sim/faults/{provider}", get_faults, methods=["GET"]),
        Route("/_sim/faults/{provider}", set_faults, methods=["POST"]),
        Route("/_sim/stats", stats, methods=["GET"]),
        Route("/_sim/tasks/{provider}", tasks, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/release-hangs", release_hangs, methods=["POST"]),
    ]
