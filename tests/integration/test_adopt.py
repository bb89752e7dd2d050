"""Adopting a server, on the real one: import into an empty project (ruff clean, next plan empty), export,
wipe and restore, and reverting an apply (exactly, and refused per object where the server changed since).

The definitions are shaped like real ones: conductor-oss's kitchensink and codelab workflows (SWITCH with
cases and a default, FORK_JOIN and JOIN, DO_WHILE over a loop, an inline SUB_WORKFLOW) and the task
definitions of conductor-python's examples, with every settable field."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from idflow.kinds.normal import normalise_taskdef
from idflow.kinds.workflow_normal import normalise_workflowdef

pytestmark = pytest.mark.integration
RUFF = Path(sys.executable).parent / "ruff"


def full_task(name: str, owner: str, **extra: object) -> dict:
    """A task definition with every field a task file can set, none at its default."""
    return {
        "name": name,
        "description": "Charge the customer's card for one order.",
        "retryCount": 5,
        "timeoutSeconds": 1200,
        "inputKeys": ["order_id", "amount"],
        "outputKeys": ["charge_id"],
        "timeoutPolicy": "RETRY",
        "retryLogic": "EXPONENTIAL_BACKOFF",
        "retryDelaySeconds": 7,
        "responseTimeoutSeconds": 300,
        "concurrentExecLimit": 4,
        "inputTemplate": {"currency": "EUR", "limits": {"max": 5000, "flags": ["a", "b"]}, "note": None},
        "rateLimitPerFrequency": 50,
        "rateLimitFrequencyInSeconds": 60,
        "isolationGroupId": "payments",
        "executionNameSpace": "billing",
        "ownerEmail": owner,
        "pollTimeoutSeconds": 45,
        "backoffScaleFactor": 2,
        "maxRetryDelaySeconds": 120,
        "backoffJitterMs": 250,
        "baseType": "SIMPLE",
        "totalTimeoutSeconds": 3600,
        "inputSchema": {"name": "charge_in", "type": "JSON", "version": 2},
        "outputSchema": {"name": "charge_out", "type": "JSON"},
        "enforceSchema": True,
        **extra,
    }


def nested_workflow(name: str, version: int, owner: str, simple: list[str]) -> dict:
    a, b, c = simple
    return {
        "name": name,
        "description": "order fulfilment, kitchensink style",
        "version": version,
        "schemaVersion": 2,
        "ownerEmail": owner,
        "inputParameters": ["order_id", "kind"],
        "outputParameters": {"charge": "${charge_ref.output.charge_id}"},
        "timeoutPolicy": "TIME_OUT_WF",
        "timeoutSeconds": 7200,
        "restartable": False,
        "variables": {"attempts": 0},
        "tasks": [
            {"name": a, "taskReferenceName": "charge_ref", "type": "SIMPLE",
             "inputParameters": {"order_id": "${workflow.input.order_id}"}},
            {"name": "route", "taskReferenceName": "route_ref", "type": "SWITCH", "evaluatorType": "value-param",
             "expression": "kind", "inputParameters": {"kind": "${workflow.input.kind}"},
             "decisionCases": {
                 "digital": [{"name": b, "taskReferenceName": "send_ref", "type": "SIMPLE", "optional": True}],
                 "physical": [
                     {"name": "fork", "taskReferenceName": "fork_ref", "type": "FORK_JOIN", "forkTasks": [
                         [{"name": b, "taskReferenceName": "label_ref", "type": "SIMPLE"}],
                         [{"name": c, "taskReferenceName": "notify_ref", "type": "SIMPLE", "startDelay": 5}],
                     ]},
                     {"name": "join", "taskReferenceName": "join_ref", "type": "JOIN",
                      "joinOn": ["label_ref", "notify_ref"]},
                 ],
             },
             "defaultCase": [{"name": "loop", "taskReferenceName": "loop_ref", "type": "DO_WHILE",
                              "loopCondition": "if ($.loop_ref['iteration'] < 3) { true; } else { false; }",
                              "loopOver": [{"name": c, "taskReferenceName": "poll_ref", "type": "SIMPLE"}]}]},
            {"name": "sub", "taskReferenceName": "sub_ref", "type": "SUB_WORKFLOW",
             "subWorkflowParam": {"name": f"{name}_inner", "version": 1, "workflowDefinition": {
                 "name": f"{name}_inner", "version": 1, "schemaVersion": 2,
                 "tasks": [{"name": a, "taskReferenceName": "inner_ref", "type": "SIMPLE"}]}}},
        ],
    }  # fmt: skip


def ours(remote, owner: str) -> dict:
    """Every definition of this owner on the server, normalised, by key."""
    found = {f"task:{t['name']}": normalise_taskdef(t) for t in remote.list_task_defs() if t.get("ownerEmail") == owner}
    found |= {
        f"workflow:{w['name']}:{w['version']}": normalise_workflowdef(w)
        for w in remote.list_workflow_defs()
        if w.get("ownerEmail") == owner
    }
    return found


@pytest.fixture
def populated(cli_project, remote, unique):
    """A server populated by raw API calls: three tasks (names that are no Python module names among them)
    and a nested workflow in two versions, all of this project's owner."""
    owner = f"{unique}@test.idflow"
    names = [f"{unique}-charge", f"{unique}.ship", f"{unique}_notify"]
    remote.create_task_defs([
        full_task(names[0], owner),
        {"name": names[1], "ownerEmail": owner, "description": "Ship\n\nit: \"fast\" \\ now", "retryCount": 0},
        {"name": names[2], "ownerEmail": owner},
    ])  # fmt: skip
    workflow = f"{unique} fulfilment"
    remote.put_workflow_defs([nested_workflow(workflow, 1, owner, names), nested_workflow(workflow, 2, owner, names)])
    return owner, names, workflow


