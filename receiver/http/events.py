"""`/v1/events` and `/v1/deliveries`: the event log, redelivery, and every attempt."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.core.model import EVENT_TYPES, FieldError
from receiver.http.io import JSONResponse
from receiver.http.problems import Problem, invalid, not_found
from receiver.http.query import (
    ID_PATTERN,
    an_id,
    list_query,
    one_of,
    page,
    read_object,
    reject_unknown,
)
from receiver.http.tasks import runtime

DELIVERY_STATUSES = ("pending", "delivered", "dead", "cancelled")


async def list_events(request: Request) -> Response:
    rt = runtime(request)
    q = list_query(request, {"type": one_of(EVENT_TYPES), "task_id": an_id})
    events = await rt.store.list_events(
        event_type=q.filters["type"], task_id=q.filters["task_id"], after=q.after, limit=q.limit + 1
    )
    return JSONResponse(page(events, q.limit, lambda e: e.as_json(), lambda e: e.id))


async def get_event(request: Request) -> Response:
    event_id = request.path_params["event_id"]
    event = await runtime(request).store.get_event(event_id) if ID_PATTERN.match(event_id) else None
    if event is None:
        raise not_found(f"event {event_id}")
    return JSONResponse(event.as_json())


async def redeliver(request: Request) -> Response:
    rt = runtime(request)
    event_id = request.path_params["event_id"]
    event = await rt.store.get_event(event_id) if ID_PATTERN.match(event_id) else None
    if event is None:
        raise not_found(f"event {event_id}")
    body = await read_object(request, optional=True)
    errors = reject_unknown(body, ("subscription_id",))
    subscription_id = body.get("subscription_id")
    if subscription_id is not None and (
        not isinstance(subscription_id, str) or an_id(subscription_id)
    ):
        errors.append(FieldError("subscription_id", "expected a subscription id"))
    if errors:
        raise invalid(errors)
    if subscription_id is not None:
        sub = await rt.store.get_subscription(subscription_id)
        if sub is None:
            raise not_found(f"subscription {subscription_id}")
        if not sub.enabled:
            raise Problem(
                409,
                "subscription-disabled",
                f"subscription {sub.id} is disabled ({sub.disabled_reason}); enable it first",
            )
    enqueued = await rt.store.redeliver(event.id, subscription_id, rt.clock.now())
    rt.deliveries_enqueued()
    return JSONResponse({"enqueued": enqueued}, status_code=202)


async def list_deliveries(request: Request) -> Response:
    rt = runtime(request)
    q = list_query(
        request,
        {"subscription_id": an_id, "event_id": an_id, "status": one_of(DELIVERY_STATUSES)},
    )
    deliveries = await rt.store.list_deliveries(
        subscription_id=q.filters["subscription_id"],
        event_id=q.filters["event_id"],
        status=q.filters["status"],
        after=q.after,
        limit=q.limit + 1,
    )
    return JSONResponse(page(deliveries, q.limit, lambda d: d.as_json(), lambda d: d.id))


async def get_delivery(request: Request) -> Response:
    delivery_id = request.path_params["delivery_id"]
    found = (
        await runtime(request).store.get_delivery(delivery_id)
        if ID_PATTERN.match(delivery_id)
        else None
    )
    if found is None:
        raise not_found(f"delivery {delivery_id}")
    delivery, attempts = found
    return JSONResponse(delivery.as_json(attempts))


routes = [
    Route("/v1/events", list_events, methods=["GET"]),
    Route("/v1/events/{event_id}", get_event, methods=["GET"]),
    Route("/v1/events/{event_id}/redeliver", redeliver, methods=["POST"]),
    Route("/v1/deliveries", list_deliveries, methods=["GET"]),
    Route("/v1/deliveries/{delivery_id}", get_delivery, methods=["GET"]),
]
