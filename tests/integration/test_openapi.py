"""The OpenAPI document: valid, complete, and what the live service actually does.

The route check ties the document to the app's route table in both directions.
The schemathesis run sends generated requests (valid and invalid) to every
operation of a live service over loopback, with real ids mixed in so the
by-id operations answer more than 404, and checks every answer: never a 5xx,
a documented status, the documented content type, headers and body schema,
and invalid requests refused. Generated subscription URLs that would be
accepted are pointed at a local sink first, so no delivery leaves the machine.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route
from support import TOKEN, Harness, running, subscriber

from receiver.delivery.addresses import check_url_shape
from receiver.http.openapi import document

Operation = APIOperation[Any, Any, Any, Any]
METHODS = {"get", "put", "post", "patch", "delete", "options", "head", "trace"}
# Through schemathesis, so its negative cases can leave the token out (and expect 401).
AUTH = {"auth": {"openapi": {"bearerAuth": {"bearer": TOKEN}}}}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Cases per operation (positive, negative and seeded together): about 10 s for all 23.
EXAMPLES = 25


def documented_operations(doc: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in doc["paths"].items()
        for method in item
        if method in METHODS
    }


def served_operations(h: Harness) -> set[tuple[str, str]]:
    return {
        (route.path, method)
        for route in h.app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"  # Starlette adds HEAD to every GET
    }


async def test_the_document_is_served_valid_and_covers_every_route(tmp_path: Path) -> None:
    doc = document()
    validate(doc)  # OpenAPI 3.1, including every schema under components
    async with running(tmp_path) as h:
        response = await h.api.get("/openapi.json", headers={"authorization": ""})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.json() == doc
        assert served_operations(h) == documented_operations(doc)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            public = operation.get("security") == []
            assert public != path.startswith("/v1/"), f"{method} {path}: bearerAuth on /v1 only"
            assert ("401" in operation["responses"]) == (not public), f"{method} {path}"


async def test_a_method_not_served_is_405_naming_every_method_that_is(tmp_path: Path) -> None:
    # Starlette named only the first route matching the path (Allow: POST on /v1/tasks).
    doc = document()
    async with running(tmp_path) as h:
        for path in doc["paths"]:
            served = {m for p, m in documented_operations(doc) if p == path}
            served |= {"HEAD"} if "GET" in served else set()
            response = await h.api.put(re.sub(r"\{[a-z_]+\}", "x", path))
            assert response.status_code == 405, (path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert set(response.headers["allow"].split(", ")) == served, path


async def _seed(h: Harness, sink: str) -> dict[str, list[str]]:
    """Real ids for the path parameters: a subscription, a finished revidapi task (with its
    callback, events and deliveries), a pending apipod task, and a genuine callback token."""
    sub = await h.subscribe(sink, description="seed")
    done = await h.create(prompt="a lighthouse at dusk", provider="revidapi", metadata={"n": 1})
    await h.wait_status(done["id"], "pending")
    h.clock.advance(10)  # past the simulated render time: revidapi calls back
    await h.wait_status(done["id"], "completed")
    pending = await h.create(prompt="a red fox", provider="apipod")
    await h.wait_status(pending["id"], "pending")
    events = (await h.api.get("/v1/events")).json()["data"]
    callbacks = (await h.api.get("/v1/callbacks")).json()["data"]
    deliveries = await h.deliveries()
    assert events and callbacks and deliveries
    token = h.runtime.callback_url(done["id"], "revidapi").rsplit("/", 1)[1]
    return {
        "task_id": [done["id"], pending["id"]],
        "subscription_id": [sub["id"]],
        "event_id": [e["id"] for e in events[:2]],
        "delivery_id": [deliveries[0]["id"]],
        "callback_id": [callbacks[0]["id"]],
        "token": [token],
    }


def _to_sink(sink: str) -> Callable[[Case[Any]], Case[Any]]:
    """Point a body's acceptable `url` at the sink, keeping its scheme, path and query."""
    netloc = urlsplit(sink).netloc

    def rewrite(case: Case[Any]) -> Case[Any]:
        body = case.body
        if isinstance(body, dict):
            url = body.get("url")
            if isinstance(url, str) and check_url_shape(url) is None:
                body["url"] = urlsplit(url)._replace(netloc=netloc).geturl()
        return case

    return rewrite


def _strategy(
    operation: Operation, seeds: Mapping[str, list[str]], sink: str
) -> st.SearchStrategy[Case[Any]]:
    """Positive and negative cases, and positive ones whose path names a real resource."""
    strategies = [operation.as_strategy(mode) for mode in GenerationMode]
    names = [p.name for p in operation.path_parameters]
    if names and all(name in seeds or name == "provider" for name in names):
        choices = [seeds.get(name, ["revidapi"]) for name in names]
        for values in itertools.product(*choices):
            fixed = dict(zip(names, values, strict=True))
            strategies.append(operation.as_strategy(path_parameters=fixed))
    return st.one_of(strategies).map(_to_sink(sink))


def _fuzz(base_url: str, seeds: Mapping[str, list[str]], sink: str) -> tuple[list[str], int]:
    """Every operation (DELETE last, so the others still see the seeded subscription):
    the failures, one message per operation, and how many requests were sent."""
    doc = document()
    schema = schemathesis.openapi.from_dict(doc, config=schemathesis.Config.from_dict(AUTH))
    operations = [
        schema[path][method] for path, method in sorted(documented_operations(doc), key=_order)
    ]
    failures: list[str] = []
    sent = itertools.count()
    with requests.Session() as session:
        for operation in operations:

            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=_strategy(operation, seeds, sink))
            def check(case: Case[Any]) -> None:
                next(sent)
                case.call_and_validate(
                    base_url=base_url, session=session, checks=CHECKS, timeout=10
                )

            try:
                check()
            except (Exception, FailureGroup) as exc:  # a FailureGroup is no Exception
                notes = "\n".join(getattr(exc, "__notes__", []))
                failures.append(f"{operation.label}: {exc}\n{notes}")
    return failures, next(sent)


def _order(operation: tuple[str, str]) -> tuple[bool, str, str]:
    path, method = operation
    return method == "DELETE", path, method


async def test_the_live_service_conforms_to_its_document(tmp_path: Path) -> None:
    async with running(tmp_path) as h, subscriber() as sink:
        seeds = await _seed(h, sink.url)
        started = time.monotonic()
        failures, sent = await asyncio.to_thread(_fuzz, h.url, seeds, sink.url)
        elapsed = time.monotonic() - started
        subscriptions = (await h.api.get("/v1/subscriptions", params={"limit": 200})).json()
    hosts = {urlsplit(s["url"]).netloc for s in subscriptions["data"]}
    assert hosts <= {urlsplit(sink.url).netloc}, "every subscription made points at the sink"
    assert not failures, "\n\n".join(failures)
    # Operations without parameters or a body have a single case; the rest have EXAMPLES.
    assert sent > 18 * EXAMPLES, f"only {sent} requests in {elapsed:.1f} s"
    assert sink.received, "deliveries were made"
