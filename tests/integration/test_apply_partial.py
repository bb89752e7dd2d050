"""A definition the server rejects fails alone; the rest is applied and the report says so."""

from __future__ import annotations

import json

import pytest

from idflow.apply.applier import Status
from idflow.config import load_config
from idflow.plan.inputs import read_actual
from idflow.plan.model import PlanOptions
from idflow.plan.planner import build_plan
from idflow.reconcile import apply_saved_plan
from tests.factories import desired

pytestmark = pytest.mark.integration


def test_partial_failure_applies_the_rest_and_reports_exactly(tmp_path, conductor_url, remote, unique):
    config = load_config(cwd=tmp_path, environ={"CONDUCTOR_SERVER_URL": conductor_url})
    good_upd, bad_upd = f"{unique}_good_upd", f"{unique}_bad_upd"
    remote.create_task_defs([{"name": good_upd}, {"name": bad_upd}])
    # timeoutSeconds 5 with the default response timeout of 3600: the server rejects it (local checks would too).
    wanted = desired(
        {"name": f"{unique}_ok1"},
        {"name": f"{unique}_ok2", "retryCount": 1},
        {"name": f"{unique}_bad_new", "timeoutSeconds": 5},
        {"name": good_upd, "retryCount": 0},
        {"name": bad_upd, "timeoutSeconds": 5},
    )
    plan = build_plan(
        wanted, read_actual(remote), PlanOptions(targets=tuple(wanted.tasks)), server_url=config.server_url
    )
    outcome = apply_saved_plan(config, remote, plan, None)

    status = {r.change.name: r.status for r in outcome.results}
    assert status == {
        f"{unique}_ok1": Status.APPLIED,
        f"{unique}_ok2": Status.APPLIED,
        f"{unique}_bad_new": Status.FAILED,
        good_upd: Status.APPLIED,
        bad_upd: Status.FAILED,
    }
    failed = {r.change.name: r for r in outcome.failed}
    assert any("responseTimeoutSeconds" in e for e in failed[bad_upd].field_errors)
    assert remote.get_task_def(f"{unique}_ok2")["retryCount"] == 1
    assert remote.get_task_def(f"{unique}_bad_new") is None
    assert remote.get_task_def(good_upd)["retryCount"] == 0
    assert remote.get_task_def(bad_upd)["timeoutSeconds"] == 0

    report = json.loads(outcome.report_path.read_text())
    assert report["summary"] == {"applied": 3, "failed": 2, "skipped": 0}

    again = build_plan(
        wanted, read_actual(remote), PlanOptions(targets=tuple(wanted.tasks)), server_url=config.server_url
    )
    assert sorted(c.name for c in again.actionable) == sorted([f"{unique}_bad_new", bad_upd])
    for name in (f"{unique}_ok1", f"{unique}_ok2", good_upd, bad_upd):
        remote.delete_task_def(name)
