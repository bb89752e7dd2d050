"""plan and apply end to end against the real server."""

from __future__ import annotations

import json

import pytest

from idflow.apply.applier import StateLock
from idflow.plan.file import checksum

pytestmark = pytest.mark.integration


def plan_json(cli, *args):
    result = cli("plan", "--format", "json", *args)
    assert result.exit_code in (0, 2), result.output
    return json.loads(result.stdout)


def changes_by_name(doc):
    return {c["name"]: c for c in doc["changes"]}


def test_create_then_no_changes_then_out_of_band_edit_shows_exactly_that_field(cli_project, remote, unique):
    a, b = f"{unique}_a", f"{unique}_b"
    cli_project.write_task(a, retry_count=2, timeout_seconds=600, response_timeout_seconds=300)
    cli_project.write_task(b, input_template={"url": "https://x"})
    result = cli_project("plan", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert f"+ task {a}" in result.stdout and "Plan: 2 to create, 0 to update, 0 to delete." in result.stdout

    result = cli_project("apply", "-y")
    assert result.exit_code == 0, result.output
    assert "Apply: 2 applied, 0 failed, 0 skipped." in result.stdout
    assert remote.get_task_def(a)["retryCount"] == 2

    result = cli_project("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.stdout

    remote.update_task_def({**remote.get_task_def(a), "retryCount": 7})
    doc = plan_json(cli_project)
    change = changes_by_name(doc)[a]
    assert change["action"] == "update"
    assert change["diff"] == [{"path": "retryCount", "before": 7, "after": 2}]
    assert changes_by_name(doc)[b]["action"] == "no-op"


def test_local_delete_plans_delete_and_nested_use_blocks_it(cli_project, remote, unique):
    keep, gone = f"{unique}_keep", f"{unique}_gone"
    cli_project.write_task(keep)
    cli_project.write_task(gone)
    assert cli_project("apply", "--plan-now", "-y").exit_code == 0
    cli_project.remove_task(gone)
    assert changes_by_name(plan_json(cli_project))[gone]["action"] == "delete"

    nested = {
        "name": f"{unique}_wf",
        "version": 1,
        "schemaVersion": 2,
        "ownerEmail": f"{unique}@test.idflow",
        "tasks": [
            {
                "name": "loop",
                "taskReferenceName": "loop",
                "type": "DO_WHILE",
                "loopCondition": "false",
                "loopOver": [
                    {
                        "name": "sw",
                        "taskReferenceName": "sw",
                        "type": "SWITCH",
                        "evaluatorType": "value-param",
                        "expression": "k",
                        "inputParameters": {"k": "a"},
                        "decisionCases": {
                            "a": [
                                {
                                    "name": "fork",
                                    "taskReferenceName": "fork",
                                    "type": "FORK_JOIN",
                                    "forkTasks": [
                                        [{"name": gone, "taskReferenceName": "g", "type": "SIMPLE"}],
                                        [{"name": keep, "taskReferenceName": "k", "type": "SIMPLE"}],
                                    ],
                                },
                                {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["g", "k"]},
                            ]
                        },
                    }
                ],
            }
        ],
    }
    remote.put_workflow_defs([nested])
    try:
        result = cli_project("plan")
        assert f"! task {gone}" in result.stdout
        assert f"used by workflow {unique}_wf v1 at" in result.stdout and "forkTasks" in result.stdout
        result = cli_project("apply", "-y")
        assert result.exit_code == 0, result.output
        assert "Nothing to apply." in result.stdout
        assert remote.get_task_def(gone) is not None

        assert cli_project("plan", "--force").exit_code == 0
        result = cli_project("apply", "-y")
        assert result.exit_code == 0, result.output
        assert remote.get_task_def(gone) is None
    finally:
        remote.delete_workflow_def(nested["name"], 1)


def test_stale_plan_is_refused_and_nothing_written(cli_project, remote, unique):
    a, b = f"{unique}_a", f"{unique}_b"
    cli_project.write_task(a)
    assert cli_project("apply", "--plan-now", "-y").exit_code == 0
    cli_project.write_task(a, retry_count=9)
    cli_project.write_task(b)
    assert cli_project("plan").exit_code == 0
    remote.update_task_def({**remote.get_task_def(a), "description": "edited by someone else"})
    result = cli_project("apply", "-y")
    assert result.exit_code == 1
    assert "stale" in result.stderr and f"task {a} was changed on the server since planning" in result.stderr
    assert remote.get_task_def(b) is None and remote.get_task_def(a)["retryCount"] == 3


def test_task_created_by_someone_else_makes_the_plan_stale(cli_project, remote, unique):
    a = f"{unique}_a"
    cli_project.write_task(a)
    assert cli_project("plan").exit_code == 0
    remote.create_task_defs([{"name": a, "ownerEmail": "else@x.io", "retryCount": 1}])
    result = cli_project("apply", "-y")
    assert result.exit_code == 1 and f"task {a} was created on the server since planning" in result.stderr
    assert remote.get_task_def(a)["retryCount"] == 1


def test_workflow_newly_using_a_task_planned_for_deletion_makes_the_plan_stale(cli_project, remote, unique):
    gone = f"{unique}_gone"
    cli_project.write_task(gone)
    assert cli_project("apply", "--plan-now", "-y").exit_code == 0
    cli_project.remove_task(gone)
    assert cli_project("plan").exit_code == 0
    wf = {
        "name": f"{unique}_wf",
        "version": 1,
        "schemaVersion": 2,
        "tasks": [{"name": gone, "taskReferenceName": "g", "type": "SIMPLE"}],
    }
    remote.put_workflow_defs([wf])
    try:
        result = cli_project("apply", "-y")
        assert result.exit_code == 1 and f"the workflows using task {gone} changed" in result.stderr
        assert remote.get_task_def(gone) is not None
    finally:
        remote.delete_workflow_def(wf["name"], 1)


def _edit_plan(path, edit, fix_checksum=True):
    doc = json.loads(path.read_text())
    edit(doc)
    if fix_checksum:
        doc["checksum"] = checksum(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("edit", "fix", "message"),
    [
        (lambda d: d["changes"][0].update(name="evil"), False, "checksum mismatch"),
        (lambda d: d.update(format_version="9.0"), True, "plan format 9.0 is not supported"),
        (lambda d: d.update(server_url="http://other:8080/api"), True, "made against http://other:8080/api"),
        (lambda d: d.update(applied={"at": "2026-01-01T00:00:00+00:00"}), True, "already applied"),
    ],
)
def test_plan_file_refusals_write_nothing(cli_project, remote, unique, edit, fix, message):
    a = f"{unique}_a"
    cli_project.write_task(a)
    assert cli_project("plan").exit_code == 0
    path = cli_project.root / "state" / "plan.json"
    _edit_plan(path, edit, fix)
    result = cli_project("apply", "-y")
    assert result.exit_code == 1 and message in result.stderr, result.output
    assert "Traceback" not in result.output
    assert remote.get_task_def(a) is None


def test_applied_plan_cannot_be_applied_twice(cli_project, unique):
    cli_project.write_task(f"{unique}_a")
    assert cli_project("plan").exit_code == 0
    assert cli_project("apply", "-y").exit_code == 0
    again = cli_project("apply", "-y")
    assert again.exit_code == 1 and "already applied" in again.stderr


def test_confirmation(cli_project, remote, unique):
    a = f"{unique}_a"
    cli_project.write_task(a)
    assert cli_project("plan").exit_code == 0
    refused = cli_project("apply")
    assert refused.exit_code == 1 and "no terminal to ask; pass -y" in refused.stderr
    said_no = cli_project("apply", input="n\n", env={"IDFLOW_INTERACTIVE": "1"})
    assert said_no.exit_code == 1 and "not confirmed" in said_no.stderr
    assert remote.get_task_def(a) is None
    said_yes = cli_project("apply", input="y\n", env={"IDFLOW_INTERACTIVE": "1"})
    assert said_yes.exit_code == 0, said_yes.output
    assert remote.get_task_def(a) is not None


def test_second_apply_is_locked_out(cli_project, remote, unique):
    a = f"{unique}_a"
    cli_project.write_task(a)
    assert cli_project("plan").exit_code == 0
    with StateLock(cli_project.root / "state", purpose="test holder"):
        result = cli_project("apply", "-y")
    assert result.exit_code == 1 and "is held by pid" in result.stderr and "test holder" in result.stderr
    assert remote.get_task_def(a) is None


def test_report_records_every_change(cli_project, unique):
    cli_project.write_task(f"{unique}_a")
    cli_project.write_task(f"{unique}_b")
    assert cli_project("apply", "--plan-now", "-y").exit_code == 0
    (report,) = (cli_project.root / "state").glob("apply-*.json")
    doc = json.loads(report.read_text())
    assert doc["summary"] == {"applied": 2, "failed": 0, "skipped": 0}
    assert {r["name"] for r in doc["results"]} == {f"{unique}_a", f"{unique}_b"}


def test_an_edit_the_read_cache_has_seen_before_is_planned(cli_project, remote, unique):
    """The task-file read cache (state/cache) on a real plan/apply cycle: an edit of the same length, in
    the same second, is planned; changing it back plans the way back; an untouched file stays in sync."""
    a, b = f"{unique}_a", f"{unique}_b"
    source = cli_project.write_task(a, retry_count=2)
    cli_project.write_task(b, retry_count=5)
    assert cli_project("apply", "--plan-now", "-y").exit_code == 0
    assert (cli_project.root / "state" / "cache" / "task-files.json").is_file()
    original = source.read_text()
    assert original.count("retry_count=2") == 1
    source.write_text(original.replace("retry_count=2", "retry_count=3"))
    doc = plan_json(cli_project)
    assert changes_by_name(doc)[a]["diff"] == [{"path": "retryCount", "before": 2, "after": 3}]
    assert changes_by_name(doc)[b]["action"] == "no-op"
    assert cli_project("apply", "-y").exit_code == 0
    assert remote.get_task_def(a)["retryCount"] == 3
    source.write_text(original)
    doc = plan_json(cli_project)
    assert changes_by_name(doc)[a]["diff"] == [{"path": "retryCount", "before": 3, "after": 2}]


def test_plan_files_from_kept_short_forms_are_the_same_and_see_the_servers_edits(cli_project, remote, unique):
    """The short forms of no-op bodies kept in state/cache on a real server: an in-sync plan file is the
    same from them as when they were made, and a definition edited on the server is planned back."""
    a, b = f"{unique}_a", f"{unique}_b"
    cli_project.write_task(a, retry_count=2)
    cli_project.write_task(b, retry_count=5)
    assert cli_project("apply", "--plan-now", "-y").exit_code == 0
    plan_file = cli_project.root / "state" / "plan.json"
    assert cli_project("plan").exit_code == 0
    made = json.loads(plan_file.read_text())["changes"]
    assert (cli_project.root / "state" / "cache" / "short-bodies.json").is_file()
    assert cli_project("plan").exit_code == 0
    kept = json.loads(plan_file.read_text())["changes"]
    assert kept == made and {c["action"] for c in kept if c["name"] in (a, b)} == {"no-op"}
    assert all(c.get("before_is_minimal") for c in kept if c["name"] in (a, b))
    remote.update_task_def({**remote.get_task_def(b), "retryCount": 9})
    assert cli_project("plan").exit_code == 0
    after_edit = changes_by_name(json.loads(plan_file.read_text()))
    assert after_edit[b]["diff"] == [{"path": "retryCount", "before": 9, "after": 5}]
    assert after_edit[a]["action"] == "no-op"
    assert cli_project("apply", "-y").exit_code == 0
    assert remote.get_task_def(b)["retryCount"] == 5
