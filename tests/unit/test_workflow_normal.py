"""Properties of the workflow normal form that need no server (the round trip through a real server is
tests/integration/test_workflow_normal_roundtrip.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from idflow.kinds.workflow_normal import normalise_workflowdef
from tests.integration.test_workflow_normal_roundtrip import nested_definition


def test_normal_form_is_idempotent() -> None:
    definition = nested_definition({"a": "a", "b": "b", "nested": "n", "minimal": "m"})
    once = normalise_workflowdef(definition)
    assert normalise_workflowdef(once) == once
    assert definition == nested_definition({"a": "a", "b": "b", "nested": "n", "minimal": "m"})  # not mutated


def test_server_owned_fields_and_nulls_are_dropped() -> None:
    base = {"name": "w", "version": 1, "tasks": [{"name": "t", "taskReferenceName": "t"}]}
    noisy = {
        **copy.deepcopy(base),
        "createTime": 1,
        "updateTime": 2,
        "createdBy": "x",
        "updatedBy": "y",
        "ownerApp": "z",
        "description": None,
        "ownerEmail": "",
        "timeoutSeconds": None,
        "someNewServerField": {},
    }
    noisy["tasks"][0].update(type=None, description=None, inputParameters=None, newServerList=[])
    assert normalise_workflowdef(noisy) == normalise_workflowdef(base)


def test_values_inside_user_maps_are_kept_exactly() -> None:
    definition = {
        "name": "w",
        "version": 1,
        "tasks": [{"name": "t", "taskReferenceName": "t", "inputParameters": {"a": None, "b": [], "c": {}}}],
    }
    normal = normalise_workflowdef(definition)
    assert normal["tasks"][0]["inputParameters"] == {"a": None, "b": [], "c": {}}


def test_fields_the_server_does_not_keep_are_left_out_and_listed() -> None:
    definition = {
        "name": "w",
        "version": 1,
        "futureField": 3,
        "tasks": [{"name": "t", "taskReferenceName": "t", "callbackFromWorker": True, "cacheConfig": {"key": "k"}}],
    }
    ignored: list[Any] = []
    normal = normalise_workflowdef(definition, ignored)
    assert "futureField" not in normal and "callbackFromWorker" not in normal["tasks"][0]
    assert normal["tasks"][0]["cacheConfig"] == {"key": "k", "ttlInSecond": 0}  # what the server writes back
    assert ignored == [(("futureField",), "WorkflowDef"), (("tasks", 0, "callbackFromWorker"), "WorkflowTask")]


@pytest.mark.parametrize("value", [None, [], "text", 3])
def test_malformed_input_does_not_crash(value: Any) -> None:
    normalise_workflowdef(
        {
            "name": "w",
            "tasks": [
                value,
                {"name": "t", "decisionCases": value, "forkTasks": [value], "subWorkflowParam": value},
            ],
        }
    )


def test_inline_sub_workflows_get_their_names_in_every_kind_of_nested_list() -> None:
    def sub(ref: str) -> dict[str, Any]:
        inline = {"name": f"inline_{ref}", "version": 3, "tasks": [{"name": "t", "taskReferenceName": f"{ref}_t"}]}
        return {"name": ref, "taskReferenceName": ref, "type": "SUB_WORKFLOW",
                "subWorkflowParam": {"name": "written", "workflowDefinition": inline}}  # fmt: skip

    holder = {
        "name": "holder",
        "taskReferenceName": "holder",
        "decisionCases": {"a": [sub("case")]},
        "defaultCase": [sub("default")],
        "forkTasks": [[sub("fork")]],
        "loopOver": [sub("loop")],
    }
    normal = normalise_workflowdef({"name": "w", "version": 1, "tasks": [holder]})
    task = normal["tasks"][0]
    nested = [task["decisionCases"]["a"][0], task["defaultCase"][0], task["forkTasks"][0][0], task["loopOver"][0]]
    assert [(t["subWorkflowParam"]["name"], t["subWorkflowParam"]["version"]) for t in nested] == [
        ("inline_case", 3), ("inline_default", 3), ("inline_fork", 3), ("inline_loop", 3),
    ]  # fmt: skip


def _kitchen_sink() -> dict:
    """A definition using every nesting the model has, shaped like conductor-oss's kitchensink."""
    leaf = {"name": "work", "taskReferenceName": "w", "inputParameters": {"a": "${workflow.input.a}", "n": None}}
    return {
        "name": "sink", "version": 2, "ownerEmail": "team@example.com", "createTime": 1, "inputParameters": ["a"],
        "outputParameters": {"o": "${w.output}"}, "timeoutSeconds": 60, "variables": {"v": [1, {"x": None}]},
        "inputSchema": {"name": "s", "version": 1, "type": "JSON"}, "rateLimitConfig": {"rateLimitKey": "k"},
        "tasks": [
            leaf,
            {"name": "sw", "taskReferenceName": "sw", "type": "SWITCH", "evaluatorType": "value-param",
             "expression": "k", "decisionCases": {"a": [dict(leaf, taskReferenceName="w2")], "b": []},
             "defaultCase": [dict(leaf, taskReferenceName="w3", optional=True)]},
            {"name": "fork", "taskReferenceName": "f", "type": "FORK_JOIN",
             "forkTasks": [[dict(leaf, taskReferenceName="f1")], [dict(leaf, taskReferenceName="f2")]]},
            {"name": "loop", "taskReferenceName": "l", "type": "DO_WHILE", "loopCondition": "false",
             "loopOver": [dict(leaf, taskReferenceName="l1", taskDefinition={"name": "work", "retryCount": 1,
                                                                             "createTime": 3})]},
            {"name": "sub", "taskReferenceName": "s", "type": "SUB_WORKFLOW",
             "subWorkflowParam": {"name": "x", "workflowDefinition": {"name": "inner", "tasks": [leaf]}}},
            {"name": "dyn", "taskReferenceName": "d", "type": "FORK_JOIN_DYNAMIC", "dynamicForkTasksParam": "t",
             "callbackFromWorker": True},
        ],
    }  # fmt: skip


