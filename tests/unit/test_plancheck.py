"""The plan-file consistency check, signed plans, and the renderers' escaping (no server)."""

import html
import json
import re

import pytest

from idflow.errors import PlanFileError
from idflow.plan.file import checksum, mark_applied, read_plan, write_plan
from idflow.plan.integrity import plan_problems
from idflow.render import excerpts, one_line
from idflow.render.json_render import render_json
from idflow.render.markdown import render_markdown
from idflow.render.text import render_text
from tests.factories import actual, desired, plan_of, simple, workflow

KEY = b"unit-test-key"


def sample_plan(force: bool = False):  # type: ignore[no-untyped-def]
    return plan_of(
        desired(
            {"name": "new", "retryCount": 1},
            {"name": "upd", "retryCount": 2},
            {"name": "same"},
            workflows=[workflow("w", 1, [simple("upd")]), workflow("w2", 1, [simple("new")])],
        ),
        actual(
            {"name": "upd"}, {"name": "same"}, {"name": "old"},
            workflows=[workflow("w", 1, [simple("upd"), simple("old")]), workflow("gone", 1, [simple("old")])],
        ),
        force=force,
        prune_workflows=False,
    )  # fmt: skip


def test_a_plan_idflow_made_holds_together():
    plan = sample_plan()
    actions = {c.action.value for c in plan.changes}
    assert actions == {"create", "update", "delete", "no-op"}
    assert plan_problems(plan) == []


def _first(doc, action, kind="task"):  # type: ignore[no-untyped-def]
    return next(c for c in doc["changes"] if c["action"] == action and c["kind"] == kind)


def _edit_diff_value(doc):  # type: ignore[no-untyped-def]
    _first(doc, "update")["diff"][0]["after"] = 99


TAMPERS = [
    ("after_name", lambda d: _first(d, "update")["after"].update(name="someone_elses"), "after.name is"),
    ("before_name", lambda d: _first(d, "delete")["before"].update(name="x"), "before.name is"),
    ("create_with_before", lambda d: _first(d, "create").update(before={"name": "new"}), "action create needs"),
    ("delete_with_after", lambda d: _first(d, "delete").update(after={"name": "old"}), "action delete needs"),
    ("diff_edited", _edit_diff_value, "the diff does not follow"),
    ("diff_dropped", lambda d: _first(d, "update").update(diff=[]), "the diff does not follow"),
    ("after_edited", lambda d: _first(d, "update")["after"].update(retryCount=50), "the diff does not follow"),
    ("noop_differs", lambda d: _first(d, "no-op")["after"].update(retryCount=50), "a no-op whose before and after"),
    ("workflow_version", lambda d: _first(d, "update", "workflow")["after"].update(version=7), "after.version is 7"),
    ("task_version", lambda d: _first(d, "update").update(version=3), "a task change with a version"),
    ("blockers_on_update", lambda d: _first(d, "update").update(blockers=_first(d, "delete")["blockers"]),
     "blockers on a change"),
    ("fingerprint_dropped", lambda d: d["fingerprints"].pop("task:upd"), "no fingerprint for task:upd"),
    ("uses_dropped", lambda d: d["usage_fingerprints"].pop("task:old"), "no usage fingerprint for task:old"),
    ("create_exists", lambda d: d["fingerprints"].update({"task:new": "sha256:1"}), "a create whose fingerprint"),
    ("duplicate", lambda d: d["changes"].append(json.loads(json.dumps(_first(d, "create")))), "appears more than once"),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "message"), [pytest.param(e, m, id=i) for i, e, m in TAMPERS])
def test_a_tampered_plan_with_a_recomputed_checksum_is_refused(tmp_path, edit, message):
    path = write_plan(sample_plan(), tmp_path / "plan.json", key=None)
    doc = json.loads(path.read_text())
    assert _first(doc, "delete")["blockers"], "the sample needs a blocked delete"
    edit(doc)
    doc["checksum"] = checksum(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match="does not hold together") as caught:
        read_plan(path, key=None)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_signed_plans_round_trip_and_refusals(tmp_path):
    path = write_plan(sample_plan(), tmp_path / "plan.json", key=KEY)
    doc = json.loads(path.read_text())
    assert doc["signature"].startswith("hmac-sha256:")
    plan, _ = read_plan(path, key=KEY)
    mark_applied(path, plan, {"at": "now", "report": "r.json"})
    assert read_plan(path, key=KEY)[1] == {"at": "now", "report": "r.json"}  # the signature survives
    with pytest.raises(PlanFileError, match="signature does not match"):
        read_plan(path, key=b"another key")
    assert read_plan(path, key=None)[0].changes == plan.changes  # no key: read as before
    unsigned = write_plan(sample_plan(), tmp_path / "unsigned.json", key=None)
    with pytest.raises(PlanFileError, match="not signed, and IDFLOW_PLAN_KEY is set"):
        read_plan(unsigned, key=KEY)
    doc["options"]["targets"] = ["x"]
    doc["checksum"] = checksum(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match="signature does not match"):
        read_plan(path, key=KEY)


