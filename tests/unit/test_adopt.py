"""Import writers, names, the shortest form, exports and reverts on hand-built data (no server)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from idflow.adopt import pyliteral
from idflow.adopt.export import desired_from_export, export, read_export
from idflow.adopt.importer import import_objects
from idflow.adopt.minimal import minimal
from idflow.adopt.names import file_stem, module_name
from idflow.adopt.revert import plan_revert, revert_fields
from idflow.adopt.workflow_writer import SCHEMA_FILE
from idflow.config import load_config
from idflow.errors import DefinitionError, IdflowError
from idflow.kinds.normal import content_hash, normalise_taskdef
from idflow.kinds.server_model import WORKFLOW_DEF
from idflow.kinds.workflow_normal import normalise_workflowdef
from idflow.masking import MASK
from idflow.plan.model import Action, Change, Kind, thaw
from idflow.repo.schema import KINDS
from idflow.repo.task_files import discover_tasks
from tests.factories import actual
from tests.fakes import FakeRemote


@pytest.mark.parametrize(
    ("name", "expected"),
    [("send_email", "send_email"), ("send-email", "send_email"), ("a.b", "a_b"), ("3d", "task_3d"),
     ("class", "class_"), ("match", "match_"), ("../x", "task_x"), ("a\x00b/c", "a_b_c"), ("", "task")],
)  # fmt: skip
def test_module_names_are_python_module_names(name, expected):
    got = module_name(name, set())
    assert got == expected and got.isidentifier()


def test_names_mapped_to_one_are_told_apart_and_file_stems_are_never_hidden():
    taken: set[str] = set()
    assert [module_name(n, taken) for n in ("a-b", "a_b", "A.b")] == ["a_b", "a_b_2", "A_b_3"]
    assert file_stem("..", set()) == "workflow" and file_stem(".hidden", set()) == "hidden"
    assert file_stem("a/b\nc", set()) == "a_b_c"


def test_python_literals_parse_back_to_the_value():
    value = {"q": 'say "hi"', "s": "it's", "both": "'\"", "ctl": "\x1b[31m\n", "n": [1, None, True, 2.5], "e": {}}
    for line_set in (pyliteral.literal(value, 1, "x="), [pyliteral.flat(value)]):
        text = "\n".join(line_set).strip().removeprefix("x=").rstrip(",")
        assert ast.literal_eval(text) == value


def test_the_shortest_workflow_form_normalises_back_and_keeps_the_model_order():
    raw = {"tasks": [{"taskReferenceName": "r", "name": "t", "optional": False, "startDelay": 3}],
           "version": 1, "name": "w", "schemaVersion": 2, "restartable": True, "createTime": 1}  # fmt: skip
    normal = normalise_workflowdef(raw)
    short = minimal(WORKFLOW_DEF, normal)
    assert short == {"name": "w", "tasks": [{"name": "t", "taskReferenceName": "r", "startDelay": 3}]}
    assert list(short) == ["name", "tasks"] and normalise_workflowdef(short) == normal


def test_the_workflow_schema_file_is_the_one_idflow_schema_writes():
    assert KINDS["workflow"][1] == SCHEMA_FILE


def project(tmp_path: Path, config: str = "{}\n") -> Path:
    (tmp_path / "config").mkdir(parents=True)
    (tmp_path / "config" / "idflow.yml").write_text(config)
    (tmp_path / "idflow" / "tasks").mkdir(parents=True)
    return tmp_path


def test_an_imported_task_reads_back_through_discovery_to_the_same_definition(tmp_path):
    root = project(tmp_path)
    remote = FakeRemote()
    remote.create_task_defs([
        {"name": "pay-1", "description": "Line one\n\nline two", "retryCount": 0, "inputTemplate": {"k": [1, {}]},
         "timeoutSeconds": 100, "responseTimeoutSeconds": 50, "ownerEmail": "o@x"},
        {"name": "plain", "description": "Short and sweet."},
        {"name": "nodoc"},
    ])  # fmt: skip
    outcome = import_objects(load_config(cwd=root, environ={}), remote, everything=True)
    assert [i.label for i in outcome.written] == ["nodoc", "pay-1", "plain"] and outcome.readback == []
    tasks = {t.name: t.definition for t in discover_tasks(root / "idflow" / "tasks", import_root=root)}
    assert tasks == {t["name"]: normalise_taskdef(t) for t in remote.list_task_defs()}
    nodoc = (root / "idflow" / "tasks" / "nodoc" / "nodoc.py").read_text()
    assert '"""' not in nodoc.split("def nodoc")[1]  # no description: no docstring (it would become one)


