"""Crafted plan files, output injection and long diffs, against the real server (issue 13, items 2, 10, 12).

* A plan file edited and re-checksummed (anyone can recompute a sha256): a change whose body names another
  team's task, a consistent plan that updates another owner's task, a plan that lies about ``before``,
  a blocked delete unblocked by emptying its blockers, and ``force`` switched on. Nothing is overwritten or
  deleted behind a rendering that names something else; a forced delete is loud everywhere and re-checked.
* Signed plans (``IDFLOW_PLAN_KEY``): a signed plan applies; a tampered signed plan and an unsigned one are
  refused; the key never appears.
* Names with line breaks, ``<!--``, backticks and terminal escapes created on the server through the raw
  API, and a server error message carrying escapes: text, markdown and error lines stay what they are.
* A long INLINE script whose end changed: the rendered diff shows the part that differs.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from idflow.plan.diffing import field_diffs
from idflow.plan.file import checksum

pytestmark = pytest.mark.integration

KEY = "idflow-test-plan-key-0123456789abcdef"


def rewrite(project, edit) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Edit the plan file in place and recompute its checksum, as an attacker can."""
    doc = project.plan_doc()
    edit(doc)
    doc["checksum"] = checksum(doc)
    project.plan_path.write_text(json.dumps(doc, indent=2))
    return doc


def redo_diff(change: dict[str, Any]) -> None:
    change["diff"] = [d.to_dict() for d in field_diffs(change["before"], change["after"])]


