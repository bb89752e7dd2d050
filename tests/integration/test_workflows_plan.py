"""Workflows as desired state in the same plan as tasks, against the real server."""

from __future__ import annotations

import html
import json

import pytest

pytestmark = pytest.mark.integration


def write_workflow(cli, filename, text):
    folder = cli.root / "idflow" / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_text(text)


def wf_v1(name, a, old):
    return json.dumps(
        {
            "name": name,
            "version": 1,
            "schemaVersion": 2,
            "tasks": [
                {"name": a, "taskReferenceName": "a", "type": "SIMPLE"},
                *([{"name": old, "taskReferenceName": "old", "type": "SIMPLE"}] if old else []),
            ],
        }
    )


WF_V2_J2 = """
name: {{ wf }}
version: 2
schemaVersion: 2
description: "{{ desc }}"
tasks:
  - name: fork
    taskReferenceName: fork
    type: FORK_JOIN
    forkTasks:
      - - name: {{ a }}
          taskReferenceName: a2
          type: SIMPLE
      - - name: pick
          taskReferenceName: pick
          type: SWITCH
          evaluatorType: value-param
          expression: k
          inputParameters: {k: "x"}
          decisionCases:
            x:
              - name: {{ new }}
                taskReferenceName: n
                type: SIMPLE
                inputParameters: {level: {{ level }}}
  - name: join
    taskReferenceName: join
    type: JOIN
    joinOn: [a2, pick]
"""


def test_pull_request_sized_change_plans_and_applies_in_order(cli_project, remote, unique):
    a, old, new, wf = f"{unique}_a", f"{unique}_old", f"{unique}_new", f"{unique}_wf"
    owner = f"{unique}@test.idflow"
    cli_project.write_config(f"owner_email: {owner}\nvars:\n  desc: second version\n")
    cli_project.write_task(a)
    cli_project.write_task(old)
    write_workflow(cli_project, "wf_v1.json", wf_v1(wf, a, old))
    first = cli_project("apply", "--plan-now", "-y")
    assert first.exit_code == 0, first.output
    try:
        # The pull request: a new task, a new workflow version using it, and a task no longer used.
        cli_project.write_task(new)
        cli_project.remove_task(old)
        write_workflow(cli_project, "wf_v1.json", wf_v1(wf, a, None))
        write_workflow(
            cli_project,
            "wf_v2.yaml.j2",
            WF_V2_J2.replace("{{ wf }}", wf)
            .replace("{{ a }}", a)
            .replace("{{ new }}", new)
            .replace("{{ level }}", "1"),
        )
        doc = json.loads(cli_project("plan", "--format", "json").stdout)
        actions = {(c["kind"], c["name"], c["version"]): c["action"] for c in doc["changes"] if c["action"] != "no-op"}
        assert actions == {
            ("task", new, None): "create",
            ("task", old, None): "delete",
            ("workflow", wf, 1): "update",
            ("workflow", wf, 2): "create",
        }
        assert not [c for c in doc["changes"] if c["blockers"]]

        result = cli_project("apply", "-y")
        assert result.exit_code == 0, result.output
        (report,) = sorted((cli_project.root / "state").glob("apply-*.json"))[-1:]
        order = [(r["kind"], r["action"]) for r in json.loads(report.read_text())["results"]]
        assert order == [("task", "create"), ("workflow", "update"), ("workflow", "create"), ("task", "delete")]
        assert remote.get_task_def(old) is None
        assert remote.get_workflow_def(wf, 2)["description"] == "second version"

        assert "No changes." in cli_project("plan").stdout

        # A nested change renders readably in all three formats.
        write_workflow(
            cli_project,
            "wf_v2.yaml.j2",
            WF_V2_J2.replace("{{ wf }}", wf)
            .replace("{{ a }}", a)
            .replace("{{ new }}", new)
            .replace("{{ level }}", "2"),
        )
        path = "tasks[0](fork).forkTasks[1][0](pick).decisionCases.x[0](n).inputParameters.level"
        text = cli_project("plan").stdout
        assert f"~ workflow {wf} v2" in text and f"{path}: 1 -> 2" in text
        assert path in html.unescape(cli_project("plan", "--format", "markdown").stdout)  # brackets as entities
        diff = json.loads(cli_project("plan", "--format", "json").stdout)["changes"]
        assert {"path": path, "before": 1, "after": 2} in [d for c in diff for d in c["diff"]]
    finally:
        for version in (1, 2):
            if remote.get_workflow_def(wf, version):
                remote.delete_workflow_def(wf, version)


