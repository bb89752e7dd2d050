"""Against the real server: every command agrees on which tasks workflows use, and says so quietly.

The workflows are shaped like the ones in Conductor's docs and e2e tests: a FORK_JOIN_DYNAMIC running
the same worker in every fork (``forkTaskName``), a DYNAMIC task with a literal name, an HTTP task with a
task definition of its own name, and a DYNAMIC task whose name comes from the workflow input.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

NO_TERMINAL = {"IDFLOW_INTERACTIVE": "0"}


def write_workflow(cli, definition):
    folder = cli.root / "idflow" / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{definition['name']}.json").write_text(json.dumps(definition, indent=2))


def media_workflow(unique):
    resize, ship, notify = f"{unique}_resize", f"{unique}_ship", f"{unique}_notify_call"
    return {
        "name": f"{unique}_media",
        "description": "Resize every uploaded image, ship the result, tell the caller.",
        "version": 1,
        "schemaVersion": 2,
        "inputParameters": ["images", "courier"],
        "tasks": [
            {
                "name": "resize_each",
                "taskReferenceName": "resize_each_ref",
                "type": "FORK_JOIN_DYNAMIC",
                "inputParameters": {
                    "forkTaskName": resize,
                    "forkTaskType": "SIMPLE",
                    "forkTaskInputs": [{"image": "a.png", "width": 64}, {"image": "b.png", "width": 128}],
                },
                "dynamicForkTasksParam": "dynamicTasks",
                "dynamicForkTasksInputParamName": "dynamicTasksInput",
            },
            {"name": "resize_join", "taskReferenceName": "resize_join_ref", "type": "JOIN"},
            {
                "name": "ship_result",
                "taskReferenceName": "ship_ref",
                "type": "DYNAMIC",
                "dynamicTaskNameParam": "taskToExecute",
                "inputParameters": {"taskToExecute": ship, "parcel": "${resize_join_ref.output}"},
            },
            {
                "name": notify,
                "taskReferenceName": "notify_ref",
                "type": "HTTP",
                "inputParameters": {"http_request": {"uri": "http://127.0.0.1:9/hook", "method": "POST"}},
            },
            {
                "name": "courier_choice",
                "taskReferenceName": "courier_ref",
                "type": "DYNAMIC",
                "dynamicTaskNameParam": "courier",
                "inputParameters": {"courier": "${workflow.input.courier}"},
            },
        ],
    }


def test_literal_dynamic_targets_and_a_same_named_http_def_are_never_deleted(cli_project, remote, unique):
    resize, ship, notify, free = (f"{unique}_{s}" for s in ("resize", "ship", "notify_call", "free"))
    for name in (resize, ship, notify, free):
        cli_project.write_task(name, retry_count=2)
    workflow = media_workflow(unique)
    write_workflow(cli_project, workflow)
    first = cli_project("apply", "--plan-now", "-y")
    assert first.exit_code == 0, first.output
    try:
        for name in (resize, ship, notify, free):
            cli_project.remove_task(name)
        text = cli_project("plan")
        assert text.exit_code == 0, text.output
        for name, where in (
            (resize, "tasks[0] (resize_each_ref) > inputParameters.forkTaskName"),
            (ship, "tasks[2] (ship_ref) > inputParameters.taskToExecute"),
            (notify, "tasks[3] (notify_ref)"),
        ):
            assert f"! task {name}  (orphaned, blocked: in use, will not be deleted)" in text.stdout
            assert f"used by workflow {workflow['name']} v1 at {where}" in text.stdout
        assert f"- task {free}  (orphaned)" in text.stdout
        # The one place that is unknown until run time, named exactly, once.
        courier = (
            f"workflow {workflow['name']} v1 at tasks[4] (courier_ref) > inputParameters.courier "
            "(${workflow.input.courier}) chooses its task at run time"
        )
        assert text.stdout.count(courier) == 1
        assert text.stdout.count("chooses its task at run time") == 1

        doc = json.loads(cli_project("plan", "--format", "json").stdout)
        changes = {c["name"]: c for c in doc["changes"] if c["kind"] == "task"}
        assert [b["location"] for b in changes[resize]["blockers"]] == [
            "tasks[0] (resize_each_ref) > inputParameters.forkTaskName"
        ]
        assert [b["ref"] for b in changes[ship]["blockers"]] == ["ship_ref"]
        assert [b["workflow"] for b in changes[notify]["blockers"]] == [workflow["name"]]
        assert changes[free]["blockers"] == [] and all(c["warnings"] == [] for c in changes.values())
        assert doc["summary"]["blocked"] == 3
        assert [w for w in doc["warnings"] if "run time" in w] == [
            courier + f": it may be {free}, which this plan deletes"
        ]

        purge = cli_project("tasks", "purge", "--orphaned", "-y")
        assert purge.exit_code == 0, purge.output
        assert "Held back, in use (3):" in purge.stdout
        assert remote.get_task_def(free) is None
        applied = cli_project("apply", "--plan-now", "-y")
        assert applied.exit_code == 0, applied.output
        for name in (resize, ship, notify):
            assert remote.get_task_def(name) is not None, name
    finally:
        remote.delete_workflow_def(workflow["name"], 1)
        for name in (resize, ship, notify, free):
            if remote.get_task_def(name) is not None:
                remote.delete_task_def(name)


def test_every_command_holds_back_a_task_only_a_new_local_workflow_uses(cli_project, remote, unique):
    needed, kept = f"{unique}_needed", f"{unique}_kept"
    owner = f"{unique}@test.idflow"
    remote.create_task_defs([{"name": needed, "ownerEmail": owner, "description": "On the server only."}])
    cli_project.write_task(kept)
    fresh = {
        "name": f"{unique}_fresh",
        "version": 1,
        "schemaVersion": 2,
        "tasks": [
            {"name": kept, "taskReferenceName": "kept_ref", "type": "SIMPLE"},
            {"name": needed, "taskReferenceName": "needed_ref", "type": "SIMPLE"},
        ],
    }
    write_workflow(cli_project, fresh)  # never applied: the server does not know it
    try:
        assert remote.get_workflow_def(fresh["name"], 1) is None
        for shape in ((), ("--target", needed), ("--only", "delete"), ("--only", "delete", "--target", needed)):
            doc = json.loads(cli_project("plan", "--format", "json", *shape).stdout)
            (change,) = [c for c in doc["changes"] if c["name"] == needed]
            assert change["action"] == "delete", shape
            assert [(b["workflow"], b["location"]) for b in change["blockers"]] == [
                (fresh["name"], "tasks[1] (needed_ref)")
            ], shape
        for args in (("--orphaned",), (needed,)):
            purge = cli_project("tasks", "purge", *args, "-y")
            assert purge.exit_code == 0, purge.output
            assert f"{needed}: used by workflow {fresh['name']} v1 at tasks[1] (needed_ref)" in purge.stdout
            assert "Nothing to delete." in purge.stdout
            assert remote.get_task_def(needed) is not None, args
    finally:
        remote.delete_task_def(needed)


def test_other_owners_workflows_are_one_summary_line(cli_project, remote, unique):
    owner = f"{unique}@test.idflow"
    pick = {
        "name": "pick",
        "taskReferenceName": "pick_ref",
        "type": "DYNAMIC",
        "dynamicTaskNameParam": "taskToExecute",
        "inputParameters": {"taskToExecute": "${workflow.input.t}"},
    }
    theirs = [
        {
            "name": f"{unique}_theirs_{i}",
            "version": 1,
            "schemaVersion": 2,
            "ownerEmail": "someone-else@test.idflow",
            "tasks": [
                {"name": f"{unique}_ghost_{i}", "taskReferenceName": "ghost_ref", "type": "SIMPLE"},
                pick,
            ],
        }
        for i in range(3)
    ]
    mine = {
        "name": f"{unique}_mine",
        "version": 1,
        "schemaVersion": 2,
        "ownerEmail": owner,
        "tasks": [{"name": f"{unique}_ghost_mine", "taskReferenceName": "ghost_ref", "type": "SIMPLE"}],
    }
    remote.put_workflow_defs([*theirs, mine])
    remote.create_task_defs([{"name": f"{unique}_orphan", "ownerEmail": owner}])
    try:
        text = cli_project("plan")
        assert text.exit_code == 0, text.output
        assert f"Warning: workflow {mine['name']} v1 uses task '{unique}_ghost_mine'" in text.stdout
        assert f"{unique}_ghost_0" not in text.stdout and f"{unique}_theirs" not in text.stdout
        summary_line = r"Note: (\d+) warnings? about workflows not managed here \(-v lists them\)"
        (summary,) = re.findall(summary_line, text.stdout)
        assert int(summary) >= 6  # three ghosts and three run-time choices (the shared server may hold more)
        verbose = cli_project("-v", "plan")
        for i in range(3):
            assert f"Note (not managed here): workflow {unique}_theirs_{i} v1 uses task '{unique}_ghost_{i}'" in (
                verbose.stdout
            )
        doc = json.loads(cli_project("plan", "--format", "json").stdout)
        assert not [w for w in doc["warnings"] if f"{unique}_theirs" in w]
        assert len([w for w in doc["unmanaged_warnings"] if f"{unique}_theirs" in w]) == 6
    finally:
        for workflow in (*theirs, mine):
            remote.delete_workflow_def(workflow["name"], 1)
        remote.delete_task_def(f"{unique}_orphan")


def test_purge_without_a_terminal_lists_what_it_holds_back_and_what_it_would_delete(cli_project, remote, unique):
    owner = f"{unique}@test.idflow"
    used, free = f"{unique}_used", f"{unique}_free"
    remote.create_task_defs([{"name": used, "ownerEmail": owner}, {"name": free, "ownerEmail": owner}])
    user = {
        "name": f"{unique}_user",
        "version": 1,
        "schemaVersion": 2,
        "ownerEmail": owner,
        "tasks": [{"name": used, "taskReferenceName": "used_ref", "type": "SIMPLE"}],
    }
    remote.put_workflow_defs([user])
    try:
        result = cli_project("tasks", "purge", "--orphaned", env=NO_TERMINAL)
        assert result.exit_code == 1
        lines = result.stdout.splitlines()
        assert lines == [
            "Held back, in use (1):",
            f"  {used}: used by workflow {user['name']} v1 at tasks[0] (used_ref)",
            "Would delete (1):",
            f"  {free}",
        ]
        assert "refusing to delete without confirmation" in result.stderr
        assert remote.get_task_def(free) is not None and remote.get_task_def(used) is not None
    finally:
        remote.delete_workflow_def(user["name"], 1)
        remote.delete_task_def(used)
        remote.delete_task_def(free)


@pytest.mark.processes
def test_tasks_list_into_head_ends_quietly(cli_project, conductor_url, tmp_path_factory):
    """`idflow tasks list | head -1` on a plan-backed listing: exit 141 as git, nothing on stderr."""
    from tests.factories import write_task_file

    # More output than a pipe holds (64 KiB): the listing is still writing when head closes it. With less,
    # a fast listing may write everything before the close and exit 0.
    for index in range(2000):
        write_task_file(cli_project.root, f"gallery_thumbnail_variant_{index:04d}_local_only", package=True)
    elsewhere = tmp_path_factory.mktemp("cwd")  # the project's idflow/ folder would shadow the package
    process = subprocess.Popen(
        [sys.executable, "-m", "idflow.cli", "--config", str(cli_project.config_path), "tasks", "list"],
        cwd=elsewhere,
        env={**os.environ, **cli_project.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=300) == 141, stderr
    assert first and stderr == ""
