"""The workflows an event handler or a schedule starts (the edges for blockers and apply order), and the
remote calls of both kinds as the fake answers them (as conductor-oss does)."""

from __future__ import annotations

import inspect

import pytest

from idflow.errors import Conflict, NoScheduler, NotFound
from idflow.kinds.workflow_starts import WorkflowStart, handler_starts, schedule_starts, start_problem
from idflow.server.client import ConductorRemote, Remote
from tests.fakes import FakeRemote


def test_a_handlers_start_workflow_actions_are_its_uses() -> None:
    handler = {
        "name": "h",
        "actions": [
            {"action": "complete_task", "complete_task": {"taskId": "t"}},
            {"action": "start_workflow", "start_workflow": {"name": "a", "version": 2}},
            {"action": "start_workflow", "start_workflow": {"name": "b"}},  # the latest, at run time
            {"action": "start_workflow", "start_workflow": {"name": "", "version": 1}},
            {"action": "start_agent", "start_agent": {"name": "c", "version": 1}},  # an agent, not a workflow
        ],
    }
    assert list(handler_starts(handler)) == [
        WorkflowStart("a", 2, "actions[1].start_workflow"),
        WorkflowStart("b", None, "actions[2].start_workflow"),
    ]
    assert list(handler_starts({"name": "h", "actions": "x"})) == []


def test_a_schedule_uses_the_workflow_it_starts_unless_it_is_inline() -> None:
    request = {"name": "w", "version": 3, "input": {}}
    assert list(schedule_starts({"startWorkflowRequest": request})) == [WorkflowStart("w", 3, "startWorkflowRequest")]
    inline = {**request, "workflowDef": {"name": "w", "tasks": []}}
    assert list(schedule_starts({"startWorkflowRequest": inline})) == []


def test_a_start_of_something_defined_nowhere_is_named() -> None:
    known = {("a", 1), ("a", 2)}
    assert start_problem(WorkflowStart("a", 2, "x"), known) is None
    assert start_problem(WorkflowStart("a", None, "x"), known) is None
    assert "'a' version 3" in (start_problem(WorkflowStart("a", 3, "x"), known) or "")
    assert "starts workflow 'b', which is defined neither" in (
        start_problem(WorkflowStart("b", None, "x"), known) or ""
    )


def test_the_fake_and_the_real_remote_have_every_call_of_the_protocol() -> None:
    calls = [name for name in vars(Remote) if not name.startswith("_") and callable(getattr(Remote, name))]
    assert {"list_event_handlers", "create_schedule", "delete_schedule"} <= set(calls)
    for cls in (FakeRemote, ConductorRemote):
        for name in calls:
            assert callable(getattr(cls, name, None)), f"{cls.__name__} lacks {name}"
            wanted = list(inspect.signature(getattr(Remote, name)).parameters)
            assert list(inspect.signature(getattr(cls, name)).parameters) == wanted, (cls.__name__, name)


def test_the_fake_answers_as_the_server_does() -> None:
    fake = FakeRemote()
    handler = {"name": "h", "event": "sqs:q", "actions": [{"action": "fail_task", "fail_task": {"taskId": "t"}}]}
    fake.create_event_handler(handler)
    with pytest.raises(Conflict):
        fake.create_event_handler(handler)
    fake.update_event_handler({**handler, "active": True})
    assert fake.list_event_handlers() == [{**handler, "active": True}]
    fake.delete_event_handler("h")
    with pytest.raises(NotFound):
        fake.delete_event_handler("h")
    with pytest.raises(NotFound):
        fake.update_event_handler(handler)

    schedule = {"name": "s", "cronExpression": "@daily", "startWorkflowRequest": {"name": "w", "version": 1}}
    fake.create_schedule(schedule)
    first = fake.list_schedules()[0]["createTime"]
    fake.update_schedule({**schedule, "cronExpression": "@hourly"})
    (stored,) = fake.list_schedules()
    assert stored["cronExpression"] == "@hourly" and stored["createTime"] == first
    fake.delete_schedule("s")
    fake.delete_schedule("s")  # absent: fine
    fake.scheduler = False
    with pytest.raises(NoScheduler):
        fake.list_schedules()


def test_the_example_projects_handler_and_schedule_read_clean_and_start_its_workflow() -> None:
    from pathlib import Path

    from idflow.config import load_config
    from idflow.repo.event_files import check_event_starts, read_event_handlers
    from idflow.repo.schedule_files import check_schedule_starts, read_schedules
    from idflow.repo.workflow_files import load_workflows

    root = Path(__file__).resolve().parents[2] / "examples" / "docflow"
    config = load_config(cwd=root, environ={})
    (handler,) = read_event_handlers(root / "idflow" / "events", variables=config.vars, root=root)
    (schedule,) = read_schedules(root / "idflow" / "schedules", variables=config.vars, root=root)
    assert handler.notes == () and schedule.notes == ()
    assert schedule.definition["paused"] is True
    workflows = {
        (w.name, w.version) for w in load_workflows(root / "idflow" / "workflows", variables=config.vars, root=root)
    }
    assert [(s.name, s.version) for s in handler.starts + schedule.starts] == [("docflow_ingest", 1)] * 2
    assert check_event_starts([handler], workflows) == [] and check_schedule_starts([schedule], workflows) == []


