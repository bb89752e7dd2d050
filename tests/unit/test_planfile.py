import json
import stat

import pytest

from idflow.errors import PlanFileError
from idflow.kinds.workflow_normal import normalise_workflowdef
from idflow.plan.file import read_plan, write_plan
from idflow.plan.model import FORMAT_VERSION
from tests.factories import actual, desired, plan_of, simple, workflow


def sample_plan():
    return plan_of(
        desired({"name": "new", "inputTemplate": {"a": [1, 2]}}, {"name": "upd", "retryCount": 1}),
        actual({"name": "upd"}, {"name": "old"}, workflows=[workflow("w", 1, [simple("old")])]),
        force=True,
        targets=("new", "upd", "old"),
    )


def test_round_trip(tmp_path):
    plan = sample_plan()
    path = write_plan(plan, tmp_path / "state" / "plan.json")
    again, applied = read_plan(path)
    assert again.to_dict() == plan.to_dict()
    assert applied is None
    assert again.options.force and again.changes[0].blockers == plan.changes[0].blockers


def test_written_owner_only(tmp_path):
    path = write_plan(sample_plan(), tmp_path / "plan.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t[: len(t) // 2], "invalid JSON"),
        (lambda t: t.replace('"retryCount": 1', '"retryCount": 9'), "checksum mismatch"),
        (lambda t: t.replace(f'"format_version": "{FORMAT_VERSION}"', '"format_version": "2.0"'), "plan format 2.0"),
        (lambda t: "[1, 2]", "no format_version"),
        (lambda t: "", "invalid JSON"),
    ],
)
def test_bad_plan_files_are_refused(tmp_path, mutate, message):
    path = write_plan(sample_plan(), tmp_path / "plan.json")
    path.write_text(mutate(path.read_text()))
    with pytest.raises(PlanFileError, match=message):
        read_plan(path)


def test_not_utf8_and_missing(tmp_path):
    path = tmp_path / "plan.json"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(PlanFileError, match="not UTF-8"):
        read_plan(path)
    with pytest.raises(PlanFileError, match="run `idflow plan` first"):
        read_plan(tmp_path / "missing.json")


def test_minor_version_with_extra_fields_is_read(tmp_path):
    from idflow.plan.file import checksum

    path = write_plan(sample_plan(), tmp_path / "plan.json")
    doc = json.loads(path.read_text())
    doc["format_version"] = "1.7"
    doc["a_future_field"] = {"x": 1}
    doc["checksum"] = checksum(doc)
    path.write_text(json.dumps(doc))
    plan, _ = read_plan(path)
    assert plan.format_version == "1.7"


def test_a_1_0_plan_file_with_per_change_warnings_is_still_read_and_rendered(tmp_path):
    """1.0 files listed run-time warnings on every delete and had no ``unmanaged_warnings``."""
    from idflow.plan.file import checksum
    from idflow.render.text import render_text

    path = write_plan(sample_plan(), tmp_path / "plan.json")
    doc = json.loads(path.read_text())
    doc["format_version"] = "1.0"
    del doc["unmanaged_warnings"]
    doc["changes"][0]["warnings"] = ["may be used at run time by workflow w v1 (dynamic task at tasks[0] (d))"]
    doc["checksum"] = checksum(doc)
    path.write_text(json.dumps(doc))
    plan, _ = read_plan(path)
    assert plan.unmanaged_warnings == () and plan.changes[0].warnings
    assert "warning: may be used at run time by workflow w v1" in render_text(plan)


def _in_sync_and_one_update():
    return plan_of(
        desired({"name": "same", "retryCount": 2}, {"name": "upd", "retryCount": 1}),
        actual({"name": "same", "retryCount": 2}, {"name": "upd"}),
    )


def test_a_no_op_body_is_stored_once_and_read_back(tmp_path):
    plan = _in_sync_and_one_update()
    path = write_plan(plan, tmp_path / "plan.json", key=None)
    stored = {c["name"]: c for c in json.loads(path.read_text())["changes"]}
    assert stored["same"]["action"] == "no-op" and stored["same"]["after_is_before"] is True
    assert stored["same"]["after"] is None and stored["same"]["before"]["retryCount"] == 2
    assert "after_is_before" not in stored["upd"] and stored["upd"]["after"]["retryCount"] == 1
    again, _applied = read_plan(path, key=None)
    assert again.to_dict() == plan.to_dict()
    assert dict(again.changes[[c.name for c in again.changes].index("same")].after or {})["retryCount"] == 2


