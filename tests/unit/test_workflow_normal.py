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
