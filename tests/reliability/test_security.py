"""Security canaries: task code never runs, credentials never leak, state files are private.

* A task module whose top level, function body and package ``__init__`` files each write a marker file:
  no marker may ever appear, whichever command reads the tasks.
* An API key and secret in the environment (the proxy plays Orkes and hands out a token for them): none
  of the three may appear in any output or log line (text or JSON, with ``--debug``), plan file, apply
  report or other file idflow writes. Plan files and reports are created with mode 0600.
"""

from __future__ import annotations

import json
import logging
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.reliability.conftest import REPO, Project, Run

pytestmark = pytest.mark.integration


# -- task code is never executed ----------------------------------------------------------------------

CANARY_TASK = """\
import pathlib

pathlib.Path({top!r}).write_text("the module's top level ran")

from idflow import worker_task


@worker_task(task_definition_name={name!r}, retry_count=1)
def {name}(task):
    \"\"\"A canary: running it leaves a marker file.\"\"\"
    pathlib.Path({body!r}).write_text("the function body ran")
    return {{}}
"""
MARKER_INIT = 'import pathlib\n\npathlib.Path({path!r}).write_text("{what} was imported")\n'


def plant_canary(project: Project, name: str, markers: Path) -> list[Path]:
    """A task whose code, if ever run or imported, writes files under ``markers``; returns their paths."""
    markers.mkdir()
    top, body = markers / "module-top-level", markers / "function-body"
    inits = {
        project.root / "idflow" / "__init__.py": markers / "project-package",
        project.root / "idflow" / "tasks" / "__init__.py": markers / "tasks-package",
        project.root / "idflow" / "tasks" / name / "__init__.py": markers / "task-package",
    }
    folder = project.root / "idflow" / "tasks" / name
    folder.mkdir(parents=True)
    (folder / f"{name}.py").write_text(CANARY_TASK.format(top=str(top), body=str(body), name=name))
    (folder / "helpers.py").write_text(MARKER_INIT.format(path=str(markers / "helpers-module"), what="helpers.py"))
    for init, marker in inits.items():
        init.write_text(MARKER_INIT.format(path=str(marker), what=init.relative_to(project.root)))
    return [top, body, markers / "helpers-module", *inits.values()]


COMMANDS = [
    ("plan",),
    ("plan", "--format", "json"),
    ("plan", "--format", "markdown"),
    ("--debug", "--log-format", "json", "plan"),
    ("show",),
    ("apply", "--dry-run"),
    ("tasks", "list"),
    ("tasks", "list", "--format", "json"),
    ("tasks", "list", "--local"),
    ("tasks", "list", "--local", "--format", "json"),
    ("tasks", "list", "--remote"),
    ("tasks", "list", "--remote", "--format", "json"),
    ("tasks", "list", "--sync"),
    ("tasks", "list", "--sync", "--format", "json"),
    ("-v", "tasks", "list", "--sync"),
    ("tasks", "upload", "{name}", "-y"),
    ("tasks", "upload", "--all", "--force", "-y"),
    ("plan",),
    ("apply", "-y"),
    ("tasks", "purge", "{name}", "--force", "-y"),
    ("apply", "--plan-now", "-y"),
    ("tasks", "purge", "{name}", "--force", "-y"),
]


def test_task_code_is_never_executed(project, proxy, server, unique, tmp_path, scenario):
    obs = scenario(
        "A task module whose top level, function body, helper module and package `__init__` files write "
        "marker files; every reading command is run: plan (text, json, markdown), show, apply --dry-run, "
        "tasks list (all variants), tasks upload, apply, tasks purge",
        "no marker file ever appears, no bytecode is written; the commands work",
    )
    name = f"{unique}_canary"
    markers = plant_canary(project, name, tmp_path / "markers")
    modules_before = set(sys.modules)
    exits = []
    for command in COMMANDS:
        args = [a.format(name=name) for a in command]
        run = project(*args)
        exits.append(run.exit_code)
        assert run.exit_code == 0, (args, run.output)
        assert "Traceback" not in run.output
        appeared = [m.name for m in markers if m.exists()]
        assert appeared == [], f"`idflow {' '.join(args)}` ran task code: {appeared}"
    assert server.get_task_def(name) is None  # the last purge removed it
    assert list(project.root.rglob("__pycache__")) == []
    assert not any(m.startswith(("idflow.tasks", f"idflow.tasks.{name}")) for m in set(sys.modules) - modules_before)
    obs.observed = (
        f"{len(COMMANDS)} commands, all exit 0 (the task was listed, uploaded, applied, purged); "
        f"0 of {len(markers)} marker files; no __pycache__; no task module imported"
    )