def test_import_into_an_empty_project_is_ruff_clean_and_the_next_plan_is_empty(cli_project, remote, populated):
    _owner, names, workflow = populated
    result = cli_project("import", "--all")
    assert result.exit_code == 0, result.output
    root = cli_project.root
    assert (root / "idflow" / "tasks" / f"{names[0].replace('-', '_')}" / f"{names[0].replace('-', '_')}.py").is_file()
    assert f"task {names[0]!r} is written as the module" in result.stderr  # the mapping is said
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and "config" not in p.parts)
    assert len([f for f in files if f.endswith(".py")]) == 3 and len([f for f in files if f.endswith(".yaml")]) == 2
    charge = (root / "idflow" / "tasks" / names[0].replace("-", "_") / f"{names[0].replace('-', '_')}.py").read_text()
    assert "retry_count=5," in charge and "backoff_jitter_ms=250," in charge and "raise NotImplementedError(" in charge
    assert '"""Charge the customer\'s card for one order."""' in charge and "owner_email" not in charge
    workflow_file = next(root.glob("idflow/workflows/*/*.v2.yaml")).read_text()
    assert workflow_file.startswith("# yaml-language-server: $schema=../../../schemas/idflow-workflow.schema.json\n")
    assert "createTime" not in workflow_file and "ownerEmail" not in workflow_file

    for command in (["check", "--isolated", "."], ["format", "--isolated", "--check", "."]):
        ruff = subprocess.run([str(RUFF), *command], cwd=root / "idflow", capture_output=True, text=True)
        assert ruff.returncode == 0, ruff.stdout + ruff.stderr

    plan = cli_project("plan", "--detailed-exitcode", "--format", "json")
    assert plan.exit_code == 0, plan.output
    doc = json.loads(plan.stdout)
    assert {c["name"] for c in doc["changes"]} >= {*names, workflow}
    assert all(c["action"] == "no-op" for c in doc["changes"]), [c for c in doc["changes"] if c["action"] != "no-op"]

    # Again: nothing is overwritten without --force; with it the files are rewritten in place, the same.
    again = cli_project("import", "--all")
    assert again.exit_code == 0 and again.stderr.count("exists; --force replaces it") == 5, again.output
    before = {p: p.read_text() for p in root.rglob("*.py")}
    forced = cli_project("import", "--all", "--force")
    assert forced.exit_code == 0 and "Imported 5 object(s)" in forced.stderr, forced.output
    assert {p: p.read_text() for p in root.rglob("*.py")} == before


