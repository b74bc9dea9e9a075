"""`/v1/subscriptions`: register webhooks, change them, rotate their secrets, replay to them."""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.core.ids import new_id
from receiver.core.model import EVENT_TYPES, FieldError
from receiver.core.signing import new_secret
from receiver.core.times import parse_rfc3339
from receiver.delivery.addresses import AddressRefused, check_url_shape, resolve_target
from receiver.http.io import JSONResponse
from receiver.http.problems import Problem, invalid, not_found
from receiver.http.query import ID_PATTERN, list_query, page, read_object, reject_unknown
from receiver.http.tasks import runtime
from receiver.runtime import Runtime
from receiver.store.records import Subscription

CREATE_FIELDS = ("url", "event_types", "description")
PATCH_FIELDS = ("url", "event_types", "description", "enabled")
REPLAY_FIELDS = ("since", "until", "event_types")
ROTATION_OVERLAP = 24 * 3600.0
DESCRIPTION_MAX = 1000


def _event_types(value: Any, field: str, errors: list[FieldError]) -> tuple[str, ...] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v in EVENT_TYPES for v in value)
    ):
        errors.append(
            FieldError(
                field, f"expected a non-empty list of: {', '.join(EVENT_TYPES)}; omit it for all"
            )
        )
        return None
    return tuple(dict.fromkeys(value))


async def _check_url(rt: Runtime, value: Any, errors: list[FieldError]) -> str | None:
    if not isinstance(value, str):
        errors.append(FieldError("url", "required: an http:// or https:// URL"))
        return None
    shape = check_url_shape(value)
    if shape:
        errors.append(FieldError("url", shape))
        return None
    try:
        await resolve_target(
            value, allow_private=rt.settings.allow_private_urls, resolver=rt.resolver
        )
    except AddressRefused as exc:
        errors.append(FieldError("url", str(exc)))
        return None
    return value


def _description(value: Any, errors: list[FieldError]) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > DESCRIPTION_MAX):
        errors.append(
            FieldError("description", f"expected a string of at most {DESCRIPTION_MAX} characters")
        )
        return None
    return value


async def _load(rt: Runtime, subscription_id: str) -> Subscription:
    sub = (
        await rt.store.get_subscription(subscription_id)
        if ID_PATTERN.match(subscription_id)
        else None
    )
    if sub is None:
        raise not_found(f"subscription {subscription_id}")
    return sub


async def create_subscription(request: Request) -> Response:
    rt = runtime(request)
    body = await read_object(request)
    errors = reject_unknown(body, CREATE_FIELDS)
    url = await _check_url(rt, body.get("url"), errors)
    types = _event_types(body.get("event_types"), "event_types", errors)
    description = _description(body.get("description"), errors)
    if errors or url is None:
        raise invalid(errors)
    now = rt.clock.now()
    sub = Subscription(
        id=new_id("sub", now),
        url=url,
        event_types=types,
        description=description,
        enabled=True,
        disabled_reason=None,
        secret=new_secret(32),
        previous_secret=None,
        previous_secret_expires_at=None,
        failing_since=None,
        created_at=now,
        updated_at=now,
    )
    await rt.store.create_subscription(sub)
    headers = {"location": f"/v1/subscriptions/{sub.id}"}
    return JSONResponse(sub.as_json(with_secret=True), status_code=201, headers=headers)


async def list_subscriptions(request: Request) -> Response:
    q = list_query(request, {})
    subs = await runtime(request).store.list_subscriptions()  # newest first; a short list
    if q.after is not None:
        subs = [s for s in subs if s.id < q.after]
    return JSONResponse(page(subs[: q.limit + 1], q.limit, lambda s: s.as_json(), lambda s: s.id))


async def get_subscription(request: Request) -> Response:
    sub = await _load(runtime(request), request.path_params["subscription_id"])
    return JSONResponse(sub.as_json())


