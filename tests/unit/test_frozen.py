"""Frozen bodies: read-only at every depth, written and hashed as they are, frozen once."""

import copy
import json
import pickle

import pytest

from idflow.kinds.normal import canonical_json
from idflow.plan.frozen import FrozenDict, FrozenList, freeze, is_frozen, thaw

BODY = {"name": "w", "version": 1, "tasks": [{"name": "t", "inputParameters": {"a": [1, 1.0, True, None]}}],
        "decisionCases": {"x": []}, "ratio": 0.5}  # fmt: skip


def test_every_level_is_read_only():
    frozen = freeze(BODY)
    task = frozen["tasks"][0]
    for attempt in (lambda: frozen.__setitem__("name", "x"), lambda: frozen.update(name="x"),
                    lambda: frozen.pop("name"), lambda: frozen.setdefault("new", 1), frozen.clear,
                    lambda: task.__setitem__("name", "x"), task.popitem):  # fmt: skip
        with pytest.raises(TypeError):
            attempt()
    with pytest.raises(AttributeError):
        frozen["tasks"].append({})  # type: ignore[attr-defined]
    assert thaw(frozen) == BODY and BODY["tasks"][0]["name"] == "t"


def test_json_of_a_frozen_body_is_the_plain_body_s():
    frozen = freeze(BODY)
    assert json.dumps(frozen) == json.dumps(BODY)
    assert canonical_json(frozen) == canonical_json(BODY)


def test_freezing_a_frozen_body_is_the_body_itself_and_thaw_copies():
    frozen = freeze(BODY)
    assert freeze(frozen) is frozen and is_frozen(frozen) and is_frozen(frozen["tasks"])
    assert type(frozen["tasks"]) is FrozenList and type(frozen["tasks"][0]) is FrozenDict
    plain = thaw(frozen)
    assert plain == BODY and type(plain["tasks"]) is list and type(plain["tasks"][0]) is dict
    plain["tasks"][0]["name"] = "changed"
    assert frozen["tasks"][0]["name"] == "t"
    assert not is_frozen(plain) and not is_frozen("text")


def test_copies_and_pickles_keep_the_frozen_body():
    frozen = freeze(BODY)
    assert copy.deepcopy(frozen) is frozen and copy.copy(frozen) is frozen
    again = pickle.loads(pickle.dumps(frozen))
    assert again == frozen and type(again) is FrozenDict