def test_import_with_owner_email_takes_only_that_owner_and_respects_ignore(tmp_path):
    root = project(tmp_path, "owner_email: me@x\nignore: ['skip_*']\n")
    remote = FakeRemote()
    remote.create_task_defs([{"name": "mine", "ownerEmail": "me@x"}, {"name": "theirs", "ownerEmail": "t@x"},
                             {"name": "skip_me", "ownerEmail": "me@x"}])  # fmt: skip
    config = load_config(cwd=root, environ={})
    outcome = import_objects(config, remote, everything=True)
    assert [i.label for i in outcome.written] == ["mine"]
    assert "owner_email" not in (root / "idflow" / "tasks" / "mine" / "mine.py").read_text()
    named = import_objects(config, remote, ("theirs",))
    assert named.written == [] and named.named_skipped and "belongs to 't@x'" in named.skipped[0]


def test_names_that_no_local_file_can_keep_are_skipped_with_the_reason(tmp_path):
    root = project(tmp_path)
    remote = FakeRemote()
    remote.create_task_defs([{"name": "a/b"}, {"name": "bad\nname"}])
    remote.put_workflow_defs([{"name": "w", "version": 1, "tasks": [{"name": "x|y", "taskReferenceName": "r"}]}])
    outcome = import_objects(load_config(cwd=root, environ={}), remote, everything=True)
    assert outcome.written == [] and len(outcome.skipped) == 3
    assert any("cannot be kept in a workflow file: name 'x|y'" in s for s in outcome.skipped), outcome.skipped
    assert not any(root.rglob("*.py")) and not (root / "idflow" / "workflows").exists()


def test_nothing_named_and_no_all_is_an_error(tmp_path):
    with pytest.raises(IdflowError, match="--all"):
        import_objects(load_config(cwd=project(tmp_path), environ={}), FakeRemote())


def test_an_export_is_read_back_checked_and_restores_only_this_owner(tmp_path):
    root = project(tmp_path / "p", "owner_email: me@x\n")
    remote = FakeRemote()
    remote.create_task_defs([{"name": "mine", "ownerEmail": "me@x", "retryCount": 1},
                             {"name": "t", "ownerEmail": "t@x"}])  # fmt: skip
    remote.put_workflow_defs([
        {"name": "w", "version": 3, "ownerEmail": "me@x", "tasks": [{"name": "mine", "taskReferenceName": "m"}]},
        {"name": "idflow_apply_lock", "version": 1, "tasks": []},
    ])  # fmt: skip
    config = load_config(cwd=root, environ={})
    out = tmp_path / "backup"
    assert export(config, remote, out).counts == {"task": 2, "workflow": 1, "event": 0, "schedule": 0}
    manifest, found = read_export(out)
    assert manifest["server_url"] == config.server_url and len(found["task"]) == 2
    desired, notes = desired_from_export(config, out)
    assert set(desired.tasks) == {"mine"} and set(desired.workflows) == {("w", 3)}
    assert "1 definition(s) of other owners" in notes[0]
    with pytest.raises(IdflowError, match="not an empty folder"):
        export(config, remote, out)
    (out / "tasks" / "extra.json").write_text("{}")
    with pytest.raises(DefinitionError, match="not in the export's manifest"):
        read_export(out)