def test_import_json_format_and_named_objects(cli_project, remote, populated):
    _owner, names, workflow = populated
    result = cli_project("import", "--format", "json", "--kind", "workflow", workflow)
    assert result.exit_code == 0, result.output
    files = sorted(cli_project.root.glob("idflow/workflows/*/*.json"))
    assert [f.name.split(".")[-2] for f in files] == ["v1", "v2"]
    assert json.loads(files[0].read_text())["$schema"] == "../../../schemas/idflow-workflow.schema.json"
    assert not list(cli_project.root.glob("idflow/tasks/*/*.py"))
    missing = cli_project("import", f"{names[0]}-nope")
    assert missing.exit_code == 1 and "on the server; nothing was written" in missing.stderr


def test_import_never_writes_outside_the_project_or_through_a_symlink(cli_project, remote, populated, tmp_path_factory):
    _owner, names, workflow = populated
    outside = tmp_path_factory.mktemp("outside")
    workflows = cli_project.root / "idflow" / "workflows"
    workflows.symlink_to(outside, target_is_directory=True)  # the folder leads out of the project
    result = cli_project("import", "--kind", "workflow", workflow)
    assert result.exit_code == 1 and "idflow writes only inside it" in result.stderr, result.output
    assert list(outside.iterdir()) == []
    workflows.unlink()

    assert cli_project("import", "--kind", "task", names[2]).exit_code == 0
    target = outside / "victim.py"
    target.write_text("keep me\n")
    written = next((cli_project.root / "idflow" / "tasks").glob("*/*.py"))
    written.unlink()
    written.symlink_to(target)  # a link planted where the file was: --force must not write through it
    forced = cli_project("import", "--force", "--kind", "task", names[2])
    assert forced.exit_code == 1 and "symbolic link" in forced.stderr, forced.output
    assert target.read_text() == "keep me\n"


def test_export_wipe_and_restore_give_back_identical_definitions(cli_project, remote, populated, tmp_path):
    owner, names, workflow = populated
    before = ours(remote, owner)
    assert len(before) == 5
    folder = tmp_path / "backup"
    result = cli_project("export", str(folder))
    assert result.exit_code == 0, result.output
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["server_url"] == cli_project.env["CONDUCTOR_SERVER_URL"] and manifest["exported_at"]
    assert manifest["counts"]["task"] >= 3 and manifest["counts"]["workflow"] >= 2
    import hashlib

    for relative, entry in manifest["files"].items():
        assert entry["sha256"] == "sha256:" + hashlib.sha256((folder / relative).read_bytes()).hexdigest()
    assert {e["name"] for e in manifest["files"].values()} >= {*names, workflow}
    assert not any(e["name"].startswith("idflow_apply_") for e in manifest["files"].values())

    for version in (1, 2):
        remote.delete_workflow_def(workflow, version)
    for name in names:
        remote.delete_task_def(name)
    assert ours(remote, owner) == {}

    plan = cli_project("plan", "--from", str(folder), "--format", "json")
    assert plan.exit_code == 0, plan.output
    doc = json.loads(plan.stdout)
    assert sorted(c["name"] for c in doc["changes"] if c["action"] == "create") == sorted([*names, workflow, workflow])
    assert any("definition(s) of other owners in the export are left out" in n for n in doc["notes"]) or (
        manifest["counts"]["task"] + manifest["counts"]["workflow"] == 5
    )
    applied = cli_project("apply", str(cli_project.root / "state" / "plan.json"), "-y")
    assert applied.exit_code == 0, applied.output
    assert ours(remote, owner) == before

    # A file changed after the export is refused by name; nothing is planned.
    first = next(iter(manifest["files"]))
    (folder / first).write_text((folder / first).read_text().replace("}", ' , "x": 1}', 1))
    tampered = cli_project("plan", "--from", str(folder))
    assert tampered.exit_code == 1 and "changed since the export" in tampered.stderr