def test_a_no_op_body_is_stored_without_the_server_defaults(tmp_path):
    flow = normalise_workflowdef(workflow("flow", 1, [simple("same")]))
    plan = plan_of(
        desired({"name": "same", "retryCount": 2}, workflows=[flow]),
        actual({"name": "same", "retryCount": 2}, workflows=[workflow("flow", 1, [simple("same")])]),
    )
    path = write_plan(plan, tmp_path / "plan.json", key=None)
    stored = {c["name"]: c for c in json.loads(path.read_text())["changes"]}
    assert {c["action"] for c in stored.values()} == {"no-op"}
    task, flow = stored["same"], stored["flow"]
    assert task["before_is_minimal"] is True and task["before"] == {"name": "same", "retryCount": 2}
    assert flow["before_is_minimal"] is True and "optional" not in flow["before"]["tasks"][0]
    assert "timeoutPolicy" in dict(plan.changes[0].before or {})  # the plan itself holds the full normal form
    again, _applied = read_plan(path, key=None)
    assert again.to_dict() == plan.to_dict()


def test_a_nested_no_op_workflow_is_stored_short_and_read_back_whole(tmp_path):
    """Tasks inside a switch, a fork, a loop and a dynamic fork's inputs: the short form leaves the defaults out
    at every depth, and normalising it (frozen values and all) gives the body back."""
    tasks = [
        {"name": "route", "taskReferenceName": "route", "type": "SWITCH", "evaluatorType": "value-param",
         "expression": "kind", "inputParameters": {"kind": "${workflow.input.kind}", "o": {"d": [1, {"x": True}]}},
         "decisionCases": {"a": [simple("same", "a1")], "b": [simple("same", "b1"), simple("same", "b2")]},
         "defaultCase": [simple("same", "d1")]},
        {"name": "fan", "taskReferenceName": "fan", "type": "FORK_JOIN",
         "forkTasks": [[simple("same", "f1")], [simple("same", "f2")]]},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["f1", "f2"]},
        {"name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE", "loopCondition": "false",
         "loopOver": [simple("same", "l1")]},
    ]  # fmt: skip
    raw = workflow("nested", 1, tasks, inputParameters=["kind"], outputParameters={"r": "${route.output}"})
    plan = plan_of(
        desired({"name": "same", "retryCount": 2}, workflows=[normalise_workflowdef(raw)]),
        actual({"name": "same", "retryCount": 2}, workflows=[raw]),
    )
    path = write_plan(plan, tmp_path / "plan.json", key=None)
    flow = {c["name"]: c for c in json.loads(path.read_text())["changes"]}["nested"]
    assert flow["action"] == "no-op" and flow["before_is_minimal"] is True
    cases = flow["before"]["tasks"][0]["decisionCases"]
    assert "optional" not in cases["b"][1] and "optional" not in flow["before"]["tasks"][3]["loopOver"][0]
    again, _applied = read_plan(path, key=None)
    assert again.to_dict() == plan.to_dict()


def test_marking_a_plan_applied_keeps_the_short_bodies_it_was_read_with_without_making_them_again(
    tmp_path, monkeypatch
):
    import idflow.adopt.minimal
    from idflow.plan.file import mark_applied

    flow = normalise_workflowdef(workflow("flow", 1, [simple("same")]))
    plan = plan_of(
        desired({"name": "same", "retryCount": 2}, {"name": "upd", "retryCount": 1}, workflows=[flow]),
        actual({"name": "same", "retryCount": 2}, {"name": "upd"}, workflows=[workflow("flow", 1, [simple("same")])]),
    )
    path = write_plan(plan, tmp_path / "plan.json", key=None)
    written = {c["name"]: c for c in json.loads(path.read_text())["changes"]}
    again, _applied = read_plan(path, key=None)

    def never(*_args):
        raise AssertionError("a short body of the plan just read was made again")

    monkeypatch.setattr(idflow.adopt.minimal, "minimal", never)
    mark_applied(path, again, {"at": "now", "report": "r.json"})
    marked = json.loads(path.read_text())
    assert {c["name"]: c for c in marked["changes"]} == written and marked["applied"]["report"] == "r.json"
    assert read_plan(path, key=None)[0].to_dict() == plan.to_dict()
    with pytest.raises(AssertionError, match="made again"):  # a plan not read from a file is shortened anew
        write_plan(plan, tmp_path / "other.json", key=None)


