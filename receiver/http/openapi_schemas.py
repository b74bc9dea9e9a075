"""The JSON Schemas of the OpenAPI document (`components.schemas`), built from the code's constants.

Request bodies say `additionalProperties: false` because the handlers refuse
unknown fields (422); answers say it too, so the document cannot silently
fall behind a handler that starts sending more. The one open shape is the
problem document, which may carry extra members (RFC 9457).
"""

from __future__ import annotations

from typing import Any

from receiver.core.model import EVENT_TYPES, PROVIDERS, QUALITIES, Status
from receiver.core.reconcile import Verdict
from receiver.http.events import DELIVERY_STATUSES
from receiver.http.subscriptions import DESCRIPTION_MAX
from receiver.http.task_input import METADATA_DEPTH, METADATA_MAX, PROMPT_MAX, URL_MAX
from receiver.providers import ADAPTER_CLASSES

Schema = dict[str, Any]

ID = "^[a-z]+_[0-9a-z]{26}$"
ASPECT_RATIOS = list(
    dict.fromkeys(r for cls in ADAPTER_CLASSES.values() for r in cls.limits.aspect_ratios)
)
MAX_IMAGE_URLS = max(cls.limits.max_image_urls for cls in ADAPTER_CLASSES.values())


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """`schema` or null: a `type` list where there is a type, else anyOf."""
    if "type" in schema and "$ref" not in schema:
        kind = schema["type"]
        return {**schema, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def closed(properties: Schema, required: list[str] | None = None, **extra: Any) -> Schema:
    """An object with exactly these properties (all required unless `required` says otherwise)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
        **extra,
    }


def an_id(prefix: str) -> Schema:
    return {"type": "string", "pattern": f"^{prefix}_[0-9a-z]{{26}}$"}


TIME: Schema = {"type": "string", "format": "date-time"}
EVENT_TYPE: Schema = {"type": "string", "enum": list(EVENT_TYPES)}
EVENT_TYPE_LIST: Schema = {
    "type": ["array", "null"],
    "items": EVENT_TYPE,
    "minItems": 1,
    "description": "Event types to include; null or absent means every type.",
}
VERDICT: Schema = {"type": "string", "enum": [v.value for v in Verdict]}


def _task() -> Schema:
    return closed(
        {
            "id": an_id("task"),
            "provider": {"type": "string", "enum": list(PROVIDERS)},
            "provider_task_id": {"type": ["string", "null"]},
            "status": {"type": "string", "enum": [s.value for s in Status]},
            "mode": {"type": "string", "enum": ["callback", "poll"]},
            "prompt": {"type": "string"},
            "aspect_ratio": {"type": "string"},
            "quality": {"type": "string"},
            "image_urls": {"type": "array", "items": {"type": "string"}},
            "result_urls": {"type": "array", "items": {"type": "string"}},
            "error": nullable(ref("TaskError")),
            "metadata": {"type": ["object", "null"]},
            "created_at": TIME,
            "updated_at": TIME,
            "completed_at": nullable(TIME),
        }
    )


def _provider_limits() -> Schema:
    """What each provider accepts, as a vendor extension: as `if`/`then` rules in the schema
    they made generating examples (schemathesis, hypothesis) several times slower."""
    return {
        name: {
            "prompt_max": cls.limits.prompt_max,
            "aspect_ratios": list(cls.limits.aspect_ratios),
            "qualities": list(cls.limits.qualities),
            "max_image_urls": cls.limits.max_image_urls if cls.limits.supports_edit else 0,
        }
        for name, cls in ADAPTER_CLASSES.items()
    }


def _task_input() -> Schema:
    return closed(
        {
            "prompt": {
                "type": "string",
                "minLength": 1,
                "maxLength": PROMPT_MAX,
                "pattern": "\\S",
                "description": "Not blank. Providers cap it lower: apipod 4000, revidapi 3000, "
                "dreamcore 1500 characters.",
            },
            "provider": {
                "type": "string",
                "enum": list(PROVIDERS),
                "description": "One of the providers enabled on this service; "
                "RECEIVER_DEFAULT_PROVIDER when absent.",
            },
            "aspect_ratio": {
                "type": "string",
                "enum": ASPECT_RATIOS,
                "default": "1:1",
                "description": "Each provider accepts a subset (dreamcore: no 2:3, 3:2, 21:9).",
            },
            "quality": {"type": "string", "enum": list(QUALITIES), "default": "2K"},
            "image_urls": {
                "type": ["array", "null"],
                "items": {"type": "string", "format": "uri", "maxLength": URL_MAX},
                "maxItems": MAX_IMAGE_URLS,
                "description": "http(s) URLs of reference images: makes the task an edit "
                "(apipod supports none).",
            },
            "metadata": {
                "type": ["object", "null"],
                "description": f"Echoed back on the task; at most {METADATA_MAX} bytes of JSON "
                f"and {METADATA_DEPTH} levels of nesting.",
            },
        },
        required=["prompt"],
        description="A task is validated against its provider's limits "
        "(x-provider-limits; prompt_max null: none but our own) before anything is sent.",
        **{"x-provider-limits": _provider_limits()},
    )


_SUBSCRIPTION: Schema = {
    "id": an_id("sub"),
    "url": {"type": "string"},
    "event_types": {"type": ["array", "null"], "items": EVENT_TYPE},
    "description": {"type": ["string", "null"]},
    "enabled": {"type": "boolean"},
    "disabled_reason": {"type": ["string", "null"]},
    "failing_since": nullable(TIME),
    "created_at": TIME,
    "updated_at": TIME,
}
_SECRET: Schema = {
    "secret": {
        "type": "string",
        "pattern": "^whsec_[A-Za-z0-9+/]+={0,2}$",
        "description": "whsec_ + base64 of 32 random bytes; shown only here.",
    },
    "previous_secret_expires_at": nullable(TIME),
}
_SUBSCRIPTION_URL: Schema = {
    "type": "string",
    "maxLength": 2048,
    "format": "uri",
    "description": "http:// or https://; private and loopback destinations are refused "
    "unless RECEIVER_ALLOW_PRIVATE_URLS=true.",
}
_DESCRIPTION: Schema = {"type": ["string", "null"], "maxLength": DESCRIPTION_MAX}

_DELIVERY: Schema = {
    "id": an_id("dlv"),
    "event_id": an_id("evt"),
    "subscription_id": an_id("sub"),
    "status": {"type": "string", "enum": list(DELIVERY_STATUSES)},
    "origin": {"type": "string", "enum": ["event", "redeliver", "replay"]},
    "attempt_count": {"type": "integer", "minimum": 0},
    "next_attempt_at": nullable(TIME),
    "last_status_code": {"type": ["integer", "null"]},
    "last_error": {"type": ["string", "null"]},
    "created_at": TIME,
    "updated_at": TIME,
}


def page_of(item: str) -> Schema:
    return closed(
        {
            "data": {"type": "array", "items": ref(item)},
            "next": {
                "type": ["string", "null"],
                "pattern": ID,
                "description": "Pass as `after` for the next page; null on the last.",
            },
        }
    )


def schemas() -> dict[str, Schema]:
    return {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details; may carry extra members.",
            "properties": {
                "type": {"type": "string", "pattern": "^/problems/[a-z0-9-]+$"},
                "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": {"type": "string"},
                "errors": {"type": "array", "items": ref("FieldError"), "minItems": 1},
            },
            "required": ["type", "title", "status", "detail"],
            "additionalProperties": True,
        },
        "FieldError": closed({"field": {"type": "string"}, "message": {"type": "string"}}),
        "TaskError": closed({"code": {"type": "string"}, "message": {"type": "string"}}),
        "Task": _task(),
        "TaskInput": _task_input(),
        "TaskPage": page_of("Task"),
        "Subscription": closed(_SUBSCRIPTION),
        "SubscriptionWithSecret": closed({**_SUBSCRIPTION, **_SECRET}),
        "SubscriptionPage": page_of("Subscription"),
        "SubscriptionInput": closed(
            {"url": _SUBSCRIPTION_URL, "event_types": EVENT_TYPE_LIST, "description": _DESCRIPTION},
            required=["url"],
        ),
        "SubscriptionChange": closed(
            {
                "url": _SUBSCRIPTION_URL,
                "event_types": EVENT_TYPE_LIST,
                "description": _DESCRIPTION,
                "enabled": {"type": "boolean"},
            },
            required=[],
            minProperties=1,
        ),
        "ReplayInput": closed(
            {
                "since": {**TIME, "description": "RFC 3339 with an offset."},
                "until": {
                    **nullable(TIME),
                    "description": "Later than since; absent or null: no upper bound.",
                },
                "event_types": EVENT_TYPE_LIST,
            },
            required=["since"],
        ),
        "RedeliverInput": closed(
            {
                "subscription_id": {
                    "type": ["string", "null"],
                    "pattern": ID,
                    "description": "Only this (enabled) subscription; absent or null: every "
                    "enabled subscription that wants the event's type.",
                }
            },
            required=[],
        ),
        "Empty": closed({}, description="No fields: an empty object, or no body at all."),
        "Enqueued": closed({"enqueued": {"type": "integer", "minimum": 0}}),
        "Event": closed(
            {
                "id": an_id("evt"),
                "type": EVENT_TYPE,
                "created_at": TIME,
                "sequence": {"type": "integer", "minimum": 1},
                "data": closed({"task": ref("Task")}),
            }
        ),
        "EventPage": page_of("Event"),
        "Attempt": closed(
            {
                "attempted_at": TIME,
                "duration_ms": {"type": "number", "minimum": 0},
                "status_code": {"type": ["integer", "null"]},
                "response_body": {
                    "type": ["string", "null"],
                    "description": "The first KiB of the answer.",
                },
                "error": {"type": ["string", "null"]},
            }
        ),
        "Delivery": closed(_DELIVERY),
        "DeliveryWithAttempts": closed(
            {**_DELIVERY, "attempts": {"type": "array", "items": ref("Attempt")}}
        ),
        "DeliveryPage": page_of("Delivery"),
        "StoredCallback": closed(
            {
                "id": an_id("cb"),
                "provider": {"type": "string", "enum": list(PROVIDERS)},
                "task_id": an_id("task"),
                "received_at": TIME,
                "verdict": VERDICT,
                "body": {
                    "description": "The body as received: its JSON, or its text when it is not "
                    "JSON or is nested too deeply to answer as JSON."
                },
            }
        ),
        "CallbackPage": page_of("StoredCallback"),
        "CallbackReplayed": closed(
            {"callback_id": an_id("cb"), "outcome": VERDICT, "task": ref("Task")}
        ),
        "CallbackReceived": closed(
            {"received": {"const": True}, "callback_id": an_id("cb"), "outcome": VERDICT}
        ),
        "Health": closed({"status": {"const": "ok"}}),
        "Readiness": closed(
            {
                "status": {"type": "string", "enum": ["ready", "not ready"]},
                "checks": closed(
                    {"database": {"type": "string"}, "workers": {"type": "string"}},
                    description='Each "ok", or what is wrong.',
                ),
            }
        ),
    }
