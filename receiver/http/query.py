"""List endpoints' query strings: known parameters only, validated, newest-first cursor paging."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from receiver.core.model import FieldError
from receiver.http.io import read_body
from receiver.http.problems import Problem, invalid

ID_PATTERN = re.compile(r"^[a-z]+_[0-9a-z]{26}\Z")  # \Z: `$` would allow a trailing newline
# A check returns an error message, or None when the value is fine.
Check = Callable[[str], str | None]


def one_of(values: tuple[str, ...]) -> Check:
    return lambda value: None if value in values else f"expected one of {', '.join(values)}"


def an_id(value: str) -> str | None:
    return None if ID_PATTERN.match(value) else "expected an id such as task_01j..."


@dataclass(frozen=True, slots=True)
class ListQuery:
    filters: dict[str, str | None]
    limit: int
    after: str | None


def list_query(request: Request, checks: Mapping[str, Check]) -> ListQuery:
    query = request.query_params
    allowed = (*checks, "limit", "after")
    errors = [
        FieldError(name, f"unknown query parameter; allowed: {', '.join(allowed)}")
        for name in query
        if name not in allowed
    ]
    filters: dict[str, str | None] = {}
    for name, check in checks.items():
        value = query.get(name)
        message = check(value) if value is not None else None
        if message:
            errors.append(FieldError(name, message))
        filters[name] = value
    limit_text = query.get("limit", "50")
    limit = int(limit_text) if re.fullmatch(r"[0-9]{1,4}", limit_text) else 0
    if not 1 <= limit <= 200:
        errors.append(FieldError("limit", "expected a whole number from 1 to 200"))
    after = query.get("after")
    if after is not None and not ID_PATTERN.match(after):
        errors.append(FieldError("after", "expected the `next` cursor of a previous page"))
    if errors:
        raise invalid(errors)
    return ListQuery(filters, limit, after)


def page(
    items: list[Any], limit: int, render: Callable[[Any], Any], key: Callable[[Any], str]
) -> dict[str, Any]:
    """`items` was fetched with limit + 1, so one more means there is a next page."""
    shown = items[:limit]
    return {
        "data": [render(i) for i in shown],
        "next": key(shown[-1]) if len(items) > limit else None,
    }


async def read_object(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """A JSON object body; with `optional`, an empty body is an empty object."""
    import orjson

    body = await read_body(request)
    if not body.strip():
        if optional:
            return {}
        raise Problem(400, "malformed-json", "the body is empty; expected a JSON object")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, "malformed-json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise invalid([FieldError("", "expected a JSON object")])
    return value


def reject_unknown(body: Mapping[str, Any], allowed: tuple[str, ...]) -> list[FieldError]:
    return [
        FieldError(key, f"unknown field; allowed: {', '.join(allowed)}")
        for key in body
        if key not in allowed
    ]
