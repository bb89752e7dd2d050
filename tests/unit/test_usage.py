from __future__ import annotations

from typing import Any

import pytest

from idflow.usage import TaskUse, all_task_refs, dynamic_uses, inline_workflows, task_uses


def simple(name: str, ref: str) -> dict[str, Any]:
    return {"name": name, "taskReferenceName": ref}


def deep_workflow() -> dict[str, Any]:
    """A task used only inside a fork, inside a switch, inside a do-while loop."""
    fork = {
        "name": "fork",
        "taskReferenceName": "fork_ref",
        "type": "FORK_JOIN",
        "forkTasks": [
            [simple("left", "left_ref")],
            [simple("other", "other_ref"), simple("deep", "deep_ref")],
        ],
    }
    switch = {
        "name": "switch",
        "taskReferenceName": "switch_ref",
        "type": "SWITCH",
        "evaluatorType": "value-param",
        "expression": "size",
        "decisionCases": {"big": [fork, {"name": "join", "taskReferenceName": "join_ref", "type": "JOIN"}]},
        "defaultCase": [simple("small", "small_ref")],
    }
    loop = {
        "name": "loop",
        "taskReferenceName": "loop_ref",
        "type": "DO_WHILE",
        "loopCondition": "false",
        "loopOver": [switch],
    }
    return {"name": "wf", "version": 3, "tasks": [simple("first", "first_ref"), loop]}


def test_task_deep_inside_fork_switch_loop_is_found_with_location() -> None:
    uses = {u.task_name: u for u in task_uses(deep_workflow())}
    assert uses["deep"] == TaskUse(
        workflow="wf",
        version=3,
        task_name="deep",
        ref="deep_ref",
        location="tasks[1] (loop_ref) > loopOver[0] (switch_ref) > decisionCases.big[0] (fork_ref)"
        " > forkTasks[1][1] (deep_ref)",
    )
    assert uses["small"].location == (
        "tasks[1] (loop_ref) > loopOver[0] (switch_ref) > defaultCase[0] (small_ref)"
    )
    assert uses["first"].location == "tasks[0] (first_ref)"
    assert sorted(uses) == ["deep", "first", "left", "other", "small"]


def test_system_tasks_are_not_uses() -> None:
    types = (
        "HTTP",
        "INLINE",
        "WAIT",
        "TERMINATE",
        "SET_VARIABLE",
        "EVENT",
        "HUMAN",
        "JSON_JQ_TRANSFORM",
        "KAFKA_PUBLISH",
        "NOOP",
        "START_WORKFLOW",
        "JOIN",
    )
    system = [{"name": n, "taskReferenceName": f"{n}_ref", "type": n} for n in types]
    workflow = {"name": "wf", "version": 1, "tasks": [*system, {**simple("worker", "w"), "type": "SIMPLE"}]}
    assert [u.task_name for u in task_uses(workflow)] == ["worker"]


def test_lowercase_simple_type_is_a_use() -> None:
    workflow = {"name": "wf", "version": 1, "tasks": [{**simple("worker", "w"), "type": "simple"}]}
    assert [u.task_name for u in task_uses(workflow)] == ["worker"]


def test_inline_sub_workflow_tasks_are_uses_of_the_outer_workflow() -> None:
    inline = {"name": "inner", "version": 1, "tasks": [simple("inner_task", "inner_ref")]}
    sub = {
        "name": "sub",
        "taskReferenceName": "sub_ref",
        "type": "SUB_WORKFLOW",
        "subWorkflowParam": {"name": "inner", "workflowDefinition": inline},
    }
    workflow = {"name": "outer", "version": 2, "tasks": [simple("a", "a_ref"), sub]}
    uses = task_uses(workflow)
    assert [(u.workflow, u.version, u.task_name) for u in uses] == [
        ("outer", 2, "a"),
        ("outer", 2, "inner_task"),
    ]
    where = "tasks[1] (sub_ref) > subWorkflowParam.workflowDefinition"
    assert uses[1].location == f"{where} > tasks[0] (inner_ref)"
    assert inline_workflows(workflow) == [(inline, where)]


