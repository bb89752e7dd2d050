"""The applier against an in-memory remote: order, isolation of failures, honest reports."""

from __future__ import annotations

import pytest

from idflow.apply.applier import Executor, Status, check_stale, explain, steps_for
from idflow.errors import RemoteTimeout, ServerUnavailable, StalePlanError
from idflow.plan.inputs import read_actual
from idflow.plan.model import PlanOptions
from idflow.plan.planner import build_plan
from tests.factories import applied_record, desired, simple, workflow
from tests.fakes import FakeRemote


def plan_for(remote, wanted, **options):
    """As if idflow had applied everything the fake server holds (no owner_email: the record says what is ours)."""
    now = read_actual(remote)
    return build_plan(wanted, now, PlanOptions(**options), server_url=remote.url, record=applied_record(now))


def statuses(results):
    return {r.change.name: r.status for r in results}


@pytest.fixture
def remote():
    fake = FakeRemote()
    fake.tasks = {n: {"name": n} for n in ("upd1", "upd2", "old")}
    return fake


def test_order_bulk_create_parallel_updates_deletes_last(remote):
    wanted = desired(
        {"name": "new1"},
        {"name": "new2"},
        {"name": "upd1", "retryCount": 0},
        {"name": "upd2", "retryCount": 1},
        workflows=[workflow("w", 1, [simple("new1")])],
    )
    plan = plan_for(remote, wanted)
    assert [s.name for s in steps_for(plan)] == [
        "create tasks",
        "update tasks",
        "create or update workflows",
        "delete tasks",
    ]
    results = Executor(remote, plan).run()
    assert all(r.status is Status.APPLIED for r in results)
    writes = [c for c in remote.calls if not c.startswith(("list", "get"))]
    assert writes[0] == "create_task_defs:new1,new2"
    assert sorted(writes[1:3]) == ["update_task_def:upd1", "update_task_def:upd2"]
    assert writes[3:] == ["put_workflow_defs:w", "delete_task_def:old"]
    assert "one request, 2 definitions" in explain(plan)[0]


def test_one_rejected_definition_in_the_bulk_create_fails_alone(remote):
    plan = plan_for(remote, desired({"name": "good"}, {"name": "bad", "timeoutSeconds": 5}), targets=("good", "bad"))
    results = Executor(remote, plan).run()
    assert statuses(results) == {"good": Status.APPLIED, "bad": Status.FAILED}
    assert results[-1].field_errors or any(r.field_errors for r in results)
    assert "good" in remote.tasks and "bad" not in remote.tasks


def test_transient_failure_whose_write_landed_is_reported_applied(remote):
    remote.fail("update:upd1", RemoteTimeout("no answer within 1s"), after_write=True)
    remote.fail("update:upd2", ServerUnavailable("HTTP 503"), after_write=False)
    plan = plan_for(
        remote, desired({"name": "upd1", "retryCount": 0}, {"name": "upd2", "retryCount": 0}), targets=("upd1", "upd2")
    )
    results = {r.change.name: r for r in Executor(remote, plan).run()}
    assert results["upd1"].status is Status.APPLIED and "confirmed on the server" in results["upd1"].detail
    assert results["upd2"].status is Status.FAILED
    assert remote.tasks["upd1"]["retryCount"] == 0 and "retryCount" not in remote.tasks["upd2"]


def test_read_back_after_a_transient_failure_uses_the_list_not_a_stale_single_read(remote):
    """On a PostgreSQL cluster, GET /taskdefs/{name} on another node answers from a cache up to 60 s old;
    the read-back must use the list call (the database), or a write that landed is reported failed."""
    stale = {n: dict(d) for n, d in remote.tasks.items()}
    remote.get_task_def = lambda name: stale.get(name)  # another node's cache: still the old definition
    remote.fail("update:upd1", RemoteTimeout("no answer within 1s"), after_write=True)
    plan = plan_for(remote, desired({"name": "upd1", "retryCount": 0}, {"name": "upd2"}), targets=("upd1",))
    (result,) = Executor(remote, plan).run()
    assert result.status is Status.APPLIED and "confirmed on the server" in result.detail


def test_delete_rechecks_usage_just_before(remote):
    plan = plan_for(remote, desired({"name": "upd1"}, {"name": "upd2"}))
    remote.workflows[("late", 1)] = workflow("late", 1, [simple("old")])
    results = Executor(remote, plan).run()
    (result,) = [r for r in results if r.change.name == "old"]
    assert result.status is Status.SKIPPED and "now used by workflow late v1" in result.detail
    assert "old" in remote.tasks


def test_blocked_deletes_are_skipped_and_reported(remote):
    remote.workflows[("w", 1)] = workflow("w", 1, [simple("old")])
    plan = plan_for(remote, desired({"name": "upd1"}, {"name": "upd2"}))
    results = Executor(remote, plan).run()
    assert statuses(results) == {"old": Status.SKIPPED}
    forced = plan_for(remote, desired({"name": "upd1"}, {"name": "upd2"}), force=True)
    assert statuses(Executor(remote, forced).run()) == {"old": Status.APPLIED}
    assert "old" not in remote.tasks


def test_stale_check_names_what_changed(remote):
    plan = plan_for(remote, desired({"name": "upd1", "retryCount": 0}, {"name": "new"}))
    remote.tasks["upd1"]["description"] = "edited"
    remote.tasks["new"] = {"name": "new"}
    del remote.tasks["old"]
    with pytest.raises(StalePlanError) as caught:
        check_stale(plan, remote)
    assert caught.value.details() == [
        "task new was created on the server since planning",
        "task old was deleted on the server since planning",
        "task upd1 was changed on the server since planning",
    ]
