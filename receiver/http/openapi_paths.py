"""The `paths` of the OpenAPI document: every route, with every answer its handler can give."""

from __future__ import annotations

from typing import Any

from receiver.core.model import EVENT_TYPES, PROVIDERS, Status
from receiver.http.events import DELIVERY_STATUSES
from receiver.http.io import MAX_BODY
from receiver.http.openapi_schemas import ID, Schema, an_id, ref
from receiver.http.problems import PROBLEM_JSON

JSON = "application/json"
ID_FILTER: Schema = {"type": "string", "pattern": ID}


def problem(description: str, **headers: Schema) -> Schema:
    answer: Schema = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": ref("Problem")}},
    }
    if headers:
        answer["headers"] = {name: {"schema": schema} for name, schema in headers.items()}
    return answer


def answer(description: str, schema: str, **headers: Schema) -> Schema:
    out: Schema = {"description": description, "content": {JSON: {"schema": ref(schema)}}}
    if headers:
        out["headers"] = {name: {"schema": s} for name, s in headers.items()}
    return out


def query(name: str, schema: Schema, description: str = "") -> Schema:
    param: Schema = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        param["description"] = description
    return param


def enum(values: tuple[str, ...] | list[str]) -> Schema:
    return {"type": "string", "enum": list(values)}


# Shared answers, under components/responses.
RESPONSES: dict[str, Schema] = {
    "Malformed": problem("The body is empty or not JSON (/problems/malformed-json)."),
    "Unauthorized": problem(
        "No valid bearer token (/problems/unauthorized).",
        **{"WWW-Authenticate": {"type": "string"}},
    ),
    "NotFound": problem("No such resource (/problems/not-found)."),
    "TooLarge": problem(f"The body is over {MAX_BODY} bytes (/problems/too-large)."),
    "Invalid": problem(
        "Invalid fields, unknown fields or unknown query parameters, each listed in `errors` "
        "(/problems/validation)."
    ),
}
PARAMETERS: dict[str, Schema] = {
    "limit": query(
        "limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "Page size."
    ),
    "after": query("after", ID_FILTER, "The `next` cursor of the previous page."),
}
_STATUS = {"Malformed": "400", "Unauthorized": "401", "NotFound": "404", "TooLarge": "413"}
_STATUS["Invalid"] = "422"
# Every operation that takes a body reads it: 400 (not JSON), 413, 422 (not an object).
BODY = ("Malformed", "TooLarge", "Invalid")
DISABLED = problem("The subscription is disabled (/problems/subscription-disabled).")
PAGING = [{"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/after"}]


def common(*names: str) -> dict[str, Schema]:
    return {_STATUS[name]: {"$ref": f"#/components/responses/{name}"} for name in names}


def op(op_id: str, summary: str, tag: str, responses: dict[str, Schema], **extra: Any) -> Schema:
    """One operation; management ones (every tag but `public`) can also answer 401."""
    if tag == "public":
        extra["security"] = []
    else:
        responses = {**responses, **common("Unauthorized")}
    return {
        "operationId": op_id,
        "summary": summary,
        "tags": [tag],
        "responses": dict(sorted(responses.items())),
        **extra,
    }


def path_param(name: str, prefix: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": "Anything but the id of an existing one answers 404.",
        "schema": an_id(prefix),
    }


def body(schema: str, *, required: bool = True) -> Schema:
    return {"required": required, "content": {JSON: {"schema": ref(schema)}}}


def get_one(op_id: str, what: str, tag: str, param: Schema, schema: str) -> Schema:
    return op(
        op_id,
        f"One {what}",
        tag,
        {"200": answer(f"The {what}.", schema), **common("NotFound")},
        parameters=[param],
    )


def get_page(op_id: str, summary: str, tag: str, schema: str, *filters: Schema) -> Schema:
    return op(
        op_id,
        summary,
        tag,
        {"200": answer("A page, newest first.", schema), **common("Invalid")},
        parameters=[*filters, *PAGING],
    )


def public_get(op_id: str, summary: str, responses: dict[str, Schema]) -> Schema:
    return op(op_id, summary, "public", responses)