# -- credentials never leak ---------------------------------------------------------------------------


def _secrets() -> dict[str, str]:
    tag = uuid.uuid4().hex
    return {
        "key": f"idflow-canary-key-{tag}",
        "secret": f"idflow-canary-secret-{tag}",
        "token": f"idflow-canary-token-{tag}",
    }


def _leaks(text: str | bytes, secrets: dict[str, str]) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [what for what, value in secrets.items() if value in text]


def test_credentials_never_appear_in_output_logs_or_files(project, proxy, server, unique, caplog, scenario):
    obs = scenario(
        "CONDUCTOR_AUTH_KEY / CONDUCTOR_AUTH_SECRET set; the proxy answers POST /api/token with a token (as "
        "Orkes does); plan, show, apply, tasks list/upload/purge, a stale apply, a 401, an unreachable server, "
        "each as text and as `--log-format json --debug`",
        "key, secret and token never appear in stdout, stderr, log records, the plan file, the apply reports "
        "or any file under the project; plan files and reports have mode 0600",
    )
    secrets = _secrets()
    caplog.set_level(logging.DEBUG)
    proxy.capture = True
    proxy.add_rule("POST", r"/token$", "respond", body={"token": secrets["token"]})
    env = {"CONDUCTOR_AUTH_KEY": secrets["key"], "CONDUCTOR_AUTH_SECRET": secrets["secret"]}
    name = f"{unique}_cred"
    project.configure(timeout=2, retries=1)
    project.write_task(name)
    parts = project.root / "parts"
    runs: list[tuple[str, Run]] = []

    text, debug_json = (), ("--log-format", "json", "--debug")

    def run(flags: tuple[str, ...], *args: str, expect: int = 0) -> Run:
        result = project(*flags, *args, env=env)
        runs.append((" ".join((*flags, *args)), result))
        assert result.exit_code == expect, (flags, args, result.output)
        return result

    for flags in (text, debug_json):
        run(flags, "plan", "--format", "markdown", "--parts-dir", str(parts))
        run(flags, "plan", "--format", "json")
        run(flags, "plan")
        run(flags, "show")
        run(flags, "tasks", "list", "--remote", "--format", "json")
        run(flags, "tasks", "list", "--sync")
        run(flags, "-v", "tasks", "list")
    run(text, "apply", "-y")
    project.write_task(name, retry_count=2)
    run(debug_json, "plan")
    run(debug_json, "apply", "-y")
    for flags, retries in ((text, 3), (debug_json, 4)):
        project.write_task(name, retry_count=retries)
        run(flags, "tasks", "upload", name, "-y")
    project.write_task(name, retry_count=5)
    run(text, "plan")
    server.update_task_def({**server.get_task_def(name), "description": "changed by someone else"})
    for flags in (text, debug_json):
        run(flags, "apply", "-y", expect=1)  # stale: the error and, with --debug, the traceback
    rule = proxy.add_rule("GET", r"/metadata/taskdefs$", "status", status=401)
    for flags in (text, debug_json):
        run(flags, "plan", expect=1)
    proxy.set_down(True)
    for flags in (text, debug_json):
        run(flags, "plan", expect=1)
    proxy.set_down(False)
    proxy.clear_rules()
    proxy.add_rule("POST", r"/token$", "respond", body={"token": secrets["token"]})
    run(text, "tasks", "purge", name, "--force", "-y")
    run(debug_json, "apply", "--plan-now", "-y")
    run(debug_json, "tasks", "purge", name, "--force", "-y")

    # The credentials were really in play: sent for a token, and the token sent with every call.
    token_requests = [c for c in proxy.captured if c.path.endswith("/token")]
    assert token_requests and all(secrets["key"] in c.body.decode() for c in token_requests)
    api_calls = [c for c in proxy.captured if "/metadata/" in c.path]
    assert api_calls and all(("X-Authorization", secrets["token"]) in c.headers for c in api_calls)
    assert rule.hits == 2

    leaks = {what: _leaks(r.output, secrets) for what, r in runs}
    assert {k: v for k, v in leaks.items() if v} == {}
    assert _leaks(caplog.text, secrets) == []
    written = [p for p in project.root.rglob("*") if p.is_file() and p != project.config_path]
    assert {str(p): _leaks(p.read_bytes(), secrets) for p in written if _leaks(p.read_bytes(), secrets)} == {}
    private = [project.plan_path, *project.reports()]
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in private}
    assert len(project.reports()) >= 4 and set(modes.values()) == {"0o600"}, modes
    obs.observed = (
        f"{len(runs)} runs ({sum(1 for _, r in runs if r.exit_code)} ending in an error, with tracebacks under "
        f"--debug); {len(token_requests)} token requests carried the key, all {len(api_calls)} API calls the "
        f"token; 0 leaks in output, {len(caplog.records)} log records, {len(written)} files written; "
        f"plan file and {len(project.reports())} reports all mode 0600"
    )


