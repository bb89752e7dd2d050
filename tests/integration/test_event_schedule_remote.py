"""Event handlers and schedules against the real server: the remote calls, the normal forms converging,
out-of-band edits seen as exactly their field, the server's model of both, and its cron parser."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from idflow.errors import Conflict, NoScheduler, NotFound
from idflow.kinds.event_normal import normalise_event_handler
from idflow.kinds.normal import Ignored
from idflow.kinds.schedule_normal import comparable_schedule, normalise_schedule, schedule_to_send
from idflow.kinds.server_model import (
    CRON_SCHEDULE,
    DROPPED,
    EVENT_ACTION,
    EVENT_HANDLER,
    MODEL,
    START_WORKFLOW_REQUEST,
    WORKFLOW_SCHEDULE,
    Struct,
    reachable,
)
from idflow.plan.diffing import field_diffs
from idflow.repo.cron import CronProblem, check_cron
from idflow.repo.event_files import read_event_handlers
from idflow.repo.schedule_files import read_schedules
from tests.conftest import remote_for
from tests.faultproxy import FaultProxy

pytestmark = pytest.mark.integration

UNKNOWN = "idflowMadeUpField"


@pytest.fixture
def cleanup(remote, unique):
    yield
    for handler in remote.list_event_handlers():
        if handler["name"].startswith(unique):
            remote.delete_event_handler(handler["name"])
    for schedule in remote.list_schedules():
        if schedule["name"].startswith(unique):
            remote.delete_schedule(schedule["name"])


def _by_name(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [item for item in items if item["name"] == name]
    return found


def _original_layout(root: Path, unique: str) -> Path:
    """A workflows tree like the original idflow's: handlers as a JSON list beside the workflow file."""
    folder = root / "idflow" / "workflows" / "review"
    folder.mkdir(parents=True)
    handlers = [
        {
            "name": f"{unique}_on_review_done",
            "description": "Starts publishing once a review is done",
            "event": "idflow:review.done",
            "evaluatorType": "javascript",
            "condition": "function ok(){ return !!($.docId); } ok();",
            "actions": [{"action": "start_workflow", "start_workflow": {
                "name": f"{unique}_publish", "version": 1, "input": {"docId": "${docId}"}}}],
            "active": True,
        },
        {
            "name": f"{unique}_on_comment",
            "event": "conductor:review:wait_comment",
            "actions": [{"action": "complete_task",
                         "complete_task": {"workflowId": "${workflowId}", "taskRefName": "${taskRefName}",
                                           "output": {"comment": "${comment}"}}}],
            "active": True,
        },
    ]  # fmt: skip
    path = folder / "event_handlers.json"
    path.write_text(json.dumps(handlers, indent=2))
    return path


def test_event_handlers_round_trip_and_converge(remote, unique, tmp_path, cleanup) -> None:
    handlers = read_event_handlers(
        tmp_path / "idflow" / "events", handler_lists=[_original_layout(tmp_path, unique)], variables={}, root=tmp_path
    )
    assert len(handlers) == 2
    for handler in handlers:
        remote.create_event_handler(handler.definition)
    listed = remote.list_event_handlers()
    for handler in handlers:  # written, read back, normalised: no difference at all
        assert normalise_event_handler(_by_name(listed, handler.name)) == handler.definition

    with pytest.raises(Conflict):
        remote.create_event_handler(handlers[0].definition)

    # an update lands, whole
    changed = copy.deepcopy(handlers[0].definition)
    changed["active"] = False
    remote.update_event_handler(changed)
    back = normalise_event_handler(_by_name(remote.list_event_handlers(), changed["name"]))
    assert back == changed

    # an edit made out of band (the UI, curl) is exactly that field
    edited = {**_by_name(remote.list_event_handlers(), changed["name"]), "condition": "$.docId != null"}
    httpx.put(f"{remote.url}/event", json=edited, timeout=30).raise_for_status()
    now = normalise_event_handler(_by_name(remote.list_event_handlers(), changed["name"]))
    assert [d.path for d in field_diffs(changed, now)] == ["condition"]

    remote.delete_event_handler(changed["name"])
    assert changed["name"] not in {h["name"] for h in remote.list_event_handlers()}
    with pytest.raises(NotFound):
        remote.delete_event_handler(changed["name"])
    with pytest.raises(NotFound):
        remote.update_event_handler(changed)


NIGHTLY = """\
name: {name}
description: every night at 02:30 in Berlin
cronExpression: "0 30 2 * * ?"
zoneId: Europe/Berlin
paused: true
startWorkflowRequest:
  name: {unique}_ingest
  version: 1
  input: {{title: nightly}}
  correlationId: nightly
"""