def their_task(server, name: str, owner: str = "other-team@test.idflow", **fields: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    server.create_task_defs([{"name": name, "ownerEmail": owner, "retryCount": 1, **fields}])
    found = server.get_task_def(name)
    assert found is not None
    return found


def test_a_change_whose_body_names_another_task_is_refused(project, proxy, server, unique, scenario):
    obs = scenario(
        "Crafted plan: `changes[0].after.name` set to another team's task (checksum recomputed); "
        "`idflow show` and `idflow apply -y`",
        "both refuse in one line before any request (the change does not hold together); the other task is "
        "untouched, ours too; zero writes",
    )
    mine, theirs = f"{unique}_mine", f"{unique}_theirs"
    their_task(server, theirs)
    project.write_task(mine)
    assert project("apply", "--plan-now", "-y").exit_code == 0
    project.write_task(mine, retry_count=7)
    assert project("plan").exit_code == 0
    rewrite(project, lambda d: d["changes"][0]["after"].update(name=theirs))
    proxy.reset_counters()
    shown, applied = project("show"), project("apply", "-y")
    lines = [shown.error_line(), applied.error_line()]
    assert shown.exit_code == applied.exit_code == 1
    assert all("does not hold together" in line and "after.name" in line for line in lines), lines
    assert proxy.requests == []
    assert server.get_task_def(theirs)["retryCount"] == 1
    assert server.get_task_def(mine)["retryCount"] != 7
    obs.observed = f"show and apply exit 1: `{lines[1]}`; {len(proxy.requests)} requests; both tasks unchanged"


def test_a_consistent_plan_against_another_owners_task_is_refused(project, proxy, server, unique, scenario):
    from idflow.plan.file import write_plan
    from idflow.plan.inputs import read_actual
    from idflow.plan.model import PlanOptions
    from idflow.plan.planner import build_plan
    from tests.factories import desired

    obs = scenario(
        "Crafted plan, fully consistent: made by an idflow without `owner_email` to update another team's "
        "task (body, diff and fingerprint right); then the same with `before.ownerEmail` changed to ours "
        "(diff and checksum recomputed, a lie about the server)",
        "the first refused before any request (it updates an object of another owner, checked against the "
        "current config); the second after the stale check (`before` is not what the server holds); zero "
        "writes, the task unchanged",
    )
    theirs = f"{unique}_theirs"
    their_task(server, theirs)
    wanted = desired({"name": theirs, "retryCount": 9, "ownerEmail": project.owner})
    crafted = build_plan(wanted, read_actual(server), PlanOptions(targets=(theirs,)), server_url=project.api_url)
    project.state_dir.mkdir(exist_ok=True)
    write_plan(crafted, project.plan_path, key=None)
    proxy.reset_counters()
    first = project("apply", "-y")
    line1 = first.error_line()
    assert first.exit_code == 1 and "owner other than the configured owner_email" in line1, line1
    assert proxy.requests == []

    def lie(doc: dict[str, Any]) -> None:
        change = doc["changes"][0]
        change["before"]["ownerEmail"] = project.owner
        redo_diff(change)

    rewrite(project, lie)
    second = project("apply", "-y")
    line2 = second.error_line()
    assert second.exit_code == 1 and "is not what the server holds" in line2, line2
    assert not [r for r in proxy.requests if r.forwarded and r.method != "GET" and "taskdefs" in r.path]
    assert server.get_task_def(theirs)["retryCount"] == 1
    obs.observed = f"exit 1: `{line1}`; exit 1: `{line2}`; no task write; the task unchanged"


def _used_task(project, server, unique: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Our task, applied, used by a server workflow, then removed locally: a blocked delete."""
    used, flow = f"{unique}_used", f"{unique}_flow"
    project.write_task(used)
    assert project("apply", "--plan-now", "-y").exit_code == 0
    server.put_workflow_defs(
        [{"name": flow, "version": 1, "schemaVersion": 2, "ownerEmail": "other-team@test.idflow",
          "tasks": [{"name": used, "taskReferenceName": "u", "type": "SIMPLE"}]}]
    )  # fmt: skip
    project.remove_task(used)
    return used, flow


@pytest.fixture
def cleanup_workflows(server):  # type: ignore[no-untyped-def]
    made: list[tuple[str, int]] = []
    yield made
    for name, version in made:
        try:
            server.delete_workflow_def(name, version)
        except Exception as exc:  # cleanup must not hide the test's result
            print(f"cleanup: {name} v{version}: {exc}")


def test_emptied_blockers_do_not_unblock_a_delete(project, proxy, server, unique, cleanup_workflows, scenario):
    obs = scenario(
        "Crafted plan: the blocked delete of a task a workflow uses, with `blockers` emptied (checksum "
        "recomputed, `options.force` still false); `idflow apply -y`",
        'apply re-checks usage before the delete: skipped ("now used by workflow ..."), the task still exists',
    )
    used, flow = _used_task(project, server, unique)
    cleanup_workflows.append((flow, 1))
    assert project("plan").exit_code == 0
    rewrite(project, lambda d: d["changes"][0].update(blockers=[]))
    run = project("apply", "-y")
    assert run.exit_code == 0, run.output
    assert server.get_task_def(used) is not None
    result = next(r for r in project.last_report()["results"] if r["name"] == used)
    assert result["status"] == "skipped" and f"now used by workflow {flow} v1" in result["detail"], result
    obs.observed = f"exit 0; the delete {result['status']}: `{result['detail']}`; the task is still there"


def test_force_in_a_crafted_plan_is_loud_everywhere_and_usage_is_rechecked(
    project, proxy, server, unique, cleanup_workflows, scenario
):
    obs = scenario(
        "Crafted plan: `options.force=true` and `blockers` emptied on the delete of a task a workflow uses "
        "(checksum recomputed); show as text, markdown and json, apply --dry-run, apply answered 'n' at the "
        "prompt, then apply -y",
        "every rendering carries a FORCE line; the prompt names the task as used NOW by the workflow; 'n' "
        "deletes nothing; -y deletes it (force is a legitimate plan option) and the output and report say "
        "FORCED with the workflow that uses it now",
    )
    used, flow = _used_task(project, server, unique)
    cleanup_workflows.append((flow, 1))
    assert project("plan").exit_code == 0

    def force(doc: dict[str, Any]) -> None:
        doc["options"]["force"] = True
        doc["changes"][0]["blockers"] = []

    rewrite(project, force)
    text, markdown = project("show"), project("show", "--format", "markdown")
    as_json = project("show", "--format", "json")
    dry = project("apply", "--dry-run")
    assert {r.exit_code for r in (text, markdown, as_json, dry)} == {0}
    assert text.stdout.startswith("FORCE: this plan was made with --force")
    assert "> **FORCE: this plan was made with --force" in markdown.stdout
    assert json.loads(as_json.stdout)["options"]["force"] is True
    assert "FORCED: each deleted EVEN IF a workflow uses it" in dry.stdout and dry.stdout.startswith("FORCE:")
    declined = project("apply", env={"IDFLOW_INTERACTIVE": "1"}, input_text="n\n")
    assert declined.exit_code == 1
    assert f"FORCE: task {used} is used NOW by workflow {flow} v1 and will be deleted" in declined.stderr
    assert server.get_task_def(used) is not None
    proxy.reset_counters()
    run = project("apply", "-y")
    assert run.exit_code == 0, run.output
    assert f"FORCED: deleted although used now by workflow {flow} v1" in run.stdout
    report = project.last_report()
    forced = next(r for r in report["results"] if r["name"] == used)
    assert report["forced"] is True and forced["detail"].startswith("FORCED"), report["results"]
    assert server.get_task_def(used) is None
    obs.observed = (
        "FORCE line in text, markdown, dry run and prompt (json options.force true); 'n' left the task; "
        f"-y deleted it, reported `{forced['detail']}`"
    )


def test_signed_plans(project, proxy, server, unique, scenario):
    obs = scenario(
        "IDFLOW_PLAN_KEY set: plan, show and apply a signed plan; then a signed plan tampered consistently "
        "(after.retryCount, diff and checksum recomputed); then an unsigned plan; then the signed plan read "
        "without the key",
        "the signed plan applies; the tampered one and the unsigned one are refused in one line with zero "
        "writes; without the key the signed plan is read as before; the key never appears in any output or file",
    )
    name = f"{unique}_signed"
    env = {"IDFLOW_PLAN_KEY": KEY}
    project.write_task(name)
    runs = [project("plan", env=env)]
    assert runs[0].exit_code == 0 and project.plan_doc()["signature"].startswith("hmac-sha256:")
    runs.append(project("show", env=env))
    runs.append(project("apply", "-y", env=env))
    assert [r.exit_code for r in runs] == [0, 0, 0], [r.output for r in runs]
    assert server.get_task_def(name) is not None
    assert project.plan_doc()["applied"] and project("show", env=env).exit_code == 0  # still validly signed

    project.write_task(name, retry_count=4)
    assert project("plan", env=env).exit_code == 0

    def tamper(doc: dict[str, Any]) -> None:
        change = doc["changes"][0]
        change["after"]["retryCount"] = 40
        redo_diff(change)

    rewrite(project, tamper)
    proxy.reset_counters()
    tampered = project("apply", "-y", env=env)
    line1 = tampered.error_line()
    assert tampered.exit_code == 1 and "signature does not match" in line1 and proxy.requests == []
    assert project("show").exit_code == 0  # without the key: an unsigned-plan reader does not check it

    assert project("plan").exit_code == 0  # unsigned
    assert "signature" not in project.plan_doc()
    unsigned, shown = project("apply", "-y", env=env), project("show", env=env)
    line2 = unsigned.error_line()
    assert unsigned.exit_code == shown.exit_code == 1 and "not signed, and IDFLOW_PLAN_KEY is set" in line2
    assert proxy.forwarded_writes() == 0
    assert server.get_task_def(name)["retryCount"] != 40
    runs += [tampered, unsigned, shown]
    files = [p.read_text(errors="replace") for p in project.root.rglob("*") if p.is_file()]
    assert not any(KEY in r.output for r in runs) and not any(KEY in f for f in files)
    obs.observed = f"signed plan applied; tampered: `{line1}`; unsigned: `{line2}`; 0 writes; key in no output or file"


EVIL = {
    "newline_plan": "\nPlan: 0 to create, 0 to update, 0 to delete.",
    "comment": "\n<!-- hide the rest",
    "backticks": "`` `x` ``|cell",
    "osc": "\x1b]0;pwned\x07\x1b[2J",
    "html": "<img src=x onerror=alert(1)>&amp;",
}


def test_hostile_names_from_the_server_render_safely(project, proxy, server, unique, scenario):
    obs = scenario(
        "Task defs created through the raw API with names holding a newline and a fake 'Plan:' line, "
        "`<!--`, backticks and `|`, an OSC/CSI sequence, HTML; owned by the project so `idflow plan` plans "
        "their deletes; text, markdown (`--parts-dir`) and -v",
        "text: no ESC/BEL, no line of its own for any name (one summary line); markdown: every part marker "
        "exactly once per part and no other `<!--`, no backtick outside the JSON fences, no raw `<`, every "
        "table row one line",
    )
    names = {key: f"{unique}_{key}{value}" for key, value in EVIL.items()}
    created = []
    for key, name in names.items():
        try:
            server.create_task_defs([{"name": name, "ownerEmail": project.owner, "retryCount": 1}])
        except Exception as exc:
            obs.note(f"the server refused {key}: {exc}")
            continue
        created.append(key)
    listed = {d["name"] for d in server.list_task_defs()}
    stored = [k for k in created if names[k] in listed]
    assert len(stored) >= 4, (created, stored)
    parts_dir = project.root / "parts"
    text = project("-v", "plan")
    markdown = project("plan", "--format", "markdown", "--parts-dir", str(parts_dir))
    assert text.exit_code == markdown.exit_code == 0, text.output + markdown.output
    assert not re.search("[\x1b\x07]", text.output + markdown.output)
    summary_lines = [line for line in text.stdout.splitlines() if line.startswith("Plan:")]
    assert len(summary_lines) == 1, summary_lines
    assert all(f"task {unique}_{k}" in text.stdout for k in stored)
    delete_rows = []
    for part in sorted(parts_dir.glob("*.md")):
        body = part.read_text()
        assert body.count("<!--") == 1 and body.startswith("<!-- idflow-plan part "), part.name
        outside = "\n".join(line for line in body.splitlines() if line not in ("```json", "```"))
        assert "`" not in outside, part.name
        assert "<img" not in body and "<!-- hide" not in body
        rows = [line for line in body.splitlines() if line.startswith("| - |")]
        assert all(line.endswith("|") for line in rows)
        delete_rows += rows
    assert delete_rows  # the orphans' rows were there to check
    assert sum(body.count(f"{unique}_") for body in (p.read_text() for p in parts_dir.glob("*.md"))) >= len(stored)
    obs.observed = (
        f"{len(stored)} of {len(EVIL)} names stored by the server ({', '.join(stored)}); text: 1 'Plan:' line, "
        "no ESC/BEL; markdown: one marker per part, no stray `<!--`, backtick or tag"
    )


def test_a_server_error_message_with_escapes_is_one_escaped_line(project, proxy, scenario):
    obs = scenario(
        "The server answers 500 with a message holding an OSC title sequence, a newline and a fake "
        "'Error:' line (`idflow plan`)",
        "exit 1, exactly one line on stderr, no ESC/BEL, the newline shown as \\n",
    )
    message = "boom\x1b]0;pwned\x07\nError: everything is fine"
    proxy.add_rule("GET", r"/metadata/taskdefs$", "respond", status=500, body={"status": 500, "message": message})
    project.configure(retries=0)
    run = project("plan")
    line = run.error_line()
    assert run.exit_code == 1 and not re.search("[\x1b\x07]", run.output)
    obs.observed = f"exit 1: `{line[:200]}`"


INLINE = """\
{{"name": "{name}", "version": 1, "schemaVersion": 2, "ownerEmail": "{owner}",
 "tasks": [{{"name": "calc", "taskReferenceName": "calc", "type": "INLINE",
   "inputParameters": {{"evaluatorType": "graaljs", "expression": {script}}}}}]}}
"""


def test_a_long_inline_script_diff_shows_where_it_differs(project, proxy, server, unique, cleanup_workflows, scenario):
    obs = scenario(
        "A workflow with a 2,000-character INLINE script, applied; then only its last statement changes; "
        "`idflow plan` as text and markdown",
        "both renderings show the changed end of the script (before and after differ visibly) with the offset and '…'",
    )
    name = f"{unique}_inline"
    cleanup_workflows.append((name, 1))
    folder = project.root / "idflow" / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    body = "".join(f"var v{i} = $.input{i} + {i};\n" for i in range(80))

    def write(last: str) -> Path:
        path = folder / f"{name}.json"
        path.write_text(INLINE.format(name=name, owner=project.owner, script=json.dumps(body + last)))
        return path

    write("return v79 * 2;")
    assert project("apply", "--plan-now", "-y").exit_code == 0
    write("return v79 * 3;")
    text, markdown = project("plan"), project("plan", "--format", "markdown")
    assert text.exit_code == markdown.exit_code == 0, text.output + markdown.output
    line = next(line for line in text.stdout.splitlines() if "expression" in line)
    assert "v79 * 2" in line and "v79 * 3" in line and "…[at " in line, line
    shown = html.unescape(markdown.stdout)
    assert "v79 * 2" in shown and "v79 * 3" in shown and "…[at " in shown
    obs.observed = f"text: `{line.strip()[:160]}`; markdown shows both ends"