@pytest.mark.processes
def test_credentials_never_leak_from_a_real_process(project, proxy, server, unique, scenario):
    obs = scenario(
        "The same credentials with `python -m idflow.cli --log-format json --debug` in a real process "
        "(the SDK's own logging and handlers as in production): plan, apply, tasks list --remote, and a "
        "server answering 500",
        "neither key, secret nor token appears on stdout or stderr",
    )
    secrets = _secrets()
    proxy.add_rule("POST", r"/token$", "respond", body={"token": secrets["token"]})
    name = f"{unique}_proc"
    project.write_task(name)
    env = {
        **{k: v for k, v in project.env().items() if v is not None},
        "PATH": "/usr/bin:/bin",
        "HOME": str(project.root),
        "CONDUCTOR_AUTH_KEY": secrets["key"],
        "CONDUCTOR_AUTH_SECRET": secrets["secret"],
    }
    outputs = []
    for args, expect in (
        (("plan",), 0),
        (("apply", "-y"), 0),
        (("tasks", "list", "--remote"), 0),
        (("tasks", "purge", name, "--force", "-y"), 0),
        (("plan",), 1),
    ):
        if expect == 1:
            proxy.add_rule("GET", r"/metadata/taskdefs$", "status", status=500)
        command = [sys.executable, "-m", "idflow.cli", "--config", str(project.config_path), "--log-format", "json",
                   "--debug", *args]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False)
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == expect, done.stdout + done.stderr
    leaks = [_leaks(o, secrets) for o in outputs]
    assert leaks == [[]] * len(outputs)
    obs.observed = (
        f"{len(outputs)} processes (exits 0,0,0,0,1), {sum(len(o.splitlines()) for o in outputs)} lines of "
        "output: no key, secret or token"
    )


def test_plan_and_report_files_are_private_even_with_a_permissive_umask(project, server, unique, scenario):
    import os

    obs = scenario(
        "umask 000 while `idflow plan` and `idflow apply` write the plan file and the apply report",
        "both are created with mode 0600 regardless of the umask",
    )
    project.write_task(f"{unique}_private")
    old = os.umask(0)
    try:
        assert project("plan").exit_code == 0
        assert project("apply", "-y").exit_code == 0
    finally:
        os.umask(old)
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in (project.plan_path, *project.reports())}
    assert set(modes.values()) == {"0o600"}, modes
    obs.observed = f"modes: {', '.join(sorted(set(modes.values())))} for {len(modes)} files"


def test_control_characters_from_the_server_do_not_reach_the_terminal(project, proxy, scenario):
    obs = scenario(
        "The server (here the proxy, answering for it) lists a task whose name holds terminal escape sequences "
        "(clear screen, set the window title); `idflow plan` and `idflow tasks list --remote` print it",
        "no ESC or BEL character in the output (control characters escaped)",
    )
    evil = "evil\x1b[2J\x1b]0;pwned\x07name"
    proxy.add_rule("GET", r"/metadata/taskdefs$", "respond", body=[{"name": evil, "ownerEmail": "someone@else.io"}])
    proxy.add_rule("GET", r"/metadata/workflow$", "respond", body=[])
    runs = {args: project(*args.split()) for args in ("plan", "tasks list --remote")}
    found = {args: sorted({repr(c) for c in r.stdout if c in "\x1b\x07"}) for args, r in runs.items()}
    obs.observed = "; ".join(
        f"`idflow {args}` exit {runs[args].exit_code}, control characters in its output: {chars or 'none'}"
        for args, chars in found.items()
    )
    assert all(r.exit_code == 0 for r in runs.values())
    assert found == {args: [] for args in runs}


