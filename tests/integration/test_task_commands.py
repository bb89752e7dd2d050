"""`idflow tasks list|upload|purge` against the real server: views over plan/apply."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration

ASK = {"IDFLOW_INTERACTIVE": "1"}


def test_list_local_needs_no_server(cli_project, unique):
    cli_project.write_task(f"{unique}_a", retry_count=1)
    result = cli_project("tasks", "list", "--local", env={"CONDUCTOR_SERVER_URL": "http://127.0.0.1:9/api"})
    assert result.exit_code == 0, result.output
    assert f"{unique}_a" in result.stdout and "retries=1" in result.stdout
    assert f"idflow/tasks/{unique}_a/{unique}_a.py:5" in result.stdout
    doc = json.loads(cli_project("tasks", "list", "--local", "--format", "json").stdout)
    assert doc[0]["definition"]["retryCount"] == 1 and doc[0]["definition"]["responseTimeoutSeconds"] == 3600


def test_list_remote_all_and_sync_groups(cli_project, remote, unique):
    common, changed, local_only, orphan, used = (
        f"{unique}_{s}" for s in ("common", "changed", "local", "orphan", "used")
    )
    for name in (common, changed, local_only):
        cli_project.write_task(name)
    owner = f"{unique}@test.idflow"
    remote.create_task_defs(
        [{"name": n, "ownerEmail": owner, "description": f"Task {n}."} for n in (common, orphan, used)]
        + [
            {"name": changed, "ownerEmail": owner, "retryCount": 9, "description": f"Task {changed}."},
            {"name": f"{unique}_foreign", "ownerEmail": "other@x.io"},
        ]
    )
    wf = {
        "name": f"{unique}_wf",
        "version": 1,
        "schemaVersion": 2,
        "tasks": [{"name": used, "taskReferenceName": "u", "type": "SIMPLE"}],
    }
    remote.put_workflow_defs([wf])
    try:
        remote_list = cli_project("tasks", "list", "--remote")
        assert remote_list.exit_code == 0 and f"{unique}_foreign" in remote_list.stdout
        assert local_only not in remote_list.stdout

        everything = json.loads(cli_project("tasks", "list", "--format", "json").stdout)
        status = {row["name"]: row["status"] for row in everything}
        assert status[common] == "in sync" and status[changed] == "changed: retryCount"
        assert status[local_only] == "local only: needs uploading"
        assert status[orphan] == "remote only: orphan" and status[used] == "remote only: orphan, in use"

        groups = json.loads(cli_project("tasks", "list", "--sync", "--format", "json").stdout)
        names = {g: {r["name"] for r in rows if r["name"].startswith(unique)} for g, rows in groups.items()}
        assert names["Local Tasks"] == {common, changed, local_only}
        assert names["Common Tasks"] == {common, changed}
        assert names["Local Only"] == {local_only}
        assert names["Remote Only"] == {orphan, used, f"{unique}_foreign"}
        text = cli_project("-v", "tasks", "list", "--sync")
        assert f"{unique}_foreign  remote only: not managed (left alone)" in text.stdout
        assert f"used by workflow {unique}_wf v1 at tasks[0]" in text.stdout
        assert f"{changed}  changed: retryCount" in text.stdout

        # Same plan as `idflow plan`: every managed change agrees with the sync view.
        plan = json.loads(cli_project("plan", "--format", "json").stdout)
        by_action = {c["name"]: c["action"] for c in plan["changes"]}
        assert {n for n, a in by_action.items() if a == "create"} == names["Local Only"]
        assert {n for n, a in by_action.items() if a == "delete"} == names["Remote Only"] - {f"{unique}_foreign"}
        assert f"task:{unique}_foreign" in plan["unmanaged"]
    finally:
        remote.delete_workflow_def(wf["name"], 1)


def test_upload_new_changed_skips_unchanged_and_force(cli_project, remote, unique):
    a, b, c = f"{unique}_a", f"{unique}_b", f"{unique}_c"
    for name in (a, b, c):
        cli_project.write_task(name)
    assert cli_project("tasks", "upload", a, "-y").exit_code == 0
    assert remote.get_task_def(a) is not None and remote.get_task_def(b) is None

    cli_project.write_task(a, retry_count=1)
    result = cli_project("tasks", "upload", "--all", "-y")
    assert result.exit_code == 0, result.output
    assert "retryCount: 3 -> 1" in result.stdout
    assert {remote.get_task_def(n) is not None for n in (b, c)} == {True}

    again = cli_project("tasks", "upload", "--all", "-y")
    assert "Unchanged, skipped:" in again.stdout and a in again.stdout and "Nothing to do." in again.stdout
    before = remote.get_task_def(a)["createTime"]
    forced = cli_project("tasks", "upload", a, "--force", "-y")
    assert forced.exit_code == 0 and "forced" in forced.stdout
    assert remote.get_task_def(a)["createTime"] != before or remote.get_task_def(a)["updateTime"]


def test_upload_prompt_no_and_yes(cli_project, remote, unique):
    a = f"{unique}_a"
    cli_project.write_task(a)
    no = cli_project("tasks", "upload", a, input="n\n", env=ASK)
    assert no.exit_code == 1 and remote.get_task_def(a) is None
    yes = cli_project("tasks", "upload", a, input="y\n", env=ASK)
    assert yes.exit_code == 0 and remote.get_task_def(a) is not None


def test_upload_reports_invalid_definitions_and_uploads_the_rest(cli_project, remote, unique):
    good, bad = f"{unique}_good", f"{unique}_bad"
    cli_project.write_task(good)
    cli_project.write_task(bad, timeout_policy="SOMETIMES")
    result = cli_project("tasks", "upload", "--all", "-y")
    assert result.exit_code == 1
    assert f"idflow/tasks/{bad}/{bad}.py:4" in result.stderr and "SOMETIMES" in result.stderr
    assert remote.get_task_def(good) is not None and remote.get_task_def(bad) is None
    unknown = cli_project("tasks", "upload", "nope", "-y")
    assert unknown.exit_code == 1 and "no valid local task named nope" in unknown.stderr


def test_purge_orphaned_holds_back_used_and_asks(cli_project, remote, unique):
    keep, orphan, used = f"{unique}_keep", f"{unique}_orphan", f"{unique}_used"
    cli_project.write_task(keep)
    owner = f"{unique}@test.idflow"
    remote.create_task_defs(
        [{"name": n, "ownerEmail": owner} for n in (keep, orphan, used)]
        + [{"name": f"{unique}_foreign", "ownerEmail": "other@x.io"}]
    )
    wf = {
        "name": f"{unique}_wf",
        "version": 1,
        "schemaVersion": 2,
        "tasks": [
            {
                "name": "f",
                "taskReferenceName": "f",
                "type": "FORK_JOIN",
                "forkTasks": [[{"name": used, "taskReferenceName": "u", "type": "SIMPLE"}]],
            },
            {"name": "j", "taskReferenceName": "j", "type": "JOIN", "joinOn": ["u"]},
        ],
    }
    remote.put_workflow_defs([wf])
    try:
        no = cli_project("tasks", "purge", "--orphaned", input="n\n", env=ASK)
        assert no.exit_code == 1
        assert f"{used}: used by workflow {unique}_wf v1 at tasks[0]" in no.stdout
        assert f"- task {orphan}" in no.stdout and remote.get_task_def(orphan) is not None

        no_tty = cli_project("tasks", "purge", "--orphaned")
        assert no_tty.exit_code == 1 and "pass -y" in no_tty.stderr

        yes = cli_project("tasks", "purge", "--orphaned", input="y\n", env=ASK)
        assert yes.exit_code == 0, yes.output
        assert remote.get_task_def(orphan) is None
        assert remote.get_task_def(used) is not None and remote.get_task_def(keep) is not None
        assert remote.get_task_def(f"{unique}_foreign") is not None

        forced = cli_project("tasks", "purge", "--orphaned", "--force", "-y")
        assert forced.exit_code == 0 and "WARNING: --force deletes 1 task(s) that workflows still use" in forced.stderr
        assert remote.get_task_def(used) is None
    finally:
        remote.delete_workflow_def(wf["name"], 1)
        remote.delete_task_def(f"{unique}_foreign")


def test_purge_names_refuses_local_tasks_unless_forced(cli_project, remote, unique):
    local = f"{unique}_local"
    cli_project.write_task(local)
    assert cli_project("tasks", "upload", local, "-y").exit_code == 0
    refused = cli_project("tasks", "purge", local, "-y")
    assert refused.exit_code == 1 and "exist(s) locally" in refused.stderr
    assert remote.get_task_def(local) is not None
    forced = cli_project("tasks", "purge", local, "--force", "-y")
    assert forced.exit_code == 0, forced.output
    assert remote.get_task_def(local) is None
    missing = cli_project("tasks", "purge", f"{unique}_nothing", "-y")
    assert missing.exit_code == 1 and "not on the server" in missing.stderr
    misuse = cli_project("tasks", "purge")
    assert misuse.exit_code == 1 and "--orphaned" in misuse.stderr