def test_a_report_keeps_the_state_before_masked_and_a_hash_of_what_was_written():
    before = normalise_taskdef({"name": "s", "inputTemplate": {"api_key": "k-123456", "url": "u"}})
    after = normalise_taskdef({"name": "s", "retryCount": 1})
    update = revert_fields(Change(Kind.TASK, "s", Action.UPDATE, reason=None, before=before, after=after))  # type: ignore[arg-type]
    assert update["before"]["inputTemplate"] == {"api_key": MASK, "url": "u"}
    assert update["after_sha256"].startswith("sha256:")
    create = revert_fields(Change(Kind.TASK, "s", Action.CREATE, reason=None, after=after))  # type: ignore[arg-type]
    assert create["before"] is None
    delete = revert_fields(Change(Kind.TASK, "s", Action.DELETE, reason=None, before=after))  # type: ignore[arg-type]
    assert delete["after_sha256"] is None and delete["before"] == after


def test_a_report_masks_the_secrets_gathered_once_for_all_its_changes_and_hashes_frozen_bodies_as_plain_ones():
    before = normalise_taskdef({"name": "s", "description": "calls https://x with tok-998877"})
    after = normalise_taskdef({"name": "s", "retryCount": 1})
    change = Change(Kind.TASK, "s", Action.UPDATE, reason=None, before=before, after=after)  # type: ignore[arg-type]
    fields = revert_fields(change, ("tok-998877",))
    assert fields["before"]["description"] == f"calls https://x with {MASK}"
    assert revert_fields(change, ())["before"]["description"].endswith("tok-998877")  # only what it was given
    assert fields["after_sha256"] == content_hash(after) == content_hash(thaw(change.after))


def _report(tmp_path: Path, results: list[dict]) -> Path:
    path = tmp_path / "apply-1.json"
    path.write_text(json.dumps({"server_url": "http://localhost:8080/api", "results": results}))
    return path


def _result(name: str, action: str, before, after, status: str = "applied") -> dict:
    fields = revert_fields(Change(Kind.TASK, name, Action(action), reason=None, before=before, after=after))  # type: ignore[arg-type]
    return {"kind": "task", "name": name, "version": None, "action": action, "status": status, **fields}


def test_a_revert_puts_back_what_landed_and_refuses_what_changed_since(tmp_path):
    config = load_config(cwd=project(tmp_path / "p"), environ={})
    old, new = normalise_taskdef({"name": "u", "retryCount": 1}), normalise_taskdef({"name": "u", "retryCount": 2})
    made = normalise_taskdef({"name": "c"})
    gone = normalise_taskdef({"name": "d", "retryCount": 4})
    moved_old, moved_new = normalise_taskdef({"name": "m"}), normalise_taskdef({"name": "m", "retryCount": 5})
    report = _report(tmp_path, [
        _result("u", "update", old, new), _result("c", "create", None, made), _result("d", "delete", gone, None),
        _result("m", "update", moved_old, moved_new), _result("f", "create", None, made, status="failed"),
    ])  # fmt: skip
    server = actual(new, made, {**moved_new, "retryCount": 9})
    revert = plan_revert(config, report, server)
    assert dict(revert.desired.tasks)["u"].definition == old and dict(revert.desired.tasks)["d"].definition == gone
    assert "c" not in revert.desired.tasks and revert.targets == ("u", "c", "d", "m") and revert.count == 3
    assert revert.refused == ("task m: changed on the server since that apply; left as it is",)
    assert dict(revert.desired.tasks)["m"].definition["retryCount"] == 9  # kept as the server has it


def test_a_revert_refuses_other_servers_old_reports_and_masked_values(tmp_path):
    config = load_config(cwd=project(tmp_path / "p"), environ={})
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"server_url": "http://elsewhere/api", "results": []}))
    with pytest.raises(IdflowError, match="configured server"):
        plan_revert(config, other, actual())
    old = _report(tmp_path, [{"kind": "task", "name": "x", "version": None, "action": "create", "status": "applied"}])
    with pytest.raises(IdflowError, match="without revert support"):
        plan_revert(config, old, actual())
    secret = normalise_taskdef({"name": "s", "inputTemplate": {"token": "abcdefgh"}})
    now = normalise_taskdef({"name": "s"})
    masked = _report(tmp_path, [_result("s", "update", secret, now)])
    revert = plan_revert(config, masked, actual(now))
    assert revert.count == 0 and "masks a secret-looking value" in revert.refused[0]
    assert "inputTemplate.token" in revert.refused[0]