def test_validation_errors_before_any_server_write(cli_project, remote, unique):
    wf = f"{unique}_wf"
    write_workflow(
        cli_project,
        "bad.json",
        json.dumps(
            {
                "name": wf,
                "version": 1,
                "schemaVersion": 2,
                "tasks": [{"name": f"{unique}_ghost", "taskReferenceName": "g", "type": "SIMPLE"}],
            }
        ),
    )
    result = cli_project("plan")
    assert result.exit_code == 1
    assert "bad.json" in result.stderr and f"{unique}_ghost" in result.stderr
    assert remote.get_workflow_def(wf, 1) is None


def test_undefined_template_variable_is_an_error(cli_project):
    write_workflow(cli_project, "w.yaml.j2", "name: x\nversion: 1\ndescription: {{ missing }}\ntasks: []\n")
    result = cli_project("plan")
    assert result.exit_code == 1 and "w.yaml.j2" in result.stderr and "missing" in result.stderr


def test_remote_only_versions_reported_and_pruned_on_request(cli_project, remote, unique):
    a, wf = f"{unique}_a", f"{unique}_wf"
    cli_project.write_task(a)
    write_workflow(cli_project, "wf_v1.json", wf_v1(wf, a, None))
    assert cli_project("apply", "--plan-now", "-y").exit_code == 0
    owned = {"version": 5, "ownerEmail": f"{unique}@test.idflow"}
    remote.put_workflow_defs([json.loads(wf_v1(wf, a, None)) | owned, json.loads(wf_v1(wf, a, None)) | {"version": 6}])
    try:
        text = cli_project("plan").stdout
        assert "workflow version" in text and "not managed here" in text and "No changes." in text
        assert f"? workflow {wf}:5" in cli_project("-v", "plan").stdout
        listing = json.loads(cli_project("workflows", "list", "--sync", "--format", "json").stdout)
        assert f"{wf} v5" in {r["name"] for r in listing["Remote Only"]}
        assert f"{wf} v1" in {r["name"] for r in listing["Common Workflows"]}
        assert cli_project("plan", "--prune-workflows").exit_code == 0
        assert cli_project("apply", "-y").exit_code == 0
        assert remote.get_workflow_def(wf, 5) is None and remote.get_workflow_def(wf, 1) is not None
        assert remote.get_workflow_def(wf, 6) is not None, "a version of another owner is never pruned"
    finally:
        remote.delete_workflow_def(wf, 1)
        remote.delete_workflow_def(wf, 6)


def test_reconcile_is_the_programmatic_entry_point(cli_project, remote, unique, conductor_url):
    from idflow.config import load_config
    from idflow.plan.inputs import load_desired
    from idflow.plan.model import PlanOptions
    from idflow.reconcile import apply_saved_plan, make_plan

    a, wf = f"{unique}_a", f"{unique}_wf"
    cli_project.write_task(a)
    write_workflow(cli_project, "w.json", wf_v1(wf, a, None))
    config = load_config(cli_project.config_path, environ={"CONDUCTOR_SERVER_URL": conductor_url})
    assert set(load_desired(config).workflows) == {(wf, 1)}
    plan = make_plan(config, remote, PlanOptions())
    assert {c.name for c in plan.actionable} == {a, wf}
    outcome = apply_saved_plan(config, remote, plan, None)
    assert not outcome.failed and not make_plan(config, remote, PlanOptions()).has_changes
    remote.delete_workflow_def(wf, 1)
