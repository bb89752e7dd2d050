"""Workflow files shaped like real ones (conductor-oss kitchensink/test-harness, the original idflow's
layout), against the real server: fields the server ignores, file owners, event handler files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def cleanup(remote, unique):
    yield
    for handler in remote.list_event_handlers():
        if str(handler.get("name", "")).startswith(unique):
            remote.delete_event_handler(handler["name"])
    for workflow in remote.list_workflow_defs():
        if str(workflow.get("name", "")).startswith(unique):
            remote.delete_workflow_def(workflow["name"], workflow["version"])
    for task in remote.list_task_defs():
        if str(task.get("name", "")).startswith(unique):
            remote.delete_task_def(task["name"])


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def wrapper_workflow(unique: str, **top: object) -> str:
    """Shaped like real files: task-def settings at the top level, no version, callbackFromWorker and
    startDelay on tasks, an embedded taskDefinition with a version, a dynamic fork and its join."""
    return json.dumps(
        {
            "name": f"{unique}_wrap",
            "description": "Wraps one stage",
            "schemaVersion": 2,
            "retryCount": 2,
            "retryLogic": "FIXED",
            "retryDelaySeconds": 10,
            "responseTimeoutSeconds": 300,
            "timeoutPolicy": "TIME_OUT_WF",
            "timeoutSeconds": 600,
            **top,
            "inputParameters": ["docId"],
            "tasks": [
                {
                    "name": f"{unique}_prepare",
                    "taskReferenceName": "prepare",
                    "type": "SIMPLE",
                    "inputParameters": {"docId": "${workflow.input.docId}"},
                    "startDelay": 0,
                    "callbackFromWorker": True,
                    "taskDefinition": {
                        "name": f"{unique}_prepare",
                        "version": 1,
                        "timeoutSeconds": 60,
                        "responseTimeoutSeconds": 30,
                    },
                },
                {
                    "name": f"{unique}_work",
                    "taskReferenceName": "work",
                    "type": "SIMPLE",
                    "callbackFromWorker": True,
                },
                {
                    "name": "fan_out",
                    "taskReferenceName": "fan_out",
                    "type": "FORK_JOIN_DYNAMIC",
                    "inputParameters": {
                        "dynamicTasks": "${prepare.output.tasks}",
                        "dynamicTasksInput": "${prepare.output.inputs}",
                    },
                    "dynamicForkTasksParam": "dynamicTasks",
                    "dynamicForkTasksInputParamName": "dynamicTasksInput",
                },
                {"name": "join", "taskReferenceName": "join", "type": "JOIN"},
            ],
            "outputParameters": {"docId": "${workflow.input.docId}"},
        },
        indent=2,
    )


def write_workflow(cli, relative: str, text: str) -> Path:
    path = cli.root / "idflow" / "workflows" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_fields_the_server_ignores_are_reported_at_their_lines_and_converge(cli_project, remote, unique, cleanup):
    cli_project.write_task(f"{unique}_work")
    text = wrapper_workflow(unique)
    write_workflow(cli_project, "wrap/wrap.json", text)
    source = "idflow/workflows/wrap/wrap.json"

    first = cli_project("plan")
    assert first.exit_code == 0, first.output
    expected = [
        (line_of(text, '"retryCount"'), "'retryCount' is ignored by the server"),
        (line_of(text, '"retryLogic"'), "'retryLogic' is ignored by the server"),
        (line_of(text, '"retryDelaySeconds"'), "'retryDelaySeconds' is ignored by the server"),
        (line_of(text, '"responseTimeoutSeconds": 300'), "'responseTimeoutSeconds' is ignored by the server"),
        (line_of(text, '"callbackFromWorker"'), "'tasks[0].callbackFromWorker' is ignored by the server"),
        (line_of(text, '"version": 1'), "'tasks[0].taskDefinition.version' is ignored by the server"),
    ]
    warnings = [w for w in first.stdout.splitlines() if w.startswith("Warning: ") and "ignored by the server" in w]
    for line, message in expected:
        assert any(w.startswith(f"Warning: {source}:{line}: ") and message in w for w in warnings), (line, message)
    second_callback = [n for n, t in enumerate(text.splitlines(), 1) if '"callbackFromWorker"' in t][1]
    assert any(f"{source}:{second_callback}: " in w and "tasks[1].callbackFromWorker" in w for w in warnings)
    assert len(warnings) == len(expected) + 1
    assert f"+ workflow {unique}_wrap v1" in first.stdout  # no version in the file: version 1, as on the server

    applied = cli_project("apply", "-y")
    assert applied.exit_code == 0, applied.output
    stored = remote.get_workflow_def(f"{unique}_wrap", 1)
    assert stored["ownerEmail"] == f"{unique}@test.idflow"
    assert "callbackFromWorker" not in stored["tasks"][0]

    again = cli_project("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes." in again.stdout
    assert "'tasks[0].callbackFromWorker' is ignored by the server" in again.stdout  # still said, never a diff


def test_a_file_of_another_owner_is_a_problem_at_its_line_and_nothing_is_written(cli_project, remote, unique, cleanup):
    cli_project.write_task(f"{unique}_work")
    text = wrapper_workflow(unique, ownerEmail="idflow@example.com")
    write_workflow(cli_project, "wrap/wrap.json", text)
    result = cli_project("apply", "--plan-now", "-y")
    assert result.exit_code == 1
    line = line_of(text, '"ownerEmail"')
    assert f"idflow/workflows/wrap/wrap.json:{line}:1: " in result.output
    assert f"'idflow@example.com' is not the configured owner_email '{unique}@test.idflow'" in result.output
    assert "Traceback" not in result.output
    assert remote.get_workflow_def(f"{unique}_wrap", 1) is None
    assert remote.get_task_def(f"{unique}_work") is None


def test_what_files_owned_redundantly_applied_can_be_pruned_and_purged(cli_project, remote, unique, cleanup):
    owner = f"{unique}@test.idflow"
    work = cli_project.write_task(f"{unique}_work", owner_email=owner)  # the same owner: redundant, fine
    write_workflow(cli_project, "wrap/wrap.json", wrapper_workflow(unique, ownerEmail=owner))
    assert cli_project("apply", "--plan-now", "-y").exit_code == 0
    assert remote.get_workflow_def(f"{unique}_wrap", 1)["ownerEmail"] == owner

    shutil.rmtree(cli_project.root / "idflow" / "workflows" / "wrap")
    pruned = cli_project("apply", "--plan-now", "-y", "--prune-workflows")
    assert pruned.exit_code == 0, pruned.output
    assert remote.get_workflow_def(f"{unique}_wrap", 1) is None

    shutil.rmtree(work.parent)
    purged = cli_project("tasks", "purge", f"{unique}_work", "-y")
    assert purged.exit_code == 0, purged.output
    assert remote.get_task_def(f"{unique}_work") is None


def test_a_plan_made_for_another_owner_is_refused_by_apply(cli_project, remote, unique, cleanup):
    cli_project.write_task(f"{unique}_work")
    assert cli_project("plan").exit_code == 0
    cli_project.write_config(f"owner_email: other-{unique}@test.idflow\n")
    result = cli_project("apply", "-y")
    assert result.exit_code == 1
    assert "owner other than the configured owner_email" in result.output and f"task:{unique}_work" in result.output
    assert remote.get_task_def(f"{unique}_work") is None


def event_handlers(*names: str) -> str:
    return json.dumps(
        [
            {
                "name": name,
                "description": "Wakes waiting triggers",
                "event": "idflow:doc.changed",
                "evaluatorType": "javascript",
                "condition": "function ok(){ return !!$.workflowId; } ok();",
                "actions": [
                    {
                        "action": "complete_task",
                        "complete_task": {"workflowId": "${workflowId}", "taskRefName": "${taskRefName}"},
                    }
                ],
                "active": True,
            }
            for name in names
        ],
        indent=2,
    )


def test_the_original_idflow_layout_with_event_handlers_plans_and_applies(cli_project, remote, unique, cleanup):
    cli_project.write_task(f"{unique}_work")
    write_workflow(cli_project, "wrap/wrap.json", wrapper_workflow(unique))
    write_workflow(cli_project, "wrap/event_handlers.json", event_handlers(f"{unique}_a", f"{unique}_b"))
    trigger = {
        "name": f"{unique}_trigger",
        "version": 1,
        "schemaVersion": 2,
        "tasks": [{"name": "await_signal", "taskReferenceName": "await", "type": "WAIT", "inputParameters": {}}],
    }
    write_workflow(cli_project, "trigger/trigger.json", json.dumps(trigger, indent=2))
    write_workflow(cli_project, "trigger/event_handlers.json", event_handlers(f"{unique}_c"))

    plan = cli_project("plan")
    assert plan.exit_code == 0, plan.output
    for name in ("a", "b", "c"):  # the original's handlers are planned like everything else
        assert f"+ event {unique}_{name}  (new-locally)" in plan.stdout
    assert "idflow/workflows/wrap/event_handlers.json:" in plan.stdout  # their 'description' is ignored: said

    assert cli_project("apply", "-y").exit_code == 0
    on_server = {h["name"] for h in remote.list_event_handlers()}
    assert {f"{unique}_a", f"{unique}_b", f"{unique}_c"} <= on_server
    assert remote.get_workflow_def(f"{unique}_wrap", 1) is not None
    assert remote.get_workflow_def(f"{unique}_trigger", 1) is not None
    assert cli_project("plan", "--detailed-exitcode").exit_code == 0
    assert cli_project("workflows", "list").exit_code == 0
    assert cli_project("tasks", "list").exit_code == 0


def test_an_unknown_file_in_the_workflows_tree_is_one_clear_problem(cli_project, remote, unique, cleanup):
    cli_project.write_task(f"{unique}_work")
    write_workflow(cli_project, "wrap/wrap.json", wrapper_workflow(unique))
    taskdef = {"name": f"{unique}_loose", "retryCount": 3, "timeoutSeconds": 60, "responseTimeoutSeconds": 30}
    write_workflow(cli_project, "wrap/taskdef.json", json.dumps(taskdef, indent=2))
    result = cli_project("plan")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "taskdef.json" in line]
    assert len(lines) == 1
    assert "idflow/workflows/wrap/taskdef.json:1:1: not a workflow: looks like a task definition" in lines[0]
    assert "Traceback" not in result.output
    assert remote.get_workflow_def(f"{unique}_wrap", 1) is None