HANDLER = {  # shaped like conductor-oss's EventHandler answers (GET /api/event)
    "name": "on_order",
    "event": "conductor:orders:placed",
    "condition": "$.kind == 'digital'",
    "evaluatorType": "javascript",
    "active": True,
    "actions": [{"action": "start_workflow", "expectWildcard": False,
                 "start_workflow": {"name": "fulfil", "version": 2, "input": {"order": "${order_id}"},
                                    "taskToDomain": {}}}],
}  # fmt: skip
SCHEDULE = {  # shaped like GET /api/scheduler/schedules: server-owned times and users included
    "name": "nightly",
    "cronExpression": "0 0 2 * * ?",
    "zoneId": "Europe/Berlin",
    "paused": True,
    "runCatchupScheduleInstances": False,
    "cronSchedules": [],
    "startWorkflowRequest": {"name": "fulfil", "version": 2, "input": {"batch": True}, "taskToDomain": {},
                             "priority": 0},
    "createTime": 1700000000000, "updatedTime": 1700000000001, "createdBy": "ops", "updatedBy": "ops",
    "nextRunTime": 1700000099999, "description": "the nightly batch",
}  # fmt: skip


def test_handlers_and_schedules_are_written_one_file_each_and_read_back_the_same(tmp_path):
    from idflow.kinds.event_normal import normalise_event_handler
    from idflow.kinds.schedule_normal import normalise_schedule
    from idflow.repo.event_files import read_event_handlers
    from idflow.repo.schedule_files import read_schedules

    root = project(tmp_path)
    remote = FakeRemote()
    remote.put_workflow_defs([{"name": "fulfil", "version": 2, "tasks": []}])
    remote.events["on_order"] = dict(HANDLER)
    remote.events["on order/2"] = {**HANDLER, "name": "on order/2"}  # no file name, no name a file can keep
    remote.schedules["nightly"] = dict(SCHEDULE)
    config = load_config(cwd=root, environ={})
    outcome = import_objects(config, remote, everything=True)
    assert outcome.readback == [], outcome.readback
    written = {i.key: i.path.relative_to(root).as_posix() for i in outcome.written if i.kind in ("event", "schedule")}
    assert written == {
        "event:on_order": "idflow/events/on_order.yaml",
        "schedule:nightly": "idflow/schedules/nightly.yaml",
    }
    assert any("event handler 'on order/2' cannot be kept" in s for s in outcome.skipped), outcome.skipped
    text = (root / "idflow" / "schedules" / "nightly.yaml").read_text()
    assert text.startswith("name: nightly\ncronExpression:") and "zoneId: Europe/Berlin" in text
    for owned in ("createTime", "updatedTime", "createdBy", "updatedBy", "nextRunTime", "priority", "cronSchedules"):
        assert owned not in text, owned
    assert "paused: true" in text  # the server's state is what the file creates it in
    handler = (root / "idflow" / "events" / "on_order.yaml").read_text()
    assert handler.startswith("name: on_order\nevent: conductor:orders:placed\n") and "taskToDomain" not in handler
    [local] = read_event_handlers(root / "idflow" / "events", variables={}, root=root)
    assert local.definition == normalise_event_handler(HANDLER)
    [schedule] = read_schedules(root / "idflow" / "schedules", variables={}, root=root)
    assert schedule.definition == normalise_schedule(SCHEDULE)

    again = import_objects(config, remote, ("nightly",), kind="schedule", force=True, fmt="json")
    assert [i.path.name for i in again.written] == ["nightly.yaml"]  # rewritten in place, in its own format
    assert (root / "idflow" / "schedules" / "nightly.yaml").read_text() == text


