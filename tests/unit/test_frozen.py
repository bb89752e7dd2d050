"""Frozen bodies: read-only at every depth, written and hashed as they are, frozen once."""

import copy
import json
import pickle

import pytest

from idflow.kinds.normal import canonical_json
from idflow.plan.frozen import FrozenDict, FrozenList, canonical, freeze, is_frozen, thaw

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


def test_the_canonical_json_of_a_frozen_body_is_made_once(monkeypatch):
    import idflow.plan.frozen as frozen_module

    frozen, calls = freeze(BODY), []
    monkeypatch.setattr(frozen_module, "canonical_json", lambda v: calls.append(v) or canonical_json(v))
    assert canonical(frozen) == canonical(frozen) == canonical_json(BODY)
    assert len(calls) == 1  # kept on the body: it cannot change
    assert canonical(BODY) == canonical_json(BODY) and len(calls) == 2  # a plain dict can: made every time
    assert canonical(frozen["tasks"]) == canonical_json(BODY["tasks"])
    assert pickle.loads(pickle.dumps(frozen)) == frozen


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


def test_a_no_op_holds_one_frozen_body_in_the_plan_and_after_a_plan_file_round_trip(tmp_path):
    from factories import actual, desired, plan_of, simple, workflow

    from idflow.plan.file import read_plan, write_plan
    from idflow.plan.model import Action

    wf = workflow("w", 1, [simple("t")])
    plan = plan_of(desired({"name": "t"}, workflows=[wf]), actual({"name": "t"}, workflows=[wf]))
    noops = [c for c in plan.changes if c.action is Action.NOOP]
    assert noops
    for change in noops:
        assert change.before is change.after and is_frozen(change.before)
    path = write_plan(plan, tmp_path / "plan.json", key=None)
    again, _applied = read_plan(path, key=None)
    read_noops = [c for c in again.changes if c.action is Action.NOOP]
    assert len(read_noops) == len(noops)
    for change in read_noops:
        assert change.before is change.after and is_frozen(change.before)
    assert [thaw(c.before) for c in again.changes] == [thaw(c.before) for c in plan.changes]