def _tasks() -> dict[str, Schema]:
    task_id = path_param("task_id", "task")
    create = op(
        "createTask",
        "Submit a task; it is validated against the provider's limits first",
        "tasks",
        {
            "202": answer(
                "Accepted and on disk; for a repeated Idempotency-Key with the same body, "
                "the same task again (with Idempotent-Replayed: true).",
                "Task",
                Location={"type": "string"},
                **{"Idempotent-Replayed": {"type": "string", "const": "true"}},
            ),
            "400": problem(
                "The body is empty or not JSON (/problems/malformed-json), or the "
                "Idempotency-Key is not 1-255 visible ASCII characters "
                "(/problems/bad-idempotency-key)."
            ),
            "409": problem(
                "The Idempotency-Key was used with another body (/problems/idempotency-conflict)."
            ),
            **common("TooLarge", "Invalid"),
        },
        parameters=[
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
            }
        ],
        requestBody=body("TaskInput"),
    )
    sync = op(
        "syncTask",
        "Ask the provider now and reconcile (a final task is answered as it is)",
        "tasks",
        {
            "200": answer("The task after reconciliation.", "Task"),
            "409": problem("The provider has not accepted the task yet (/problems/not-submitted)."),
            "502": problem(
                "The provider did not answer usefully (/problems/upstream-unavailable) or "
                "refused the query (/problems/upstream-refused); nothing changed. "
                "`provider_code` carries the provider's code."
            ),
            **common("NotFound"),
        },
        parameters=[task_id],
    )
    statuses = query("status", enum([s.value for s in Status]))
    return {
        "/v1/tasks": {
            "post": create,
            "get": get_page(
                "listTasks",
                "Tasks",
                "tasks",
                "TaskPage",
                statuses,
                query("provider", enum(PROVIDERS)),
            ),
        },
        "/v1/tasks/{task_id}": {"get": get_one("getTask", "task", "tasks", task_id, "Task")},
        "/v1/tasks/{task_id}/sync": {"post": sync},
    }


def _subscriptions() -> dict[str, Schema]:
    sub_id = path_param("subscription_id", "sub")
    tag = "subscriptions"
    return {
        "/v1/subscriptions": {
            "post": op(
                "createSubscription",
                "Register a webhook",
                tag,
                {
                    "201": answer(
                        "Created; the secret is shown here and on rotation only.",
                        "SubscriptionWithSecret",
                        Location={"type": "string"},
                    ),
                    **common(*BODY),
                },
                requestBody=body("SubscriptionInput"),
            ),
            "get": get_page("listSubscriptions", "Subscriptions", tag, "SubscriptionPage"),
        },
        "/v1/subscriptions/{subscription_id}": {
            "get": get_one("getSubscription", "subscription", tag, sub_id, "Subscription"),
            "patch": op(
                "updateSubscription",
                "Change url, event_types, description or enabled",
                tag,
                {
                    "200": answer("The changed subscription.", "Subscription"),
                    **common("NotFound", *BODY),
                },
                parameters=[sub_id],
                requestBody=body("SubscriptionChange"),
            ),
            "delete": op(
                "deleteSubscription",
                "Remove a subscription; what it was still owed is cancelled",
                tag,
                {"204": {"description": "Removed."}, **common("NotFound")},
                parameters=[sub_id],
            ),
        },
        "/v1/subscriptions/{subscription_id}/rotate-secret": {
            "post": op(
                "rotateSecret",
                "A new secret; the old one keeps signing for 24 hours",
                tag,
                {
                    "200": answer("The subscription and its new secret.", "SubscriptionWithSecret"),
                    **common("NotFound", *BODY),
                },
                parameters=[sub_id],
                requestBody=body("Empty", required=False),
            ),
        },
        "/v1/subscriptions/{subscription_id}/replay": {
            "post": op(
                "replaySubscription",
                "Deliver every matching event in a time window again",
                tag,
                {
                    "202": answer("How many deliveries were enqueued.", "Enqueued"),
                    "409": DISABLED,
                    **common("NotFound", *BODY),
                },
                parameters=[sub_id],
                requestBody=body("ReplayInput"),
            ),
        },
    }


