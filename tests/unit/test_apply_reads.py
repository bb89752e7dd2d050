"""What apply reads from the server, counted on the in-memory fake (issue 19: each list once where once is
enough, and never at the cost of a check: the stale check, the usage re-check and the record still see the
server as it is after the claim)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from idflow.apply.applier import Executor, Status
from idflow.plan.inputs import read_actual
from idflow.plan.model import Action
from tests.factories import desired, simple, workflow
from tests.fakes import FakeRemote
from tests.unit import test_commands
from tests.unit.test_apply_fake import plan_for
from tests.unit.test_commands import FakeCli

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
fake_cli = test_commands.fake_cli  # the command tests' project fixture


@pytest.fixture
def remote() -> FakeRemote:
    fake = FakeRemote()
    fake.tasks = {n: {"name": n} for n in ("upd1", "upd2", "old")}
    return fake


def _lists(calls: list[str]) -> dict[str, int]:
    return {c: calls.count(c) for c in sorted(set(calls)) if c.startswith("list")}


def test_an_apply_of_updates_reads_the_workflows_once_and_the_tasks_once_more_for_the_record(fake_cli: FakeCli):
    from idflow.config import load_config
    from idflow.plan.model import PlanOptions
    from idflow.reconcile import apply_saved_plan, make_plan

    for name in ("a", "b"):
        fake_cli.write_task(name, retry_count=1)
        fake_cli.server_task(name, retryCount=5)
    config = load_config(fake_cli.config_arg, environ={"CONDUCTOR_SERVER_URL": fake_cli.remote.url})
    plan = make_plan(config, fake_cli.remote, PlanOptions())
    fake_cli.remote.calls.clear()
    outcome = apply_saved_plan(config, fake_cli.remote, plan, None)
    assert {r.status for r in outcome.results} == {Status.APPLIED} and len(outcome.results) == 2
    # the claim's workflow list is the stale check's; the task list once for the stale check, once to record
    # what the server then held; no workflow list after the writes (none written)
    assert _lists(fake_cli.remote.calls) == {"list_task_defs": 2, "list_workflow_defs": 1}
    assert fake_cli.remote.calls.index("list_task_defs") < fake_cli.remote.calls.index("update_task_def:a")
    assert "put_workflow_defs:idflow_apply_record" in fake_cli.remote.calls
    assert fake_cli("plan", "--detailed-exitcode").exit_code == 0, "the record says what was written"


def test_a_purge_reads_the_server_once_to_plan_and_once_after_the_claim(fake_cli: FakeCli):
    """Before: plan (2 lists), the claim (1), the stale check (2), the usage re-check (1), the record (2)."""
    fake_cli.write_task("kept")
    fake_cli.server_task("kept")
    for name in ("orphan1", "orphan2", "used"):
        fake_cli.server_task(name)
    fake_cli.server_workflow("wf", 1, ["used"])
    result = fake_cli("tasks", "purge", "--orphaned", "-y")
    assert result.exit_code == 0, result.output
    assert set(fake_cli.remote.tasks) == {"kept", "used"}
    assert _lists(fake_cli.remote.calls) == {"list_task_defs": 2, "list_workflow_defs": 2}


def test_deletes_first_take_their_usage_from_the_stale_check_read_and_still_catch_a_new_use(remote):
    plan = plan_for(remote, desired({"name": "upd1"}, {"name": "upd2"}), only=(Action.DELETE,))
    remote.workflows[("late", 1)] = workflow("late", 1, [simple("old")])  # a use since planning
    actual = read_actual(remote)  # as apply's stale check reads it, after the claim
    remote.calls.clear()
    results = Executor(remote, plan, actual=actual).run()
    assert [(r.change.name, r.status) for r in results] == [("old", Status.SKIPPED)]
    assert "now used by workflow late v1" in results[0].detail
    assert "list_workflow_defs" not in remote.calls and "old" in remote.tasks


def test_deletes_after_writes_read_the_usage_again(remote):
    plan = plan_for(remote, desired({"name": "upd1", "retryCount": 0}, {"name": "upd2"}))
    actual = read_actual(remote)  # no use of "old" in it
    remote.workflows[("late", 1)] = workflow("late", 1, [simple("old")])  # appears during the updates
    remote.calls.clear()
    results = {r.change.name: r for r in Executor(remote, plan, actual=actual).run()}
    assert results["upd1"].status is Status.APPLIED
    assert results["old"].status is Status.SKIPPED and "now used by workflow late v1" in results["old"].detail
    assert remote.calls.count("list_workflow_defs") == 1


def test_the_claim_hands_over_what_was_read_with_the_workflow_list_of_its_round():
    from idflow.apply.server_lock import CLAIM_WORKFLOW, ObjectLock

    server = FakeRemote()
    server.workflows[("w", 1)] = workflow("w", 1, [simple("t")])
    seen: list[list[str]] = []

    def read(workflows):
        seen.append(sorted(w["name"] for w in workflows))
        return "state"

    with ObjectLock(server, "me", {"task:t"}, clock=lambda: NOW, read=read) as lock:
        assert lock.state == "state"
        assert seen == [["idflow_apply_lock", "w"]], "read with the list the claim was checked against"
        assert [k for k in server.workflows if k[0] == CLAIM_WORKFLOW] == [(CLAIM_WORKFLOW, lock.version)]
    assert list(server.workflows) == [("w", 1)]


def test_a_round_that_does_not_take_the_claim_reads_again_in_the_next():
    """A claim's version drawn twice (409): the read of that round is dropped, the next round's is used."""
    from idflow.apply.server_lock import CLAIM_WORKFLOW, ObjectLock, claim_definition

    server = FakeRemote()
    lock = ObjectLock(server, "me", {"task:t"}, clock=lambda: NOW, read=lambda w: len(w))
    other = claim_definition("other", lock.version, "elsewhere", [], NOW)
    server.workflows[(CLAIM_WORKFLOW, lock.version)] = other  # holds our first version number, nothing of ours
    taken = lock.version
    with lock:
        assert lock.version != taken and lock.state == 2  # the lock and the other claim, in the second round
