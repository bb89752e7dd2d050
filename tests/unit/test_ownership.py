"""The ownership rule (idflow.kinds.ownership), and plan, prune and apply's plan check following it."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from idflow.config import load_config
from idflow.errors import PlanFileError
from idflow.kinds.ownership import ForeignOwner, manages, owner_to_write
from idflow.plan.model import Action, Change, Kind, Reason
from idflow.reconcile import check_plan_file
from tests.factories import actual, applied_record, desired, plan_of, simple, workflow


def test_the_configured_owner_is_written_and_another_one_refused():
    assert owner_to_write("team@x.io", None) == "team@x.io"
    assert owner_to_write("team@x.io", "") == "team@x.io"
    assert owner_to_write("team@x.io", "team@x.io") == "team@x.io"  # redundant, fine
    expected = "'idflow@example.com' is not the configured owner_email 'team@x.io'"
    with pytest.raises(ForeignOwner, match=re.escape(expected)):
        owner_to_write("team@x.io", "idflow@example.com")


def test_without_a_configured_owner_files_keep_theirs_and_only_what_idflow_applied_is_managed():
    assert owner_to_write(None, "idflow@example.com") == "idflow@example.com"
    assert owner_to_write(None, None) is None
    applied = {"task:mine"}
    assert manages(None, {"ownerEmail": "anyone@x.io"}, "task:mine", applied)
    assert not manages(None, {"ownerEmail": "anyone@x.io"}, "task:theirs", applied)
    assert not manages(None, {}, "task:mine") and not manages(None, {})


def test_without_owner_or_record_an_empty_project_deletes_nothing_and_says_why():
    server = actual({"name": "theirs_a"}, {"name": "theirs_b"}, workflows=[workflow("w", 1, [simple("theirs_a")])])
    plan = plan_of(desired(workflows=[]), server, prune_workflows=True, record=None)
    assert [c for c in plan.changes if c.action.value == "delete"] == []
    assert sorted(plan.unmanaged) == ["task:theirs_a", "task:theirs_b", "workflow:w:1"]
    assert any("set owner_email" in n and "3 object(s)" in n for n in plan.notes)


def test_without_owner_the_record_says_what_is_orphaned():
    server = actual({"name": "ours"}, {"name": "theirs"})
    record = applied_record(actual({"name": "ours"}))
    plan = plan_of(desired(), server, record=record)
    assert [(c.name, c.action.value, c.reason.value) for c in plan.changes] == [("ours", "delete", "orphaned")]
    assert plan.unmanaged == ("task:theirs",)


def test_only_objects_of_the_configured_owner_are_managed():
    assert manages("team@x.io", {"ownerEmail": "team@x.io"})
    assert not manages("team@x.io", {"ownerEmail": "other@x.io"}) and not manages("team@x.io", {})


def test_prune_deletes_only_workflows_of_the_configured_owner():
    mine = workflow("mine", 1, [simple("a")], ownerEmail="team@x.io")
    theirs = workflow("theirs", 1, [simple("a")], ownerEmail="idflow@example.com")
    plan = plan_of(
        desired({"name": "a"}, workflows=[]),
        actual({"name": "a", "ownerEmail": "team@x.io"}, workflows=[mine, theirs]),
        owner_email="team@x.io",
        prune_workflows=True,
    )
    deleted = [c.name for c in plan.changes if c.action is Action.DELETE]
    assert deleted == ["mine"] and plan.unmanaged == ("workflow:theirs:1",)


def config_with(tmp_path: Path, owner: str):
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "idflow.yml").write_text(f"owner_email: {owner}\n")
    return load_config(cwd=tmp_path, environ={})


@pytest.mark.parametrize(
    "change",
    [
        Change(Kind.TASK, "t", Action.CREATE, Reason.NEW_LOCALLY, after={"name": "t", "ownerEmail": "old@x.io"}),
        Change(Kind.TASK, "t", Action.CREATE, Reason.NEW_LOCALLY, after={"name": "t"}),
        Change(Kind.TASK, "t", Action.DELETE, Reason.ORPHANED, before={"name": "t", "ownerEmail": "old@x.io"}),
    ],
)
def test_apply_refuses_a_plan_that_disagrees_with_the_configured_owner(tmp_path: Path, change: Change):
    plan = plan_of(desired(), actual())
    plan = replace(plan, changes=(change,), server_url=config_with(tmp_path, "team@x.io").server_url)
    with pytest.raises(PlanFileError, match=re.escape("owner other than the configured owner_email 'team@x.io'")):
        check_plan_file(plan, None, config_with(tmp_path, "team@x.io"), tmp_path / "plan.json")
    agreeing = replace(plan, changes=(Change(Kind.TASK, "t", Action.CREATE, Reason.NEW_LOCALLY,
                                             after={"name": "t", "ownerEmail": "team@x.io"}),))  # fmt: skip
    check_plan_file(agreeing, None, config_with(tmp_path, "team@x.io"), tmp_path / "plan.json")