def test_without_an_owner_field_only_the_apply_record_makes_a_handler_ours() -> None:
    from idflow.kinds.ownership import manages

    handler = {"name": "h", "event": "sqs:q", "actions": []}
    assert manages(None, handler, "event:h", {"event:h", "schedule:s"})
    assert not manages(None, handler, "event:h", {"schedule:h"})  # another kind of the same name
    assert not manages(None, handler, "event:h", ())  # no record (or an unreadable one): nothing is ours


def test_a_server_without_a_scheduler_bothers_only_projects_with_schedule_files() -> None:
    from pathlib import Path

    from idflow.kinds.schedules import remote_schedules

    fake = FakeRemote()
    fake.scheduler = False
    assert remote_schedules(fake, []) == []
    with pytest.raises(NoScheduler, match=r"has no scheduler .*this project has 1 schedule file\(s\) \(s/a.yaml\)"):
        remote_schedules(fake, [Path("s/a.yaml")])
    fake.scheduler = True
    fake.create_schedule({"name": "s", "startWorkflowRequest": {"name": "w", "version": 1}})
    assert [s["name"] for s in remote_schedules(fake, [Path("s/a.yaml")])] == ["s"]


# -- in the plan ---------------------------------------------------------------------------------------


def _with(kind: str, *definitions: dict) -> tuple:
    from types import MappingProxyType

    from idflow.kinds.key import Kind, ObjectKey
    from idflow.plan.inputs import DesiredObject

    objects = {ObjectKey(Kind(kind), d["name"]): DesiredObject(d, f"{kind}s/{d['name']}.yaml:1") for d in definitions}
    return Kind(kind), MappingProxyType(objects)


def _schedule(name: str, workflow: str, version: int, **fields) -> dict:
    from idflow.kinds.schedule_normal import normalise_schedule

    request = {"name": workflow, "version": version}
    body = {"name": name, "cronExpression": "0 0 2 * * ?", "startWorkflowRequest": request, **fields}
    return normalise_schedule(body)


def test_a_schedule_blocks_pruning_the_version_it_starts_and_deletes_run_schedules_first() -> None:
    from dataclasses import replace
    from types import MappingProxyType

    from idflow.apply.applier import steps_for
    from idflow.plan.inputs import actual_from_server
    from tests.factories import desired, plan_of, simple, workflow

    kind, objects = _with("schedule", _schedule("nightly", "w", 1))
    wanted = desired(workflows=[workflow("w", 2, [simple("t")])])
    wanted = replace(wanted, others=MappingProxyType({kind: objects}))
    now = actual_from_server([], [workflow("w", 1, [simple("t")]), workflow("old", 1, [simple("t")])],
                             {kind: [_schedule("nightly", "w", 1), _schedule("gone", "old", 1)]})  # fmt: skip
    from tests.factories import applied_record

    record = applied_record(now)
    record = replace(record, objects=MappingProxyType({**record.objects, **{
        f"schedule:{n}": next(iter(record.objects.values())) for n in ("nightly", "gone")}}))  # fmt: skip
    plan = plan_of(wanted, now, prune_workflows=True, record=record)
    by_key = {c.key: c for c in plan.changes}
    blocked = by_key["workflow:w:1"]
    assert blocked.blocked
    assert [str(b) for b in blocked.blockers] == ["used by schedule nightly at startWorkflowRequest"]
    assert blocked.blockers[0].to_dict()["user"] == "schedule nightly"
    assert not by_key["workflow:old:1"].blocked  # its schedule goes in the same plan
    assert by_key["schedule:gone"].action.value == "delete"
    names = [s.name for s in steps_for(plan)]
    assert names.index("delete schedules") < names.index("delete workflows")
    assert names.index("create or update workflows") < names.index("delete schedules")
    assert set(plan.usage_fingerprints) >= {"workflow:old:1"}


def test_a_blocker_of_a_plan_file_before_kinds_is_still_a_workflows() -> None:
    from idflow.kinds.key import Kind
    from idflow.plan.model import Blocker

    old = Blocker.from_dict({"workflow": "w", "version": 3, "location": "tasks[0]", "ref": "r"})
    assert old.user.kind is Kind.WORKFLOW and old.user.version == 3 and str(old) == "used by workflow w v3 at tasks[0]"
    assert Blocker.from_dict(old.to_dict()) == old