def test_schedules_round_trip_converge_and_keep_an_operators_pause(remote, unique, tmp_path, cleanup) -> None:
    folder = tmp_path / "idflow" / "schedules"
    folder.mkdir(parents=True)
    name = f"{unique}_nightly"
    (folder / "nightly.yaml").write_text(NIGHTLY.format(name=name, unique=unique))
    (schedule,) = read_schedules(folder, variables={}, root=tmp_path)
    remote.create_schedule(schedule_to_send(schedule.definition, None))
    stored = _by_name(remote.list_schedules(), name)
    assert stored["createTime"] > 0 and stored["paused"] is True  # created as the file says
    assert normalise_schedule(stored) == schedule.definition

    # an operator resumes it, and later pauses it again with a reason: never a difference to plan
    httpx.put(f"{remote.url}/scheduler/schedules/{name}/resume", timeout=30).raise_for_status()
    httpx.put(f"{remote.url}/scheduler/schedules/{name}/pause", params={"reason": "incident"}, timeout=30)
    on_server = normalise_schedule(_by_name(remote.list_schedules(), name))
    assert on_server["pausedReason"] == "incident"
    assert comparable_schedule(on_server) == comparable_schedule(schedule.definition)
    # an update of another field keeps that pause, and its reason
    changed = {**schedule.definition, "cronExpression": "0 0 3 * * ?", "paused": False}
    remote.update_schedule(schedule_to_send(changed, on_server))
    after = _by_name(remote.list_schedules(), name)
    assert after["cronExpression"] == "0 0 3 * * ?" and after["paused"] is True and after["pausedReason"] == "incident"
    assert after["createTime"] == stored["createTime"]

    # an out-of-band edit is exactly that field
    edited = {**after, "zoneId": "Asia/Tokyo"}
    httpx.post(f"{remote.url}/scheduler/schedules", json=edited, timeout=30).raise_for_status()
    now = comparable_schedule(normalise_schedule(_by_name(remote.list_schedules(), name)))
    assert [d.path for d in field_diffs(comparable_schedule(normalise_schedule(after)), now)] == ["zoneId"]

    remote.delete_schedule(name)
    assert name not in {s["name"] for s in remote.list_schedules()}
    remote.delete_schedule(name)  # absent: fine, as the server answers 200


def test_a_server_without_a_scheduler_is_a_distinct_answer(conductor_url, tmp_path) -> None:
    """conductor-oss started with conductor.scheduler.enabled=false answers the list with this 404
    (checked by hand on 3.32.3); the proxy answers it in front of the real server."""
    body = {"status": 404, "message": "No static resource api/scheduler/schedules.", "instance": "vm",
            "retryable": False}  # fmt: skip
    with FaultProxy(conductor_url.removesuffix("/api"), max_lifetime=120) as proxy:
        proxy.add_rule("GET", r"/scheduler/schedules$", "respond", status=404, body=body)
        remote = remote_for(proxy.api_url, tmp_path)
        with pytest.raises(NoScheduler, match="has no scheduler"):
            remote.list_schedules()
        assert isinstance(remote.list_event_handlers(), list)  # the rest of the server answers as ever


# -- the server's model of both kinds ---------------------------------------------------------------

SAMPLES: dict[tuple[str, str], Any] = {
    ("EventHandler", "event"): "conductor:x",
    ("EventHandlerAction", "action"): "start_workflow",
    ("WorkflowSchedule", "cronExpression"): "0 0 * * * ?",
    ("WorkflowSchedule", "zoneId"): "Europe/Berlin",
    ("CronSchedule", "zoneId"): "Asia/Tokyo",
    ("StartWorkflowRequest", "priority"): 5,
    ("StartWorkflowRequest", "workflowDef"): None,  # a WorkflowDef: test_server_model covers that structure
}


#: conductor-python's model classes of each structure: the fields they know are sent too, so a field the
#: server keeps and the model lacks is found (the Java source's fields are all in the model).
SDK_CLASSES = {
    "EventHandler": "EventHandler",
    "EventHandlerAction": "Action",
    "EventStartWorkflow": "StartWorkflow",
    "EventTaskDetails": "TaskDetails",
    "WorkflowSchedule": "WorkflowSchedule",
    "StartWorkflowRequest": "StartWorkflowRequest",
}


def _sdk_fields(struct: Struct) -> dict[str, str]:
    import conductor.client.http.models as models

    cls = getattr(models, SDK_CLASSES.get(struct.name, ""), None)
    return {} if cls is None else {cls.attribute_map.get(a, a): kind for a, kind in cls.swagger_types.items()}


