"""The apply record on the real server: pending, drift and conflict told apart, the drift check, history,
a fresh checkout seeing the last apply, and what is orphaned without owner_email."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from idflow.apply.record import DEFAULT_ENVIRONMENT, RECORD_WORKFLOW, record_version
from tests.conftest import Cli

pytestmark = pytest.mark.integration


def plan_doc(cli, *args):
    result = cli("plan", "--format", "json", *args)
    assert result.exit_code in (0, 2), result.output
    return json.loads(result.stdout)


def change_of(doc, name):
    return next(c for c in doc["changes"] if c["name"] == name)


def hand_edit(remote, name, **fields):
    remote.update_task_def({**remote.get_task_def(name), **fields})


def record_of(remote, project):
    raw = remote.get_workflow_def(RECORD_WORKFLOW, record_version(project, DEFAULT_ENVIRONMENT))
    return json.loads(raw["description"]) if raw else None


def git(root, *args):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(root), *args],
        check=True, capture_output=True,
    )  # fmt: skip


def test_pending_drift_and_conflict_are_told_apart_and_the_drift_check_alerts_only_on_the_server(
    cli_project, remote, unique
):
    a = f"{unique}_a"
    cli_project.write_task(a, retry_count=2, timeout_seconds=600, response_timeout_seconds=300)
    assert cli_project("apply", "--plan-now", "-y").exit_code == 0
    assert record_of(remote, f"{unique}@test.idflow")["objects"][f"task:{a}"]["body"]["retryCount"] == 2

    # An unapplied local change: pending, and the drift check passes.
    cli_project.write_task(a, retry_count=3, timeout_seconds=600, response_timeout_seconds=300)
    doc = plan_doc(cli_project)
    assert doc["three_way"] is True and change_of(doc, a)["reason"] == "changed-locally"
    drift = cli_project("plan", "--drift", "--detailed-exitcode")
    assert drift.exit_code == 0, drift.output
    assert "No drift; 1 local change(s) pending apply" in drift.stderr

    # A hand edit through the raw API, local back to what was applied: drift, exit 2.
    cli_project.write_task(a, retry_count=2, timeout_seconds=600, response_timeout_seconds=300)
    hand_edit(remote, a, retryCount=9)
    drift = cli_project("plan", "--drift", "--detailed-exitcode")
    assert drift.exit_code == 2, drift.output
    assert f"~ task {a}  (changed-on-server)" in drift.stdout and "retryCount: 9 -> 2" in drift.stdout
    assert "changed on the server since the last apply:" in drift.stdout and "retryCount: 2 -> 9" in drift.stdout

    # Both at once: a conflict, with both diffs against the last applied body.
    cli_project.write_task(a, retry_count=4, timeout_seconds=600, response_timeout_seconds=300)
    doc = plan_doc(cli_project)
    change = change_of(doc, a)
    assert change["reason"] == "conflict"
    assert change["since_last_apply"] == {
        "local": [{"path": "retryCount", "before": 2, "after": 4}],
        "server": [{"path": "retryCount", "before": 2, "after": 9}],
    }
    drift = cli_project("plan", "--drift", "--detailed-exitcode", "--format", "markdown")
    assert drift.exit_code == 2 and "(conflict)" in drift.stdout
    assert "Changed locally since the last apply" in drift.stdout and "Changed on the server since" in drift.stdout

    # -y alone does not overwrite a conflict; it names it. --allow-conflicts does.
    assert cli_project("plan").exit_code == 0
    refused = cli_project("apply", "-y")
    assert refused.exit_code != 0 and f"task {a}" in refused.output and "--allow-conflicts" in refused.output
    assert remote.get_task_def(a)["retryCount"] == 9
    assert cli_project("apply", "-y", "--allow-conflicts").exit_code == 0
    assert remote.get_task_def(a)["retryCount"] == 4
    assert cli_project("plan", "--drift", "--detailed-exitcode").exit_code == 0


def test_without_the_record_the_plan_is_two_way_with_one_note(cli_project, remote, unique):
    a = f"{unique}_a"
    cli_project.write_task(a, retry_count=2)
    assert cli_project("apply", "--plan-now", "-y").exit_code == 0
    remote.delete_workflow_def(RECORD_WORKFLOW, record_version(f"{unique}@test.idflow", DEFAULT_ENVIRONMENT))
    hand_edit(remote, a, retryCount=9)
    text = cli_project("plan")
    assert text.stdout.count("no apply record on the server for this project") == 1, text.stdout
    assert "(changed-locally)" in text.stdout
    doc = plan_doc(cli_project)
    assert doc["three_way"] is False and change_of(doc, a)["reason"] == "changed-locally"
    # Today's drift check: every difference counts.
    assert cli_project("plan", "--drift", "--detailed-exitcode").exit_code == 2
    # The next apply writes the record again.
    assert cli_project("apply", "--plan-now", "-y").exit_code == 0
    assert record_of(remote, f"{unique}@test.idflow") is not None


@pytest.mark.processes
def test_a_fresh_clone_sees_the_last_apply_and_history_lists_it(cli_project, remote, unique, tmp_path_factory):
    a = f"{unique}_a"
    cli_project.write_task(a, retry_count=2)
    git(cli_project.root, "init", "-q")
    git(cli_project.root, "add", "-A")
    git(cli_project.root, "commit", "-qm", "first")
    head = subprocess.run(["git", "-C", str(cli_project.root), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert cli_project("apply", "--plan-now", "-y", env={"GITHUB_RUN_ID": "4242"}).exit_code == 0

    clone = tmp_path_factory.mktemp("ci") / "checkout"
    subprocess.run(["git", "clone", "-q", str(cli_project.root), str(clone)], check=True)
    other = Cli(clone, cli_project.env)
    hand_edit(remote, a, retryCount=9)
    doc = plan_doc(other)
    assert change_of(doc, a)["reason"] == "changed-on-server"
    assert other("plan", "--drift", "--detailed-exitcode").exit_code == 2

    history = other("history")
    assert history.exit_code == 0, history.output
    assert "ci:GITHUB_RUN_ID=4242" in history.stdout and head.stdout.strip()[:12] in history.stdout
    assert "1 applied, 0 failed, 0 skipped" in history.stdout
    entries = json.loads(other("history", "--format", "json").stdout)["applies"]
    assert entries[0]["commit"] == head.stdout.strip() and entries[0]["idflow_version"]


def test_the_record_never_shows_as_a_workflow(cli_project, unique):
    cli_project.write_task(f"{unique}_a")
    assert cli_project("apply", "--plan-now", "-y").exit_code == 0
    (cli_project.root / "idflow" / "workflows").mkdir()
    doc = plan_doc(cli_project, "--prune-workflows")
    seen = json.dumps([doc["changes"], doc["unmanaged"]])
    assert RECORD_WORKFLOW not in seen
    for args in (("workflows", "list", "--remote"), ("workflows", "list")):
        listed = cli_project(*args)
        assert listed.exit_code == 0 and RECORD_WORKFLOW not in listed.output


def test_without_owner_email_an_empty_project_deletes_nothing_and_its_own_orphans_purge(
    project, conductor_url, remote, unique
):
    theirs = f"{unique}_theirs"
    remote.create_task_defs([{"name": theirs, "ownerEmail": "other-team@x.io"}])
    empty = Cli(project, {"CONDUCTOR_SERVER_URL": conductor_url, "NO_COLOR": "1"})
    doc = plan_doc(empty)
    assert [c["name"] for c in doc["changes"] if c["action"] == "delete"] == []
    assert f"task:{theirs}" in doc["unmanaged"]
    text = empty("plan")
    assert text.stdout.count("set owner_email") == 1 and "No changes." in text.stdout

    # A project whose tasks idflow created: its orphans are its own, other teams' stay.
    ours = Cli(shutil.copytree(project, project.parent / f"{unique}_ours"), empty.env)
    ours.write_config(f"project: {unique}-ours\n")
    mine, gone = f"{unique}_mine", f"{unique}_gone"
    ours.write_task(mine)
    ours.write_task(gone)
    assert ours("apply", "--plan-now", "-y").exit_code == 0
    ours.remove_task(gone)
    doc = plan_doc(ours)
    assert [(c["name"], c["reason"]) for c in doc["changes"] if c["action"] == "delete"] == [(gone, "orphaned")]
    purged = ours("tasks", "purge", "--orphaned", "-y")
    assert purged.exit_code == 0, purged.output
    assert remote.get_task_def(gone) is None and remote.get_task_def(theirs) is not None
    assert remote.get_task_def(mine) is not None