@pytest.fixture
def with_starts(remote, populated, unique):
    """A handler with a start_workflow action and a paused schedule of the populated workflow, created by
    raw API calls as conductor-oss stores them (removed afterwards)."""
    _owner, _names, workflow = populated
    handler = {
        "name": f"{unique}_on_order",
        "event": f"conductor:{unique}_orders:placed",
        "condition": "$.kind == 'digital'",
        "evaluatorType": "javascript",
        "active": True,
        "actions": [{"action": "start_workflow",
                     "start_workflow": {"name": workflow, "version": 2, "input": {"order_id": "${order_id}"}}}],
    }  # fmt: skip
    schedule = {
        "name": f"{unique}_nightly",
        "cronExpression": "0 0 2 * * ?",
        "zoneId": "Europe/Berlin",
        "paused": True,
        "description": "the nightly batch",
        "startWorkflowRequest": {"name": workflow, "version": 1, "input": {"kind": "physical"}},
    }
    remote.create_event_handler(handler)
    remote.create_schedule(schedule)
    yield handler["name"], schedule["name"]
    for item in remote.list_event_handlers():
        if item["name"].startswith(unique):
            remote.delete_event_handler(item["name"])
    for item in remote.list_schedules():
        if item["name"].startswith(unique):
            remote.delete_schedule(item["name"])


def handlers_and_schedules(remote, unique: str) -> dict:
    from idflow.kinds.event_normal import normalise_event_handler
    from idflow.kinds.schedule_normal import normalise_schedule

    found = {f"event:{h['name']}": normalise_event_handler(h) for h in remote.list_event_handlers()
             if h["name"].startswith(unique)}  # fmt: skip
    found |= {f"schedule:{s['name']}": normalise_schedule(s) for s in remote.list_schedules()
              if s["name"].startswith(unique)}  # fmt: skip
    return found


def test_a_handler_and_a_schedule_are_imported_unchanged_and_restored_from_an_export(
    cli_project, remote, populated, with_starts, unique, tmp_path
):
    handler, schedule = with_starts
    before = handlers_and_schedules(remote, unique)
    assert set(before) == {f"event:{handler}", f"schedule:{schedule}"}
    result = cli_project("import", "--all")
    assert result.exit_code == 0 and "Imported 7 object(s)" in result.stderr, result.output
    root = cli_project.root
    handler_file = (root / "idflow" / "events" / f"{handler}.yaml").read_text()
    schedule_file = (root / "idflow" / "schedules" / f"{schedule}.yaml").read_text()
    assert handler_file.startswith(f"name: {handler}\nevent: ") and "start_workflow:" in handler_file
    assert "createTime" not in schedule_file and "updatedBy" not in schedule_file and "paused: true" in schedule_file

    plan = cli_project("plan", "--detailed-exitcode", "--format", "json")
    assert plan.exit_code == 0, plan.output
    changes = {(c["kind"], c["name"]): c["action"] for c in json.loads(plan.stdout)["changes"]}
    assert changes[("event", handler)] == "no-op" and changes[("schedule", schedule)] == "no-op", changes

    folder = tmp_path / "backup"
    exported = cli_project("export", str(folder))
    assert exported.exit_code == 0, exported.output
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["counts"]["event"] >= 1 and manifest["counts"]["schedule"] >= 1
    assert {(e["kind"], e["name"]) for e in manifest["files"].values()} >= {("event", handler), ("schedule", schedule)}
    remote.delete_event_handler(handler)
    remote.delete_schedule(schedule)
    assert handlers_and_schedules(remote, unique) == {}

    restore = cli_project("plan", "--from", str(folder), "--format", "json")
    assert restore.exit_code == 0, restore.output
    created = {(c["kind"], c["name"]) for c in json.loads(restore.stdout)["changes"] if c["action"] == "create"}
    assert created == {("event", handler), ("schedule", schedule)}, created
    applied = cli_project("apply", str(cli_project.root / "state" / "plan.json"), "-y")
    assert applied.exit_code == 0, applied.output
    assert handlers_and_schedules(remote, unique) == before