def test_a_short_body_that_would_not_round_trip_is_stored_in_full(tmp_path, monkeypatch):
    import idflow.adopt.minimal

    monkeypatch.setattr(idflow.adopt.minimal, "minimal", lambda _struct, body: {"name": body["name"]})
    plan = _in_sync_and_one_update()
    path = write_plan(plan, tmp_path / "plan.json", key=None)
    stored = {c["name"]: c for c in json.loads(path.read_text())["changes"]}
    assert "before_is_minimal" not in stored["same"] and stored["same"]["before"]["retryCount"] == 2
    assert read_plan(path, key=None)[0].to_dict() == plan.to_dict()


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda c: c["upd"].update(before_is_minimal=True), id="on_an_update"),
        pytest.param(lambda c: c["same"].update(before_is_minimal=False), id="false"),
    ],
)
def test_the_short_body_flag_is_only_for_no_op_bodies_stored_once(tmp_path, edit):
    from idflow.plan.file import checksum

    path = write_plan(_in_sync_and_one_update(), tmp_path / "plan.json", key=None)
    doc = json.loads(path.read_text())
    edit({c["name"]: c for c in doc["changes"]})
    doc["checksum"] = checksum(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match=r"malformed plan file .*before_is_minimal"):
        read_plan(path, key=None)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda c: c["upd"].update(after_is_before=True), id="on_an_update"),
        pytest.param(lambda c: c["same"].update(after=c["same"]["before"]), id="with_an_after"),
        pytest.param(lambda c: c["same"].update(after_is_before=False), id="false"),
    ],
)
def test_the_stored_once_flag_is_only_for_no_ops(tmp_path, edit):
    from idflow.plan.file import checksum

    path = write_plan(_in_sync_and_one_update(), tmp_path / "plan.json", key=None)
    doc = json.loads(path.read_text())
    edit({c["name"]: c for c in doc["changes"]})
    doc["checksum"] = checksum(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match=r"malformed plan file .*after_is_before"):
        read_plan(path, key=None)


def _in_sync_with_a_workflow():
    flow = normalise_workflowdef(workflow("flow", 1, [simple("same")]))
    return plan_of(
        desired({"name": "same", "retryCount": 2}, {"name": "upd", "retryCount": 1}, workflows=[flow]),
        actual({"name": "same", "retryCount": 2}, {"name": "upd"}, workflows=[workflow("flow", 1, [simple("same")])]),
    )


def _changes(path):
    return json.loads(path.read_text())["changes"]


def test_short_forms_kept_between_plans_give_the_same_plan_file_without_being_made_again(tmp_path, monkeypatch):
    import idflow.adopt.minimal

    plan, cache = _in_sync_with_a_workflow(), tmp_path / "cache"
    uncached = _changes(write_plan(plan, tmp_path / "plain.json", key=None))
    assert _changes(write_plan(plan, tmp_path / "cold.json", key=None, cache_dir=cache)) == uncached
    assert (cache / "short-bodies.json").is_file()
    made = []
    real = idflow.adopt.minimal.minimal
    monkeypatch.setattr(idflow.adopt.minimal, "minimal", lambda *a: made.append(a) or real(*a))
    warm = write_plan(_in_sync_with_a_workflow(), tmp_path / "warm.json", key=None, cache_dir=cache)
    assert _changes(warm) == uncached and made == []
    assert read_plan(warm, key=None)[0].to_dict() == plan.to_dict()


def test_a_body_that_changed_gets_its_short_form_made_again(tmp_path):
    cache = tmp_path / "cache"
    write_plan(_in_sync_with_a_workflow(), tmp_path / "a.json", key=None, cache_dir=cache)
    changed = plan_of(
        desired({"name": "same", "retryCount": 5}),
        actual({"name": "same", "retryCount": 5, "timeoutSeconds": 99}),
    )
    stored = {c["name"]: c for c in _changes(write_plan(changed, tmp_path / "b.json", key=None, cache_dir=cache))}
    assert stored["same"]["before"]["retryCount"] == 5
    assert read_plan(tmp_path / "b.json", key=None)[0].to_dict() == changed.to_dict()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda e: [e[0], {"name": "same"}], id="not_a_list"),
        pytest.param(lambda e: [e[0], [{"name": "same"}, {}]], id="two_forms"),
        pytest.param(lambda e: [e[0], ["text"]], id="not_an_object"),
        pytest.param(lambda e: ["0" * 64, [{"name": "same"}]], id="another_body"),
    ],
)
def test_a_damaged_short_form_entry_is_made_again(tmp_path, damage):
    plan, cache = _in_sync_with_a_workflow(), tmp_path / "cache"
    expected = _changes(write_plan(plan, tmp_path / "a.json", key=None, cache_dir=cache))
    kept = json.loads((cache / "short-bodies.json").read_text())
    kept["files"] = {key: damage(entry) for key, entry in kept["files"].items()}
    (cache / "short-bodies.json").write_text(json.dumps(kept))
    assert _changes(write_plan(plan, tmp_path / "b.json", key=None, cache_dir=cache)) == expected


def test_short_forms_are_kept_for_one_build_of_idflow(monkeypatch):
    """Any idflow module's source is part of the short forms' fingerprint (not a list that can fall behind)."""
    from pathlib import Path

    from idflow.repo.read_cache import SHORT_BODIES, reader_fingerprint

    before = reader_fingerprint(SHORT_BODIES, None)
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda p: real(p) + (b"#" if p.name == "minimal.py" else b""))
    assert reader_fingerprint(SHORT_BODIES, None) != before