def _full(struct: Struct, prefix: str) -> dict[str, Any]:
    """Every field of the model with a value that is not its default, every field conductor-python knows,
    one the server is known to drop, one unknown."""
    value: dict[str, Any] = {}
    for key, f in struct.fields.items():
        sample = SAMPLES.get((struct.name, key), ...)
        if sample is None:
            continue
        if sample is ...:
            sample = _sample(f.type, f.choices, f.default, prefix)
        value[key] = sample
    for key, kind in _sdk_fields(struct).items():
        if key not in value and key not in struct.server_owned and (struct.name, key) not in SAMPLES:
            other = [{"key": "k"}] if kind.startswith("list") else {}
            value[key] = {"str": "x", "int": 7, "bool": True}.get(kind, other)
    for key in DROPPED.get(struct.name, ()):
        value[key] = "dropped"
    value[UNKNOWN] = "x"
    if "name" in struct.fields:
        value["name"] = f"{prefix}_{struct.name}"
    return value


def _sample(type_: str, choices: tuple[str, ...], default: Any, prefix: str) -> Any:
    if choices:
        return next(c for c in choices if c != default)
    if type_ == "boolean":
        return not default if isinstance(default, bool) else True
    simple = {"string": "x", "integer": 7, "object": {"k": 1}, "list[string]": ["x"], "map[string]": {"k": "v"}}
    if type_ in simple:
        return simple[type_]
    if type_ in MODEL:
        return _full(MODEL[type_], prefix)
    if type_.startswith("list[") and type_[5:-1] in MODEL:
        return [_full(MODEL[type_[5:-1]], prefix)]
    raise AssertionError(f"no sample for {type_}")


def _survivors(struct: Struct, sent: dict[str, Any], back: dict[str, Any], where: str) -> list[str]:
    kept = {k for k in sent if k in back} - struct.server_owned
    modelled = set(sent) & set(struct.fields)
    problems = [f"{where}.{k}: in the model, but the server dropped it" for k in sorted(modelled - kept)]
    problems += [f"{where}.{k}: the server keeps it, but the model lacks it" for k in sorted(kept - modelled)]
    for key in sorted(kept & modelled):
        f = struct.fields[key]
        if f.type in MODEL and isinstance(sent[key], dict):
            problems += _survivors(MODEL[f.type], sent[key], back[key], f"{where}.{key}")
        elif f.type.startswith("list[") and f.type[5:-1] in MODEL:
            problems += _survivors(MODEL[f.type[5:-1]], sent[key][0], back[key][0], f"{where}.{key}[0]")
        elif back[key] != sent[key]:
            problems.append(f"{where}.{key}: sent {sent[key]!r}, read back {back[key]!r}")
    return problems


def test_the_model_of_event_handlers_is_the_servers(remote, unique, cleanup) -> None:
    handler = _full(EVENT_HANDLER, unique)
    action = handler["actions"][0]
    # every action type's parameters, each on an action of its own type (the server keeps them all)
    kinds = EVENT_ACTION.fields["action"].choices
    handler["actions"] = [{**action, "action": kind} for kind in kinds]
    remote.create_event_handler(handler)
    back = _by_name(remote.list_event_handlers(), handler["name"])
    problems = _survivors(EVENT_HANDLER, {**handler, "actions": [handler["actions"][0]]},
                          {**back, "actions": [back["actions"][0]]}, "EventHandler")  # fmt: skip
    for index in range(len(kinds)):
        problems += _survivors(EVENT_ACTION, handler["actions"][index], back["actions"][index], f"actions[{index}]")
    assert problems == [], "\n".join(problems)
    ignored: list[Ignored] = []
    assert normalise_event_handler(back) == normalise_event_handler(handler, ignored)
    assert {path[-1] for path, _struct in ignored} == {UNKNOWN, "description"}
    assert reachable(EVENT_HANDLER) == {s for s in MODEL if s == "EventHandler" or s.startswith("Event")}

    bare = {"name": f"{unique}_bare", "event": "sqs:q", "actions": [{"action": kind, kind: {}} for kind in kinds]}
    remote.create_event_handler(bare)
    got = _by_name(remote.list_event_handlers(), bare["name"])
    assert got == normalise_event_handler(bare)  # the server's defaults are the model's, and nothing else