def test_a_password_in_the_server_url_never_appears(project, proxy, server, unique, caplog, scenario):
    import base64
    import json

    obs = scenario(
        "CONDUCTOR_SERVER_URL carries a user and password (`http://user:PASS@host/api`); plan (text, json, "
        "markdown parts), show, apply, tasks list, `-v` and `--debug --log-format json` runs, an update the "
        "server rejects (400, injected by the proxy), an unreachable server, a plan applied against another server",
        "the password is sent as HTTP basic auth and appears in no output, log record, plan file or report; "
        "the plan file's server_url has no userinfo",
    )
    password = f"idflow-canary-pw-{uuid.uuid4().hex}"
    url = proxy.api_url.replace("http://", f"http://idflow-user:{password}@")
    caplog.set_level(logging.DEBUG)
    proxy.capture = True
    env = {"CONDUCTOR_SERVER_URL": url}
    name = f"{unique}_pw"
    project.configure(timeout=2, retries=1)
    project.write_task(name)
    runs: list[Run] = []

    def run(*args: str, expect: int = 0, environ: dict[str, str] | None = None) -> Run:
        result = project(*args, env=environ or env)
        runs.append(result)
        assert result.exit_code == expect, (args, result.output)
        return result

    run("plan", "--format", "markdown", "--parts-dir", str(project.root / "parts"))
    run("plan", "--format", "json")
    run("--debug", "--log-format", "json", "-v", "plan")
    shown = run("show")
    run("apply", "-y")
    run("-v", "tasks", "list", "--remote")
    project.write_task(name, retry_count=1)
    refusal = proxy.add_rule("PUT", r"/metadata/taskdefs$", "status", status=400)  # the server says no
    rejected = run("tasks", "upload", name, "-y", expect=1)
    proxy.clear_rules()
    assert refusal.hits == 1
    run("plan")
    foreign = run("apply", "-y", expect=1, environ={"CONDUCTOR_SERVER_URL": "http://127.0.0.1:9/api"})
    proxy.set_down(True)
    down = run("plan", expect=1)
    proxy.set_down(False)

    plan_doc = json.loads(project.plan_path.read_text())
    assert plan_doc["server_url"] == proxy.api_url  # stored without userinfo
    assert "idflow-user" not in shown.stdout
    markdown = (project.root / "parts" / "plan-part-1.md").read_text()
    assert f"Server: <code>{proxy.api_url}</code>" in markdown  # the PR comment names the server, without userinfo
    for failed in (rejected, down):  # the remote error names the server, without userinfo
        assert proxy.api_url in failed.output and "idflow-user" not in failed.output, failed.output
    assert f"{proxy.api_url}/metadata/taskdefs" in json.dumps(project.last_report())
    assert f"made against {proxy.api_url}, but" in foreign.stderr, foreign.stderr
    basic = "Basic " + base64.b64encode(f"idflow-user:{password}".encode()).decode()
    api_calls = [c for c in proxy.captured if "/metadata/" in c.path]
    assert api_calls and all(("Authorization", basic) in c.headers for c in api_calls)
    leaked = [r.output for r in runs if password in r.output]
    assert leaked == []
    assert password not in caplog.text
    written = [p for p in project.root.rglob("*") if p.is_file()]
    assert [str(p) for p in written if password.encode() in p.read_bytes()] == []
    obs.observed = (
        f"{len(runs)} runs ({sum(1 for r in runs if r.exit_code)} errors, e.g. `{down.error_line()[:160]}`); "
        f"all {len(api_calls)} API calls carried basic auth; 0 leaks in output, {len(caplog.records)} log "
        f"records and {len(written)} files; plan server_url `{plan_doc['server_url']}`"
    )