TASK = {"name": "work", "retryCount": 2, "ownerEmail": "team@example.com", "inputKeys": ["a"], "createTime": 3,
        "inputTemplate": {"a": None}, "rateLimitPerFrequency": 0, "runtimeMetadata": {"x": 1}, "version": 4,
        "inputSchema": {"name": "s", "type": "JSON", "data": {}}, "description": ""}  # fmt: skip


def _variants(struct, base):
    """``base``, and ``base`` with each of its modelled fields, at any depth, set to each kind of value."""
    import copy

    from idflow.kinds.normal import model_values

    yield base
    for path, _struct, _value in list(model_values(struct, base)):
        for value in (None, "", [], {}, "text", 7, True, 1.5, [None], {"x": 1}, [{"name": "t"}]):
            changed = copy.deepcopy(base)
            node = changed
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
            yield changed


def test_the_compiled_normal_form_is_the_rule_by_rule_one():
    """Server answers take the compiled path (no ``ignored`` list), files the rule-by-rule one: both
    must give the same body for every shape, or a file and its server copy would never converge."""
    from idflow.kinds.normal import TASKDEF_NOT_SETTABLE, normalise_struct
    from idflow.kinds.server_model import TASK_DEF, WORKFLOW_DEF
    from idflow.plan.frozen import freeze

    workflows = list(_variants(WORKFLOW_DEF, _kitchen_sink()))
    tasks = list(_variants(TASK_DEF, TASK))
    assert len(workflows) > 300 and len(tasks) > 100
    rule_by_rule = _rule_by_rule_normal_form()
    for variant in workflows:
        found: list = []
        expected: list = []
        assert normalise_struct(WORKFLOW_DEF, variant) == rule_by_rule(WORKFLOW_DEF, variant, ignored=[]), variant
        assert normalise_struct(WORKFLOW_DEF, variant, ignored=found) == rule_by_rule(WORKFLOW_DEF, variant,
                                                                                   ignored=expected)  # fmt: skip
        assert found == expected, variant
    assert any(_found(variant) for variant in workflows)  # the base has fields the server drops
    for variant in map(freeze, workflows[:20]):  # a planned (frozen) body is a dict to both
        assert normalise_struct(WORKFLOW_DEF, variant) == rule_by_rule(WORKFLOW_DEF, variant, ignored=[]), variant
    skip = TASKDEF_NOT_SETTABLE | {"name"}
    for variant in tasks:
        found, expected = [], []
        assert normalise_struct(TASK_DEF, variant, skip=skip, ignored=found) == rule_by_rule(
            TASK_DEF, variant, ignored=expected, skip=skip
        ), variant
        assert found == expected, variant


def _found(variant) -> list:
    from idflow.kinds.normal import normalise_struct
    from idflow.kinds.server_model import WORKFLOW_DEF

    found: list = []
    normalise_struct(WORKFLOW_DEF, variant, ignored=found)
    return found


def _rule_by_rule_normal_form():
    """``normalise_struct``'s rules applied one by one (its path argument keeps it off the compiled form)."""
    from idflow.kinds.normal import normalise_struct

    def normal(struct, value, *, ignored, skip=frozenset()):
        if not isinstance(value, dict):
            return normalise_struct(struct, value, ignored=ignored, path=("-",), skip=skip)
        found: list = []
        result = normalise_struct(struct, value, ignored=found, path=("-",), skip=skip)
        ignored.extend((where[1:], name) for where, name in found)
        return result

    return normal


def test_the_minimal_form_leaves_out_every_default_and_normalises_back():
    """What plan files store for a no-op and what `import` writes: no field at its default, at any depth,
    model fields in the model's order, the same from a frozen body, and normalising it gives the body."""
    from idflow.adopt.minimal import minimal
    from idflow.kinds.normal import TASKDEF_NOT_SETTABLE, model_values, normalise_struct
    from idflow.kinds.server_model import MODEL, TASK_DEF, WORKFLOW_DEF
    from idflow.kinds.workflow_normal import normalise_workflowdef
    from idflow.plan.frozen import freeze, thaw

    skip = TASKDEF_NOT_SETTABLE | {"name"}
    task = {"name": TASK["name"], **normalise_struct(TASK_DEF, TASK, skip=skip)}
    for struct, body, normal in ((WORKFLOW_DEF, normalise_workflowdef(_kitchen_sink()), normalise_workflowdef),
                                 (TASK_DEF, task, lambda b: {"name": b["name"],
                                                             **normalise_struct(TASK_DEF, b, skip=skip)})):  # fmt: skip
        short = minimal(struct, body)
        assert thaw(minimal(struct, freeze(body))) == short  # free-form values stay as they are (frozen)
        assert normal(short) == body
        kept = list(model_values(struct, short))
        assert kept and len(kept) < len(list(model_values(struct, body)))
        for path, name, value in kept:
            field = MODEL[name].fields[path[-1]]
            assert value is not None and not (field.has_default and value == field.default), (path, value)
        assert [k for k in short if k in struct.fields] == [k for k in struct.fields if k in short]