def test_the_model_of_schedules_is_the_servers(remote, unique, cleanup) -> None:
    schedule = _full(WORKFLOW_SCHEDULE, unique)
    schedule["scheduleEndTime"] = schedule["scheduleStartTime"] + 1
    remote.create_schedule(schedule)
    back = _by_name(remote.list_schedules(), schedule["name"])
    problems = _survivors(WORKFLOW_SCHEDULE, schedule, back, "WorkflowSchedule")
    assert problems == [], "\n".join(problems)
    assert normalise_schedule(back) == normalise_schedule(schedule)
    assert {"createTime", "updatedTime", "createdBy", "updatedBy"} <= set(back)  # the server's own

    bare = {"name": f"{unique}_bare", "cronExpression": "0 0 * * * ?", "cronSchedules": [{}],
            "startWorkflowRequest": {"name": f"{unique}_wf"}}  # fmt: skip
    remote.create_schedule(bare)
    got = {k: v for k, v in _by_name(remote.list_schedules(), bare["name"]).items()
           if k not in WORKFLOW_SCHEDULE.server_owned}  # fmt: skip
    assert got == normalise_schedule(bare)
    assert got["cronSchedules"] == [CRON_SCHEDULE.defaults()]
    assert got["startWorkflowRequest"] == {"name": f"{unique}_wf", **START_WORKFLOW_REQUEST.defaults()}

    # an inline workflow definition comes back as a stored workflow does (defaults, audit fields, the
    # inline sub-workflow's name and version copied into its subWorkflowParam): it still converges
    child = {"name": "child", "tasks": [{"name": "c", "taskReferenceName": "c"}]}
    task = {"name": "t", "taskReferenceName": "t", "type": "SUB_WORKFLOW",
            "subWorkflowParam": {"name": "other", "workflowDefinition": child}}  # fmt: skip
    inline = {**bare, "name": f"{unique}_inline",
              "startWorkflowRequest": {"name": "inl", "workflowDef": {"name": "inl", "tasks": [task]}}}  # fmt: skip
    remote.create_schedule(inline)
    back = _by_name(remote.list_schedules(), inline["name"])
    assert back["startWorkflowRequest"]["workflowDef"]["createTime"] == 0
    assert normalise_schedule(back) == normalise_schedule(inline)


# -- the server's cron parser is the reference ---------------------------------------------------------

CRON_CASES = (
    "0 0 * * * ?", "not a cron", "0 0 25 * * ?", "0 0 0 L-3 * ?", "0 0 0 L-40 * ?", "0 0 0 L3 * ?",
    "0 0 0 LW * ?", "0 0 0 15W * ?", "0 0 0 32W * ?", "0 0 0 W * ?", "0 0 0 1,L * ?", "0 0 0 ? * 5L",
    "0 0 0 ? * L", "0 0 0 ? * 1#2", "0 0 0 ? * 1#0", "0 0 0 ? * 8#1", "0 0 0 ? * #1", "0 0 0 ? * 1#",
    "0 0 0 ? * MON#1", "0 0 0 ? * 1,?", "0 0 0 ? * 1,5L", "0 0 0 1,? * *", "@hourly", "@HOURLY", "@every",
    "0 */5 * * * MON-FRI", "0 0 0 ? * 7-1", "0 0 0 ? * 0", "0 0 0 ? * 8", "? 0 0 * * *", "0 0 0 * * * *",
    "0 0 * * *", "0 60 * * * ?", "0 0 24 * * ?", "0 0 0 0 * ?", "0 0 0 * 13 ?", "0 0 0 * jan-mar ?",
    "0 0 0 * JANUARY ?", "0 0 0 * * sun", "*/0 * * * * *", "5/15 * * * * *", "5-10/2 * * * * *",
    "10-5 * * * * *", "+5 * * * * *", "-5 * * * * *", "0  0   *  * * ?", " 0 0 * * * ? ", "0,,15 * * * * *",
    "0 0 0 ? * 7-0", "0 0 0 1-L * ?", "0 0 0 ? * 0L", "0 0 0 L/2 * ?", "0 0 0 ? ? ?", "0 0 0 ? * MONDAY",
    "", "@yearly", "0 0 12 1/3 * ?",
)  # fmt: skip


def test_idflow_reads_cron_expressions_as_the_server_does(remote) -> None:
    disagree = []
    valid = 0
    for expression in CRON_CASES:
        answer = httpx.get(
            f"{remote.url}/scheduler/nextFewSchedules", params={"cronExpression": expression, "limit": 1}, timeout=30
        )
        server_accepts = answer.status_code == 200
        try:
            check_cron(expression)
            ours = True
        except CronProblem:
            ours = False
        valid += server_accepts
        if ours != server_accepts:
            disagree.append(f"{expression!r}: server {server_accepts}, idflow {ours}")
    assert disagree == [], "\n".join(disagree)
    assert 15 < valid < len(CRON_CASES) - 15  # both kinds of case are there
