"""No body, however strange, makes input handling raise: bad input is an answer, not a crash."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver.core.model import FieldError
from receiver.http.task_input import TaskInput, parse_task_input
from receiver.providers import make_adapter

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
task_like = st.fixed_dictionaries(
    {},
    optional={
        "prompt": json_values | st.text(max_size=5000),
        "provider": json_values | st.sampled_from(["apimall", "apipod", "dreamcore", "revidapi"]),
        "aspect_ratio": json_values | st.sampled_from(["1:1", "21:9", "5:4"]),
        "quality": json_values | st.sampled_from(["2K", "4K", "8K"]),
        "image_urls": json_values | st.lists(st.text(max_size=30), max_size=12),
        "metadata": json_values,
    },
)
ADAPTERS = {
    name: make_adapter(name, f"http://127.0.0.1:1/{name}", "key")
    for name in ("apimall", "apipod", "dreamcore", "revidapi")
}


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, task_like))
def test_task_input_is_either_valid_or_a_list_of_field_errors(body: Any) -> None:
    result = parse_task_input(body, ADAPTERS, "revidapi")
    assert isinstance(result, TaskInput) or (
        isinstance(result, list) and result and all(isinstance(e, FieldError) for e in result)
    )


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values.map(orjson.dumps), st.binary(max_size=200)))
def test_a_callback_body_is_parsed_or_refused_with_value_error(body: bytes) -> None:
    try:
        ADAPTERS["revidapi"].parse_callback(body)
    except ValueError:
        pass