def _log() -> dict[str, Schema]:
    event_id = path_param("event_id", "evt")
    redeliver = op(
        "redeliverEvent",
        "Deliver an event once more",
        "events",
        {
            "202": answer("How many deliveries were enqueued.", "Enqueued"),
            "404": problem("No such event, or no such subscription (/problems/not-found)."),
            "409": DISABLED,
            **common(*BODY),
        },
        parameters=[event_id],
        requestBody=body("RedeliverInput", required=False),
    )
    replay = op(
        "replayCallback",
        "Run reconciliation on a stored callback again",
        "callbacks",
        {
            "200": answer("What reconciliation made of it.", "CallbackReplayed"),
            "404": problem("No such callback, or its task is gone (/problems/not-found)."),
            "409": problem(
                "Its provider is not enabled (/problems/provider-disabled) or the stored body "
                "is not that provider's callback (/problems/bad-callback)."
            ),
            **common(*BODY),
        },
        parameters=[path_param("callback_id", "cb")],
        requestBody=body("Empty", required=False),
    )
    task_filter = query("task_id", ID_FILTER)
    return {
        "/v1/events": {
            "get": get_page(
                "listEvents",
                "The event log",
                "events",
                "EventPage",
                query("type", enum(EVENT_TYPES)),
                task_filter,
            )
        },
        "/v1/events/{event_id}": {"get": get_one("getEvent", "event", "events", event_id, "Event")},
        "/v1/events/{event_id}/redeliver": {"post": redeliver},
        "/v1/deliveries": {
            "get": get_page(
                "listDeliveries",
                "Deliveries",
                "deliveries",
                "DeliveryPage",
                query("subscription_id", ID_FILTER),
                query("event_id", ID_FILTER),
                query("status", enum(DELIVERY_STATUSES)),
            )
        },
        "/v1/deliveries/{delivery_id}": {
            "get": get_one(
                "getDelivery",
                "delivery, with every attempt",
                "deliveries",
                path_param("delivery_id", "dlv"),
                "DeliveryWithAttempts",
            )
        },
        "/v1/callbacks": {
            "get": get_page(
                "listCallbacks",
                "Upstream callbacks as received",
                "callbacks",
                "CallbackPage",
                query("provider", enum(PROVIDERS)),
                task_filter,
            )
        },
        "/v1/callbacks/{callback_id}/replay": {"post": replay},
    }


def _public() -> dict[str, Schema]:
    receive = op(
        "receiveCallback",
        "Where providers call back; the signed token is the credential",
        "public",
        {
            "200": answer(
                "Recorded and reconciled (duplicates and stale reports too).", "CallbackReceived"
            ),
            "400": problem(
                "Not the provider's callback JSON (/problems/bad-callback), or about another "
                "upstream task (/problems/callback-mismatch: recorded, changed nothing)."
            ),
            "404": problem(
                "The token does not verify, has expired or names another provider "
                "(/problems/not-found)."
            ),
            **common("TooLarge"),
        },
        parameters=[
            {"name": "provider", "in": "path", "required": True, "schema": enum(PROVIDERS)},
            {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        requestBody={
            "required": True,
            "description": "The provider's callback JSON, as it sends it.",
            "content": {JSON: {"schema": {"type": "object"}}},
        },
    )
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "/callbacks/{provider}/{token}": {"post": receive},
        "/healthz": {
            "get": public_get("healthz", "Alive", {"200": answer("The process answers.", "Health")})
        },
        "/readyz": {
            "get": public_get(
                "readyz",
                "Ready: database reachable, workers running",
                {
                    "200": answer("Ready.", "Readiness"),
                    "503": answer("Not ready; `checks` says what is wrong.", "Readiness"),
                },
            )
        },
        "/metrics": {
            "get": public_get(
                "metrics",
                "Prometheus metrics",
                {"200": {"description": "Prometheus text exposition format.", "content": text}},
            )
        },
        "/openapi.json": {
            "get": public_get(
                "openapi",
                "This document",
                {
                    "200": {
                        "description": "The OpenAPI 3.1 document.",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    }
                },
            )
        },
    }


def paths() -> dict[str, Schema]:
    return {**_tasks(), **_subscriptions(), **_log(), **_public()}