def test_sub_workflow_by_name_is_not_a_task_use() -> None:
    sub = {"name": "sub", "taskReferenceName": "s", "type": "SUB_WORKFLOW", "subWorkflowParam": {"name": "x"}}
    assert task_uses({"name": "wf", "version": 1, "tasks": [sub]}) == []


def test_dynamic_tasks_are_reported_at_any_depth() -> None:
    dynamic = {"name": "d", "taskReferenceName": "dyn_ref", "type": "DYNAMIC", "dynamicTaskNameParam": "t"}
    fork_dynamic = {"name": "fd", "taskReferenceName": "fd_ref", "type": "FORK_JOIN_DYNAMIC"}
    expression_sub = {
        "name": "s",
        "taskReferenceName": "s_ref",
        "type": "SUB_WORKFLOW",
        "subWorkflowParam": {"name": "s", "workflowDefinition": "${workflow.input.def}"},
    }
    loop = {"name": "l", "taskReferenceName": "loop_ref", "type": "DO_WHILE", "loopOver": [dynamic]}
    workflow = {"name": "wf", "version": 1, "tasks": [loop, fork_dynamic, expression_sub]}
    assert dynamic_uses(workflow) == [
        "tasks[0] (loop_ref) > loopOver[0] (dyn_ref)",
        "tasks[1] (fd_ref)",
        "tasks[2] (s_ref) > subWorkflowParam.workflowDefinition",
    ]
    assert task_uses(workflow) == []


def test_all_task_refs_cover_every_depth_but_not_inline_sub_workflows() -> None:
    refs = all_task_refs(deep_workflow())
    assert [r for r, _ in refs] == [
        "first_ref",
        "loop_ref",
        "switch_ref",
        "fork_ref",
        "left_ref",
        "other_ref",
        "deep_ref",
        "join_ref",
        "small_ref",
    ]
    inline = {"name": "i", "tasks": [simple("x", "first_ref")]}
    sub = {
        "name": "s",
        "taskReferenceName": "s",
        "type": "SUB_WORKFLOW",
        "subWorkflowParam": {"workflowDefinition": inline},
    }
    workflow = {"name": "wf", "tasks": [simple("x", "first_ref"), sub]}
    assert all_task_refs(workflow) == [("first_ref", "tasks[0] (first_ref)"), ("s", "tasks[1] (s)")]


@pytest.mark.parametrize(
    "workflow",
    [
        None,
        [],
        "text",
        {},
        {"tasks": None},
        {"tasks": "nope"},
        {"tasks": [None, 3, "x", []]},
        {"name": 5, "version": "x", "tasks": [{"name": None, "taskReferenceName": None}]},
        {
            "tasks": [
                {
                    "name": "a",
                    "decisionCases": None,
                    "defaultCase": "x",
                    "forkTasks": [None, "y", [1]],
                    "loopOver": {"a": 1},
                    "subWorkflowParam": "z",
                }
            ]
        },
        {
            "tasks": [
                {
                    "name": "a",
                    "decisionCases": {"c": None, "d": "x"},
                    "subWorkflowParam": {"workflowDefinition": 7},
                }
            ]
        },
        {"tasks": [{"type": None, "name": ["x"]}, {"type": 3, "name": "b"}]},
    ],
)
def test_malformed_input_never_crashes(workflow: Any) -> None:
    task_uses(workflow)
    dynamic_uses(workflow)
    all_task_refs(workflow)
    inline_workflows(workflow)


def test_malformed_parts_are_skipped_but_good_parts_found() -> None:
    workflow = {
        "name": "wf",
        "version": True,
        "tasks": [
            None,
            {"name": "ok", "taskReferenceName": "ok_ref", "type": None},
            {"name": "", "taskReferenceName": "empty"},
            {"taskReferenceName": "noname"},
            {"name": "sw", "type": "SWITCH", "decisionCases": {"a": [None, simple("inner", "inner_ref")]}},
        ],
    }
    uses = task_uses(workflow)
    assert [(u.task_name, u.version, u.location) for u in uses] == [
        ("ok", 0, "tasks[1] (ok_ref)"),
        ("inner", 0, "tasks[4] > decisionCases.a[1] (inner_ref)"),
    ]