def test_the_key_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("IDFLOW_PLAN_KEY", "from-env")
    path = write_plan(sample_plan(), tmp_path / "plan.json")
    assert "from-env" not in path.read_text() and "signature" in json.loads(path.read_text())
    read_plan(path)
    monkeypatch.setenv("IDFLOW_PLAN_KEY", "another")
    with pytest.raises(PlanFileError, match="signature does not match"):
        read_plan(path)


# -- renderers ------------------------------------------------------------------------------------------

EVIL = (
    "x\nPlan: 9 to create, 0 to update, 0 to delete.\n<!-- idflow-plan part 1 of 1 --> `code` | cell <b>&amp;"
    "\x1b]0;t\x07"
)


def evil_plan(force: bool = False):  # type: ignore[no-untyped-def]
    return plan_of(
        desired({"name": "mine"}, workflows=[workflow("w", 1, [simple(EVIL, "r")])]),
        actual({"name": EVIL}, workflows=[workflow("w", 1, [simple(EVIL, "r")], description=EVIL)]),
        force=force,
    )


def test_text_keeps_every_name_on_its_line():
    text = render_text(evil_plan(), show_noop=True)
    assert [line for line in text.splitlines() if line.startswith("Plan:")] == [text.splitlines()[-1]]
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f]", text)
    assert "x\\nPlan: 9 to create" in text


def test_markdown_escapes_names_values_and_keeps_the_marker_unforgeable():
    parts = render_markdown(evil_plan(), show_noop=True)
    for part in parts:
        assert part.count("<!--") == 1 and part.startswith("<!-- idflow-plan part ")
        assert "<b>&amp;" not in part and "\x1b" not in part
        assert "`" not in "\n".join(line for line in part.splitlines() if line not in ("```json", "```"))
        rows = [line for line in part.splitlines() if line.startswith("| ") and "Plan: 9" in html.unescape(line)]
        assert rows and all(line.endswith("|") and html.unescape(line).count("|") > line.count("|") for line in rows)
    assert "x\\nPlan: 9 to create" in html.unescape("".join(parts))


def test_force_is_loud_in_every_rendering():
    plan = evil_plan(force=True)
    text = render_text(plan)
    markdown = "".join(render_markdown(plan))
    as_json = json.loads(render_json(plan))
    assert text.startswith("FORCE: this plan was made with --force")
    assert "FORCE: task x\\nPlan" in text  # the forced delete of a used task, by name, escaped
    assert "[!CAUTION]" in markdown and "FORCE: this plan was made with --force" in markdown
    assert as_json["options"]["force"] is True and as_json["forced_deletes"] == [EVIL]
    from idflow.apply.applier import explain

    assert any("FORCED: each deleted EVEN IF a workflow uses it" in line for line in explain(plan))
    quiet = render_text(evil_plan())
    assert "FORCE" not in quiet and json.loads(render_json(evil_plan()))["forced_deletes"] == []


def test_long_values_are_cut_where_they_differ():
    script = "".join(f"var v{i} = {i};\n" for i in range(200))
    before, after = script + "return 1;", script + "return 2;"
    old, new = excerpts(json.dumps(before), json.dumps(after), 120)
    assert old != new and "return 1" in old and "return 2" in new
    assert old.startswith("…[at ") and len(old) < 160
    from idflow.kinds.workflow_normal import normalise_workflowdef

    plan = plan_of(
        desired(workflows=[normalise_workflowdef(workflow("w", 1, [{"name": "i", "taskReferenceName": "i",
                "type": "INLINE", "inputParameters": {"expression": after}}]))]),
        actual(workflows=[workflow("w", 1, [{"name": "i", "taskReferenceName": "i", "type": "INLINE",
                                             "inputParameters": {"expression": before}}])]),
    )  # fmt: skip
    text = render_text(plan)
    line = next(line for line in text.splitlines() if "expression" in line)
    assert "return 1" in line and "return 2" in line
    markdown = html.unescape("".join(render_markdown(plan)))
    assert "return 1" in markdown and "return 2" in markdown and "…[at " in markdown
    assert excerpts("short", "other", 120) == ("short", "other")


def test_one_line_escapes_breaks_and_controls():
    assert one_line("a\nb\r\tc\x1b[2J\u2028") == "a\\nb\\r\\tc\\x1b[2J\\u2028"
