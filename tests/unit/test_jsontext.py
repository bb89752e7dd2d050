"""idflow.jsontext gives the standard library's canonical JSON text exactly, on every value, not only on
the easy ones orjson writes the same way."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idflow import jsontext
from idflow.plan.frozen import freeze


def stdlib_canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


leaves = (
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats()  # NaN, the infinities, subnormals, -0.0
    | st.floats(min_value=-1e-3, max_value=1e-3)
    | st.floats(min_value=1e15, max_value=1e17)
    | st.text()  # lone surrogates and control characters included
    | st.dates()
)
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=2000, deadline=None)
@given(json_values)
def test_canonical_is_the_standard_librarys_text(value):
    assert jsontext.canonical(value) == stdlib_canonical(value)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_of_a_frozen_value_is_that_of_the_plain_one(value):
    assert jsontext.canonical(freeze(value)) == stdlib_canonical(value)


@pytest.mark.parametrize(
    "value",
    [
        1e-05, 1e16, 1.5e-7, 0.0001, 1e22, float("nan"), float("inf"), -float("inf"), -0.0,
        2**64, -(2**63) - 1, "\ud800", {"a": None}, {1: "int key"}, {"b": 1, "a": [1.0, 2]},
        {"when": dt.datetime(2026, 12, 2, 1, 2, 3)}, {"tuple": (1, 2)}, {"set": {3}}, "é\u2028\x00\x7f",
    ],
)  # fmt: skip
def test_canonical_on_each_place_where_orjson_differs(value):
    assert jsontext.canonical(value) == stdlib_canonical(value)


def test_canonical_is_fast_where_nothing_differs():
    """The plain case, plain or frozen, takes orjson's text: the standard library's, not from its fallback."""
    value = {"name": "t", "retryCount": 3, "inputKeys": ["a", "é"], "rate": 0.5, "nested": [{"x": True}]}
    calls = []
    original = jsontext._canonical
    jsontext._canonical = lambda v: calls.append(v) or original(v)
    try:
        assert jsontext.canonical(value) == stdlib_canonical(value)
        assert jsontext.canonical(freeze(value)) == stdlib_canonical(value)
    finally:
        jsontext._canonical = original
    assert calls == []