def test_handlers_and_schedules_in_json_and_under_a_safe_file_name(tmp_path):
    root = project(tmp_path)
    (root / "idflow" / "events").mkdir(parents=True)
    (root / "idflow" / "events" / "ON_ORDER.txt").write_text("not a handler file")  # takes the name, any case
    remote = FakeRemote()
    remote.put_workflow_defs([{"name": "fulfil", "version": 2, "tasks": []}])
    remote.events["on_order"] = dict(HANDLER)
    outcome = import_objects(load_config(cwd=root, environ={}), remote, ("on_order",), fmt="json")
    assert outcome.readback == [] and [i.path.name for i in outcome.written] == ["on_order_2.json"]
    assert "written under the file name 'on_order_2' (that name is taken)" in outcome.notes[0]
    data = json.loads((root / "idflow" / "events" / "on_order_2.json").read_text())
    assert list(data)[:2] == ["name", "event"] and "$schema" not in data


def test_with_owner_email_all_takes_the_handlers_and_schedules_that_start_only_that_owners_workflows(tmp_path):
    root = project(tmp_path, "owner_email: me@x\n")
    remote = FakeRemote()
    remote.put_workflow_defs([{"name": "fulfil", "version": 2, "ownerEmail": "me@x", "tasks": []},
                              {"name": "theirs", "version": 1, "ownerEmail": "t@x", "tasks": []}])  # fmt: skip
    remote.events["on_order"] = dict(HANDLER)
    theirs = {"action": "start_workflow", "start_workflow": {"name": "theirs", "version": 1}}
    remote.events["mixed"] = {**HANDLER, "name": "mixed", "actions": [*HANDLER["actions"], theirs]}
    remote.events["no_start"] = {**HANDLER, "name": "no_start", "actions": [{"action": "complete_task",
                                 "complete_task": {"workflowId": "${wf}", "taskRefName": "r"}}]}  # fmt: skip
    remote.schedules["nightly"] = dict(SCHEDULE)
    config = load_config(cwd=root, environ={})
    outcome = import_objects(config, remote, everything=True)
    assert {i.key for i in outcome.written} == {"workflow:fulfil:2", "event:on_order", "schedule:nightly"}
    assert outcome.readback == [], outcome.readback
    named = import_objects(config, remote, ("mixed",), kind="event")  # named: imported whatever it starts
    assert [i.key for i in named.written] == ["event:mixed"] and named.readback == []


def test_an_export_restores_handlers_and_schedules_and_a_server_without_a_scheduler_has_none(tmp_path):
    from idflow.kinds.event_normal import normalise_event_handler
    from idflow.kinds.key import Kind as Kinds
    from idflow.kinds.key import ObjectKey
    from idflow.kinds.schedule_normal import normalise_schedule

    root = project(tmp_path / "p", "owner_email: me@x\n")
    config = load_config(cwd=root, environ={})
    remote = FakeRemote()
    remote.put_workflow_defs([{"name": "fulfil", "version": 2, "ownerEmail": "me@x", "tasks": []},
                              {"name": "theirs", "version": 1, "ownerEmail": "t@x", "tasks": []}])  # fmt: skip
    remote.events["on_order"] = dict(HANDLER)
    remote.events["their_handler"] = {
        **HANDLER,
        "name": "their_handler",
        "actions": [{"action": "start_workflow", "start_workflow": {"name": "theirs"}}],
    }
    remote.schedules["nightly"] = dict(SCHEDULE)
    out = tmp_path / "backup"
    assert export(config, remote, out).counts == {"task": 0, "workflow": 2, "event": 2, "schedule": 1}
    assert (out / "events" / "on_order.json").is_file() and (out / "schedules" / "nightly.json").is_file()
    desired, notes = desired_from_export(config, out)
    assert "2 definition(s) of other owners" in notes[0]  # the workflow and the handler that starts it
    event, schedule = Kinds("event"), Kinds("schedule")
    assert set(desired.others[event]) == {ObjectKey(event, "on_order")}
    assert desired.others[event][ObjectKey(event, "on_order")].definition == normalise_event_handler(HANDLER)
    got = desired.others[schedule][ObjectKey(schedule, "nightly")].definition
    assert got == normalise_schedule(SCHEDULE) and "ownerEmail" not in got  # no owner field to set

    remote.scheduler = False
    bare = tmp_path / "bare"
    assert export(config, remote, bare).counts["schedule"] == 0
    assert not (bare / "schedules").exists()
    desired, _notes = desired_from_export(config, bare)
    assert dict(desired.others[schedule]) == {}