def test_an_empty_project_without_owner_email_plans_no_deletes_on_a_shared_server(project, server, unique, scenario):
    obs = scenario(
        "An empty project folder without `owner_email` is pointed at a server where another team's tasks "
        "(one used by its workflow, one not) live; `idflow plan`, then `idflow tasks purge --orphaned -y`",
        "nothing is planned for deletion or deleted (only what this project applied is its own); one line "
        "says the other objects are left alone and hints at owner_email",
    )
    theirs = [f"{unique}_theirs_used", f"{unique}_theirs_free"]
    server.create_task_defs([{"name": n, "ownerEmail": "other-team@x.io"} for n in theirs])
    server.put_workflow_defs([{
        "name": f"{unique}_their_wf", "version": 1, "schemaVersion": 2, "ownerEmail": "other-team@x.io",
        "tasks": [{"name": theirs[0], "taskReferenceName": "t", "type": "SIMPLE"}],
    }])  # fmt: skip
    try:
        project.config_path.write_text("conductor:\n  timeout_seconds: 5\n")
        planned = project("plan", "--format", "json")
        doc = json.loads(planned.stdout)
        deletes = [c["name"] for c in doc["changes"] if c["action"] == "delete"]
        text = project("plan")
        purged = project("tasks", "purge", "--orphaned", "-y")
        still = [n for n in theirs if server.get_task_def(n) is not None]
        hints = text.stdout.count("set owner_email")
        obs.observed = (
            f"plan exit {planned.exit_code}, {len(deletes)} delete(s) planned, hint lines: {hints}; purge "
            f"--orphaned exit {purged.exit_code}; the other team's tasks still on the server: {len(still)} of 2"
        )
        assert planned.exit_code == 0 and deletes == [] and hints == 1
        assert purged.exit_code == 0 and still == theirs
    finally:
        server.delete_workflow_def(f"{unique}_their_wf", 1)


# -- adopting a server: names from the server are not trusted ----------------------------------------


def test_import_of_hostile_names_from_the_server_writes_only_safe_files_inside_the_project(project, proxy, scenario):
    obs = scenario(
        "The server (the proxy, answering for it) lists tasks and workflows of this project's owner named "
        "`../../escape`, `/etc/cron.d/x`, `__init__`, `import`, a NUL, an escape sequence, and a workflow "
        "`../../../tmp/evil`; `idflow import --all` runs",
        "every file written is inside the project's task or workflow folder, with a module or file name made "
        "safe and the mapping said; names no local file can keep are skipped with the reason; exit 0",
    )
    owner = project.owner
    names = ["../../escape", "/etc/cron.d/x", "__init__", "import", "nul\x00name", "esc\x1b[2Jname", "ok.name"]
    proxy.add_rule("GET", r"/metadata/taskdefs$", "respond", body=[{"name": n, "ownerEmail": owner} for n in names])
    proxy.add_rule("GET", r"/metadata/workflow$", "respond", body=[
        {"name": "../../../tmp/evil", "version": 1, "ownerEmail": owner,
         "tasks": [{"name": "a", "taskReferenceName": "a"}]},
        {"name": "fine", "version": 1, "ownerEmail": owner,
         "tasks": [{"name": "ok.name", "taskReferenceName": "a"}]},
    ])  # fmt: skip
    run = project("import", "--all")
    written = sorted(p.relative_to(project.root).as_posix() for p in project.root.rglob("*") if p.is_file()
                     and "config" not in p.parts)  # fmt: skip
    outside = [p for p in written if not p.startswith(("idflow/tasks/", "idflow/workflows/"))]
    obs.observed = f"exit {run.exit_code}; files: {', '.join(written)}; skipped: {run.stderr.count('skipped:')}"
    assert run.exit_code == 0, run.stderr
    assert outside == [] and "idflow/tasks/ok_name/ok_name.py" in written
    assert {"idflow/tasks/task_init__/task_init__.py", "idflow/tasks/import_/import_.py"} <= set(written)
    assert "idflow/workflows/fine/fine.v1.yaml" in written and len(written) == 4
    assert run.stderr.count("skipped:") == 5 and "\x1b" not in run.stderr + run.stdout
    assert "is written as the module 'ok_name'" in run.stderr


def test_export_refuses_a_folder_that_is_a_symbolic_link(project, proxy, tmp_path, scenario):
    obs = scenario(
        "`idflow export DIR` where DIR is a symbolic link to another (empty) folder",
        "refused with one line naming the folder; nothing written into the link's target",
    )
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "backup"
    link.symlink_to(target, target_is_directory=True)
    run = project("export", str(link))
    files = len(list(target.iterdir()))
    obs.observed = f"exit {run.exit_code}; {run.stderr.strip()[:120]}; files in the target: {files}"
    assert run.exit_code == 1 and "is a symbolic link" in run.stderr
    assert list(target.iterdir()) == []
