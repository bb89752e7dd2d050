"""Event handlers and schedules in the same plan as tasks and workflows, through the CLI, on the real server:
the original idflow's ``event_handlers.json`` layout and a schedule file plan, apply and re-plan empty; an
edit made out of band is exactly that field; pruning a workflow version a schedule starts is blocked; an
invalid cron expression is a problem at its line, and nothing is sent."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.faultproxy import FaultProxy

pytestmark = pytest.mark.integration

SCHEDULE = """\
name: {name}
description: Ingest the sample every night
cronExpression: "{cron}"
zoneId: Europe/Berlin
paused: true
startWorkflowRequest:
  name: {wf}
  version: 1
  input:
    doc: sample
"""


def _workflow(name: str, version: int, task: str) -> str:
    return json.dumps({"name": name, "version": version, "schemaVersion": 2,
                       "tasks": [{"name": task, "taskReferenceName": "t", "type": "SIMPLE"}]})  # fmt: skip


def _project(cli, unique: str, cron: str = "0 30 2 * * ?") -> dict[str, str]:
    names = {"task": f"{unique}_t", "wf": f"{unique}_wf", "schedule": f"{unique}_nightly",
             "on_done": f"{unique}_on_done", "on_comment": f"{unique}_on_comment"}  # fmt: skip
    cli.write_task(names["task"])
    folder = cli.root / "idflow" / "workflows" / names["wf"]
    folder.mkdir(parents=True)
    (folder / "workflow.json").write_text(_workflow(names["wf"], 1, names["task"]))
    handlers = [  # the original idflow's layout: a JSON list beside the workflow
        {"name": names["on_done"], "description": "Starts the flow once a review is done",
         "event": "idflow:review.done", "condition": "$.docId != null", "evaluatorType": "javascript",
         "actions": [{"action": "start_workflow",
                      "start_workflow": {"name": names["wf"], "version": 1, "input": {"docId": "${docId}"}}}],
         "active": True},
        {"name": names["on_comment"], "event": "conductor:review:wait_comment",
         "actions": [{"action": "complete_task", "complete_task": {
             "workflowId": "${workflowId}", "taskRefName": "${taskRefName}", "output": {"c": "${c}"}}}],
         "active": True},
    ]  # fmt: skip
    (folder / "event_handlers.json").write_text(json.dumps(handlers, indent=2))
    schedules = cli.root / "idflow" / "schedules"
    schedules.mkdir(parents=True)
    (schedules / "nightly.yaml").write_text(SCHEDULE.format(name=names["schedule"], cron=cron, wf=names["wf"]))
    return names


def _cleanup(url: str, names: dict[str, str]) -> None:
    httpx.delete(f"{url}/scheduler/schedules/{names['schedule']}", timeout=30)
    for handler in (names["on_done"], names["on_comment"]):
        httpx.delete(f"{url}/event/{handler}", timeout=30)
    for version in (1, 2):
        httpx.delete(f"{url}/metadata/workflow/{names['wf']}/{version}", timeout=30)
    httpx.delete(f"{url}/metadata/taskdefs/{names['task']}", timeout=30)


def _changes(cli, *args: str) -> dict[str, dict]:
    result = cli("plan", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    changes = json.loads(result.stdout)["changes"]
    return {":".join(map(str, filter(None, (c["kind"], c["name"], c["version"])))): c for c in changes}


def test_handlers_and_a_schedule_plan_apply_replan_empty_and_show_drift(cli_project, unique, conductor_url) -> None:
    names = _project(cli_project, unique)
    try:
        planned = _changes(cli_project)
        for key in (f"event:{names['on_done']}", f"event:{names['on_comment']}", f"schedule:{names['schedule']}"):
            assert planned[key]["action"] == "create", key
        text = cli_project("plan").stdout
        assert f"+ event {names['on_done']}" in text and f"+ schedule {names['schedule']}" in text
        # the original's 'description' is dropped by the server: a warning at its line, never a difference
        assert "event_handlers.json:" in text and "'description' is ignored by the server" in text
        assert "not managed by idflow yet" not in text

        applied = cli_project("apply", "--plan-now", "-y")
        assert applied.exit_code == 0, applied.output
        stored = {s["name"]: s for s in httpx.get(f"{conductor_url}/scheduler/schedules", timeout=30).json()}
        assert stored[names["schedule"]]["paused"] is True  # created paused, as the file says
        again = cli_project("plan", "--detailed-exitcode")
        assert again.exit_code == 0 and "No changes." in again.stdout, again.output

        # out of band: a handler's condition, a schedule's cron; an operator resumes the schedule
        listed = httpx.get(f"{conductor_url}/event", timeout=30).json()
        handler = next(h for h in listed if h["name"] == names["on_done"])
        httpx.put(f"{conductor_url}/event", json={**handler, "condition": "true"}, timeout=30).raise_for_status()
        schedule = stored[names["schedule"]]
        edited = {**schedule, "cronExpression": "0 0 4 * * ?"}
        httpx.post(f"{conductor_url}/scheduler/schedules", json=edited, timeout=30).raise_for_status()
        url = f"{conductor_url}/scheduler/schedules/{names['schedule']}/resume"
        httpx.put(url, timeout=30).raise_for_status()
        drift = _changes(cli_project)
        updates = {k: [d["path"] for d in c["diff"]] for k, c in drift.items() if c["action"] == "update"}
        assert updates == {f"event:{names['on_done']}": ["condition"],
                           f"schedule:{names['schedule']}": ["cronExpression"]}  # fmt: skip
        assert drift[f"schedule:{names['schedule']}"]["reason"] == "changed-on-server"
        assert cli_project("plan", "--detailed-exitcode").exit_code == 2
        noted = cli_project("plan").stdout
        assert f"schedule '{names['schedule']}' is running on the server" in noted  # the pause is the operators'

        fixed = cli_project("apply", "--plan-now", "-y")
        assert fixed.exit_code == 0, fixed.output
        after = {s["name"]: s for s in httpx.get(f"{conductor_url}/scheduler/schedules", timeout=30).json()}
        assert after[names["schedule"]]["cronExpression"] == "0 30 2 * * ?"
        assert after[names["schedule"]]["paused"] is False  # the operator's resume stays
        assert "No changes." in cli_project("plan").stdout

        # v2 replaces v1 in the files; the schedule and a handler still start v1: pruning v1 is blocked
        folder = cli_project.root / "idflow" / "workflows" / names["wf"]
        (folder / "workflow.json").write_text(_workflow(names["wf"], 2, names["task"]))
        prune = _changes(cli_project, "--prune-workflows")
        pruned = next(c for c in prune.values() if c["kind"] == "workflow" and c["version"] == 1)
        assert pruned["action"] == "delete"
        users = sorted((b["kind"], b["name"], b["location"]) for b in pruned["blockers"])
        assert users == [("event", names["on_done"], "actions[0].start_workflow"),
                         ("schedule", names["schedule"], "startWorkflowRequest")]  # fmt: skip
        text = cli_project("plan", "--prune-workflows").stdout
        assert f"used by schedule {names['schedule']} at startWorkflowRequest" in text
        markdown = cli_project("plan", "--prune-workflows", "--format", "markdown").stdout
        assert "schedule <code>" in markdown or f"schedule `{names['schedule']}`" in markdown
        result = cli_project("apply", "--plan-now", "-y", "--prune-workflows")
        assert result.exit_code == 0, result.output
        left = {(w["name"], w["version"]) for w in httpx.get(f"{conductor_url}/metadata/workflow", timeout=30).json()}
        assert (names["wf"], 1) in left and (names["wf"], 2) in left

        # files removed: idflow deletes what its record says it applied, schedules and handlers first
        for path in (cli_project.root / "idflow" / "schedules").iterdir():
            path.unlink()
        (folder / "event_handlers.json").unlink()
        gone = _changes(cli_project)  # no handler file nor events folder: handlers are not managed at all
        assert not any(key.startswith("event:") for key in gone)
        (cli_project.root / "idflow" / "events").mkdir()  # an empty folder: managed, and none wanted
        gone = _changes(cli_project)
        assert gone[f"schedule:{names['schedule']}"]["action"] == "delete"
        assert gone[f"event:{names['on_done']}"]["action"] == "delete"
    finally:
        _cleanup(conductor_url, names)


def test_a_handler_or_schedule_of_nobodys_is_left_alone(cli_project, unique, conductor_url) -> None:
    theirs = f"{unique}_theirs"
    body = {"name": theirs, "event": "idflow:x", "actions": [{"action": "complete_task", "complete_task": {
        "workflowId": "w", "taskRefName": "r"}}], "active": True}  # fmt: skip
    httpx.post(f"{conductor_url}/event", json=body, timeout=30).raise_for_status()
    try:
        (cli_project.root / "idflow" / "events").mkdir(parents=True)
        planned = _changes(cli_project)
        assert f"event:{theirs}" not in planned  # on the server, not in the record: not ours
        assert theirs in json.dumps(json.loads(cli_project("plan", "--format", "json").stdout)["unmanaged"])
    finally:
        httpx.delete(f"{conductor_url}/event/{theirs}", timeout=30)


def test_an_invalid_cron_or_an_unknown_workflow_is_a_problem_at_its_line_and_nothing_is_sent(
    cli_project, unique, conductor_url
) -> None:
    names = _project(cli_project, unique, cron="0 61 2 * * ?")
    with FaultProxy(conductor_url.removesuffix("/api"), max_lifetime=120) as proxy:
        result = cli_project("plan", env={"CONDUCTOR_SERVER_URL": proxy.api_url})
        assert result.exit_code == 1
        assert "nightly.yaml:3:" in result.stderr and "minute" in result.stderr, result.stderr
        assert "Traceback" not in result.output
        assert proxy.requests == []  # not even a read: the files are checked first
        applied = cli_project("apply", "--plan-now", "-y", env={"CONDUCTOR_SERVER_URL": proxy.api_url})
        assert applied.exit_code == 1
        assert [r for r in proxy.requests if r.method != "GET"] == []

        path = cli_project.root / "idflow" / "schedules" / "nightly.yaml"
        path.write_text(SCHEDULE.format(name=names["schedule"], cron="0 0 2 * * ?", wf=f"{unique}_nowhere"))
        result = cli_project("plan", env={"CONDUCTOR_SERVER_URL": proxy.api_url})
        assert result.exit_code == 1
        assert "nightly.yaml:6:" in result.stderr and f"'{unique}_nowhere'" in result.stderr, result.stderr
        assert [r for r in proxy.requests if r.method != "GET"] == []