def _report(output: str) -> str:
    return re.search(r"Report: (\S+)", output).group(1)


def test_an_apply_that_creates_updates_and_deletes_is_reverted_exactly(cli_project, remote, unique):
    owner = f"{unique}@test.idflow"
    a, b, c = f"{unique}_a", f"{unique}_b", f"{unique}_c"
    cli_project.write_task(a, retry_count=2)
    cli_project.write_task(b, retry_count=3, description="to be deleted")
    workflows = cli_project.root / "idflow" / "workflows"
    workflows.mkdir()
    (workflows / "w.yaml").write_text(f"name: {unique}_w\nversion: 1\ntasks:\n- {{name: {a}, taskReferenceName: a}}\n")
    first = cli_project("apply", "--plan-now", "-y")
    assert first.exit_code == 0, first.output
    state_before = ours(remote, owner)

    cli_project.write_task(a, retry_count=7, timeout_seconds=600, response_timeout_seconds=60)
    cli_project.remove_task(b)
    cli_project.write_task(c)
    (workflows / "w.yaml").write_text(
        f"name: {unique}_w\nversion: 1\ntasks:\n- {{name: {a}, taskReferenceName: a}}\n"
        f"- {{name: {c}, taskReferenceName: c}}\n"
    )
    second = cli_project("apply", "--plan-now", "-y")
    assert second.exit_code == 0, second.output
    report = _report(second.output)
    assert ours(remote, owner) != state_before

    plan = cli_project("plan", "--revert", report, "--format", "json")
    assert plan.exit_code == 0, plan.output
    doc = json.loads(plan.stdout)
    actions = {c["name"]: c["action"] for c in doc["changes"]}
    assert actions == {a: "update", b: "create", c: "delete", f"{unique}_w": "update"}, actions
    assert any("0 refused" in n for n in doc["notes"]), doc["notes"]
    applied = cli_project("apply", str(cli_project.root / "state" / "plan.json"), "-y")
    assert applied.exit_code == 0, applied.output
    assert ours(remote, owner) == state_before


def test_a_revert_is_refused_for_objects_changed_on_the_server_since(cli_project, remote, unique):
    owner = f"{unique}@test.idflow"
    a, b, s = f"{unique}_a", f"{unique}_b", f"{unique}_s"
    cli_project.write_task(a, retry_count=2)
    cli_project.write_task(b, retry_count=2)
    cli_project.write_task(s, input_template={"api_key": "k-12345678", "url": "http://x"})
    assert cli_project("apply", "--plan-now", "-y").exit_code == 0
    cli_project.write_task(a, retry_count=4)
    cli_project.write_task(b, retry_count=4)
    cli_project.write_task(s, input_template={"api_key": "k-87654321", "url": "http://y"})
    second = cli_project("apply", "--plan-now", "-y")
    assert second.exit_code == 0, second.output
    report = Path(_report(second.output))
    assert "k-12345678" not in report.read_text()  # the report keeps nothing secret
    remote.update_task_def({**remote.get_task_def(b), "retryCount": 9})  # changed since that apply

    plan = cli_project("plan", "--revert", str(report), "--format", "json")
    assert plan.exit_code == 0, plan.output
    doc = json.loads(plan.stdout)
    actions = {c["name"]: c["action"] for c in doc["changes"]}
    assert actions == {a: "update", b: "no-op", s: "no-op"}, actions
    assert any(f"task {b}: changed on the server since that apply" in w for w in doc["warnings"]), doc["warnings"]
    assert any(f"task {s}: the report masks a secret-looking value" in w and "inputTemplate.api_key" in w
               for w in doc["warnings"]), doc["warnings"]  # fmt: skip
    assert cli_project("apply", str(cli_project.root / "state" / "plan.json"), "-y").exit_code == 0
    now = ours(remote, owner)
    assert now[f"task:{a}"]["retryCount"] == 2 and now[f"task:{b}"]["retryCount"] == 9
    assert now[f"task:{s}"]["inputTemplate"]["url"] == "http://y"
