"""A workflow definition the server stored and returned normalises to the same form as the local one.

Properties of the normal form that need no server are pinned in tests/unit/test_workflow_normal.py.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from idflow.config import load_config
from idflow.kinds.workflow_normal import normalise_workflowdef
from idflow.repo.workflow_files import load_workflows
from idflow.server.client import ConductorRemote


@pytest.fixture
def remote(conductor_url: str, tmp_path: Path) -> ConductorRemote:
    config = load_config(cwd=tmp_path, environ={"CONDUCTOR_SERVER_URL": conductor_url})
    return ConductorRemote(config)


@pytest.fixture
def names(remote: ConductorRemote, unique: str) -> Iterator[dict[str, str]]:
    """Unique task def names (registered) and workflow names; everything is deleted afterwards."""
    made = {
        "a": f"{unique}_task_a",
        "b": f"{unique}_task_b",
        "nested": f"{unique}_nested",
        "minimal": f"{unique}_minimal",
        "yaml": f"{unique}_from_yaml",
    }
    remote.create_task_defs(
        [
            {"name": made["a"], "ownerEmail": "idflow@example.com"},
            {"name": made["b"], "ownerEmail": "idflow@example.com"},
        ]
    )
    try:
        yield made
    finally:
        for workflow in remote.list_workflow_defs():
            if str(workflow.get("name", "")).startswith(unique):
                remote.delete_workflow_def(workflow["name"], workflow["version"])
        remote.delete_task_def(made["a"])
        remote.delete_task_def(made["b"])


def simple(name: str, ref: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "taskReferenceName": ref, **extra}


def nested_definition(n: dict[str, str]) -> dict[str, Any]:
    a, b = n["a"], n["b"]
    fork = {
        "name": "fork",
        "taskReferenceName": "fork_ref",
        "type": "FORK_JOIN",
        "forkTasks": [
            [simple(a, "fork_a", inputParameters={"id": "${workflow.input.id}"})],
            [simple(b, "fork_b", optional=True), simple(a, "fork_a2", startDelay=5)],
        ],
    }
    switch = {
        "name": "switch",
        "taskReferenceName": "switch_ref",
        "type": "SWITCH",
        "evaluatorType": "value-param",
        "expression": "size",
        "inputParameters": {"size": "${workflow.input.size}"},
        "decisionCases": {
            "big": [
                fork,
                {
                    "name": "join",
                    "taskReferenceName": "join_ref",
                    "type": "JOIN",
                    "joinOn": ["fork_a", "fork_a2"],
                },
            ],
            "none": [
                {
                    "name": "stop",
                    "taskReferenceName": "stop_ref",
                    "type": "TERMINATE",
                    "inputParameters": {"terminationStatus": "COMPLETED"},
                }
            ],
        },
        "defaultCase": [simple(b, "small_b", retryCount=1, description="small path")],
    }
    loop = {
        "name": "loop",
        "taskReferenceName": "loop_ref",
        "type": "DO_WHILE",
        "loopCondition": "if ($.loop_ref['iteration'] < 2) { true; } else { false; }",
        "inputParameters": {},
        "loopOver": [switch],
    }
    inline_sub = {
        "name": "inline_sub",
        "taskReferenceName": "inline_sub_ref",
        "type": "SUB_WORKFLOW",
        "subWorkflowParam": {
            "name": "inline_child",
            "workflowDefinition": {
                "name": "inline_child",
                "tasks": [
                    simple(a, "child_a"),
                    {"name": "wait", "taskReferenceName": "wait_ref", "type": "WAIT"},
                ],
                "outputParameters": {"x": "${child_a.output.x}"},
            },
        },
    }
    named_sub = {
        "name": "named_sub",
        "taskReferenceName": "named_sub_ref",
        "type": "SUB_WORKFLOW",
        "subWorkflowParam": {"name": n["minimal"], "version": 1},
    }
    return {
        "name": n["nested"],
        "version": 3,
        "description": "nested switch, fork, loop and sub-workflows",
        "ownerEmail": "idflow@example.com",
        "inputParameters": ["id", "size"],
        "outputParameters": {"result": "${loop_ref.output}", "child": "${inline_sub_ref.output.x}"},
        "timeoutPolicy": "TIME_OUT_WF",
        "timeoutSeconds": 600,
        "variables": {"seen": 0},
        "inputTemplate": {"size": "small"},
        "failureWorkflow": n["minimal"],
        "restartable": False,
        "tasks": [
            simple(a, "first_a", inputParameters={"nothing": None, "list": [1, {"k": "v"}]}),
            loop,
            inline_sub,
            named_sub,
            {
                "name": "dyn",
                "taskReferenceName": "dyn_ref",
                "type": "DYNAMIC",
                "dynamicTaskNameParam": "task",
                "inputParameters": {"task": a},
            },
            {
                "name": "http",
                "taskReferenceName": "http_ref",
                "type": "HTTP",
                "inputParameters": {"http_request": {"uri": "http://localhost/x", "method": "GET"}},
            },
            {
                "name": "inline",
                "taskReferenceName": "inline_ref",
                "type": "INLINE",
                "inputParameters": {
                    "evaluatorType": "graaljs",
                    "expression": "(function () { return 1; })();",
                },
            },
            {
                "name": "setvar",
                "taskReferenceName": "setvar_ref",
                "type": "SET_VARIABLE",
                "inputParameters": {"seen": 1},
            },
        ],
    }


def minimal_definition(n: dict[str, str]) -> dict[str, Any]:
    return {"name": n["minimal"], "version": 1, "tasks": [simple(n["b"], "only_b")]}


def read_back(remote: ConductorRemote, definition: dict[str, Any]) -> dict[str, Any]:
    found = remote.get_workflow_def(definition["name"], definition["version"])
    assert found is not None
    return found


@pytest.mark.integration
def test_stored_definitions_normalise_equal_to_local(remote: ConductorRemote, names: dict[str, str]) -> None:
    local = [minimal_definition(names), nested_definition(names)]
    remote.put_workflow_defs(copy.deepcopy(local))
    for definition in local:
        stored = read_back(remote, definition)
        assert stored != definition  # the server did add things: the test would prove nothing otherwise
        assert normalise_workflowdef(stored) == normalise_workflowdef(definition)

    listed = {(w["name"], w["version"]): w for w in remote.list_workflow_defs()}
    for definition in local:
        from_list = listed[(definition["name"], definition["version"])]
        assert normalise_workflowdef(from_list) == normalise_workflowdef(definition)


@pytest.mark.integration
def test_normalised_form_is_fit_to_send(remote: ConductorRemote, names: dict[str, str]) -> None:
    """Sending the normal form (every default explicit) stores the same definition again."""
    local = [minimal_definition(names), nested_definition(names)]
    normal = [normalise_workflowdef(d) for d in local]
    remote.put_workflow_defs(copy.deepcopy(normal))
    for definition, expected in zip(local, normal, strict=True):
        assert normalise_workflowdef(read_back(remote, definition)) == expected


@pytest.mark.integration
def test_loaded_yaml_file_round_trips(remote: ConductorRemote, names: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "flow.yaml.j2").write_text(
        "name: {{ name }}\n"
        "version: 2\n"
        "description: loaded from a template\n"
        "timeoutSeconds: 30\n"
        "timeoutPolicy: TIME_OUT_WF\n"
        "tasks:\n"
        "  - name: {{ task }}\n"
        "    taskReferenceName: step\n"
        "    inputParameters: {when: 2024-01-31}\n"
        "  - name: decide\n"
        "    taskReferenceName: decide_ref\n"
        "    type: SWITCH\n"
        "    evaluatorType: javascript\n"
        "    expression: \"$.x > 1 ? 'many' : 'one'\"\n"
        "    inputParameters: {x: '${workflow.input.x}'}\n"
        "    decisionCases:\n"
        "      many: [{name: {{ task }}, taskReferenceName: many_ref}]\n"
    )
    [workflow] = load_workflows(
        folder, variables={"name": names["yaml"], "task": names["a"]}, owner_email="team@example.com"
    )
    remote.put_workflow_defs([workflow.definition])
    stored = read_back(remote, workflow.definition)
    assert stored["ownerEmail"] == "team@example.com"
    assert normalise_workflowdef(stored) == workflow.definition


@pytest.mark.integration
@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d.update(description="changed on the server"), id="description"),
        pytest.param(lambda d: d.update(timeoutSeconds=601), id="timeout"),
        pytest.param(lambda d: d.update(restartable=True), id="restartable-back-to-default"),
        pytest.param(
            lambda d: d["tasks"][1]["loopOver"][0]["decisionCases"]["big"][0]["forkTasks"][1][1].update(startDelay=6),
            id="deep-task-startDelay",
        ),
        pytest.param(
            lambda d: d["tasks"][1]["loopOver"][0]["defaultCase"][0]["inputParameters"].update(extra="x"),
            id="deep-task-input",
        ),
        pytest.param(
            lambda d: d["tasks"][2]["subWorkflowParam"]["workflowDefinition"]["tasks"][1].update(optional=True),
            id="inline-sub-workflow-task",
        ),
    ],
)
def test_a_change_on_the_server_is_not_equal(remote: ConductorRemote, names: dict[str, str], change: Any) -> None:
    local = nested_definition(names)
    remote.put_workflow_defs([copy.deepcopy(local)])
    changed = read_back(remote, local)
    change(changed)
    remote.put_workflow_defs([changed])
    stored = read_back(remote, local)
    assert normalise_workflowdef(stored) != normalise_workflowdef(local)
    assert normalise_workflowdef(stored) == normalise_workflowdef(changed)