async def update_subscription(request: Request) -> Response:
    rt = runtime(request)
    sub = await _load(rt, request.path_params["subscription_id"])
    body = await read_object(request)
    errors = reject_unknown(body, PATCH_FIELDS)
    changes: dict[str, Any] = {}
    if "url" in body:
        changes["url"] = await _check_url(rt, body["url"], errors)
    if "event_types" in body:
        types = _event_types(body["event_types"], "event_types", errors)
        changes["event_types"] = list(types) if types is not None else None
    if "description" in body:
        changes["description"] = _description(body["description"], errors)
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            errors.append(FieldError("enabled", "expected true or false"))
        changes["enabled"] = body["enabled"]
    if not body:
        errors.append(FieldError("", f"nothing to change; send any of {', '.join(PATCH_FIELDS)}"))
    if errors:
        raise invalid(errors)
    updated = await rt.store.update_subscription(sub.id, changes, rt.clock.now())
    if updated is None:
        raise not_found(f"subscription {sub.id}")
    return JSONResponse(updated.as_json())


async def delete_subscription(request: Request) -> Response:
    rt = runtime(request)
    sub = await _load(rt, request.path_params["subscription_id"])
    await rt.store.delete_subscription(sub.id, rt.clock.now())
    return Response(status_code=204)


async def rotate_secret(request: Request) -> Response:
    rt = runtime(request)
    sub = await _load(rt, request.path_params["subscription_id"])
    errors = reject_unknown(await read_object(request, optional=True), ())
    if errors:
        raise invalid(errors)
    rotated = await rt.store.rotate_secret(sub.id, new_secret(32), rt.clock.now(), ROTATION_OVERLAP)
    if rotated is None:
        raise not_found(f"subscription {sub.id}")
    return JSONResponse(rotated.as_json(with_secret=True))


def _time(value: Any, field: str, errors: list[FieldError]) -> float | None:
    if not isinstance(value, str):
        errors.append(FieldError(field, "expected an RFC 3339 time, e.g. 2026-11-20T08:00:00Z"))
        return None
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        errors.append(FieldError(field, f"expected an RFC 3339 time with an offset: {exc}"))
        return None


async def replay(request: Request) -> Response:
    rt = runtime(request)
    sub = await _load(rt, request.path_params["subscription_id"])
    body = await read_object(request)
    errors = reject_unknown(body, REPLAY_FIELDS)
    now = rt.clock.now()
    since = _time(body.get("since"), "since", errors)
    # Without `until`, the window is open-ended: everything since `since`.
    until = _time(body["until"], "until", errors) if body.get("until") is not None else math.inf
    types = _event_types(body.get("event_types"), "event_types", errors)
    if since is not None and until is not None and since >= until:
        errors.append(FieldError("until", "must be later than since"))
    if errors or since is None or until is None:
        raise invalid(errors)
    if not sub.enabled:
        raise Problem(
            409,
            "subscription-disabled",
            f"subscription {sub.id} is disabled ({sub.disabled_reason}); enable it first",
        )
    enqueued = await rt.store.replay(sub, since, until, types, now)
    rt.deliveries_enqueued()
    return JSONResponse({"enqueued": enqueued}, status_code=202)


routes = [
    Route("/v1/subscriptions", create_subscription, methods=["POST"]),
    Route("/v1/subscriptions", list_subscriptions, methods=["GET"]),
    Route("/v1/subscriptions/{subscription_id}", get_subscription, methods=["GET"]),
    Route("/v1/subscriptions/{subscription_id}", update_subscription, methods=["PATCH"]),
    Route("/v1/subscriptions/{subscription_id}", delete_subscription, methods=["DELETE"]),
    Route("/v1/subscriptions/{subscription_id}/rotate-secret", rotate_secret, methods=["POST"]),
    Route("/v1/subscriptions/{subscription_id}/replay", replay, methods=["POST"]),
]
