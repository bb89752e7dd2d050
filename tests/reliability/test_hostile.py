"""Hostile and malformed input: task files, config files, plan files and CLI misuse.

The inputs are files under ``hostile/`` (task sources are stored as ``*.py.in`` so that no linter or test
collector reads them as code); a few are made at test time (a file over 5 MB, symbolic link loops). Every
case runs the CLI in-process against the real server through the fault proxy and must end in exit code 1
with ONE line on stderr that names what is wrong and where (file and line when there is one), no
traceback, and no write reaching the server.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.reliability.conftest import Project, Run

pytestmark = pytest.mark.integration

HOSTILE = Path(__file__).resolve().parent / "hostile"


@dataclass(frozen=True)
class Case:
    id: str
    expect: str  # a fragment of the error line
    where: str | None = None  # path of the offending file, relative to the project root ("" = none)
    line: int | None = None  # the line the error must point at
    known_bug: str | None = None  # the case is xfail(strict=True) with this reason
    env: dict[str, str | None] = field(default_factory=dict)

    @property
    def param(self):  # type: ignore[no-untyped-def]
        marks = [pytest.mark.xfail(strict=True, reason=self.known_bug)] if self.known_bug else []
        return pytest.param(self, id=self.id, marks=marks)


def check(run: Run, project: Project, proxy, case: Case, obs) -> str:  # type: ignore[no-untyped-def]
    """The common assertions; returns the error line."""
    obs.observed = f"exit {run.exit_code}: `{(run.stderr.strip().splitlines() or [''])[0][:240]}`"
    assert "Traceback" not in run.output, run.output
    line = run.error_line()
    assert run.exit_code == 1, run.output
    assert case.expect in line, line
    if case.where is not None:
        where = str(project.root / case.where) if case.where else ""
        assert where in line, f"{where!r} not in {line!r}"
        if case.line is not None:
            assert f"{where}:{case.line}:" in line, f"line {case.line} not in {line!r}"
    writes = proxy.forwarded_writes()
    assert writes == 0
    obs.note(f"{len(proxy.requests)} request(s) to the server, {writes} writes")
    return line


# -- task files -------------------------------------------------------------------------------------

T = "idflow/tasks"
TASK_CASES = [
    # syntax, and values that cannot be read without running the code
    Case("syntax_error", "syntax error: '(' was never closed", f"{T}/syntax_error/syntax_error.py", 4),
    Case("deep_nesting", "syntax error: too many nested parentheses", f"{T}/deep_nesting/deep_nesting.py", 4),
    Case("deep_expression", "cannot be parsed", f"{T}/deep_expression/deep_expression.py"),
    Case("null_byte", "null bytes", f"{T}/null_byte/null_byte.py"),
    Case("not_utf8", "the file is not UTF-8 (byte 0xe9)", f"{T}/not_utf8/not_utf8.py", 6),
    Case("name_from_call", "cannot be read without running the code", f"{T}/name_from_call/name_from_call.py", 8),
    Case("keyword_from_env", "retry_count: cannot be read without running the code",
         f"{T}/keyword_from_env/keyword_from_env.py", 6),
    Case("star_kwargs", "**SETTINGS: cannot be read without running the code", f"{T}/star_kwargs/star_kwargs.py", 7),
    Case("constant_assigned_twice", "RETRIES is assigned more than once",
         f"{T}/constant_assigned_twice/constant_assigned_twice.py", 8),
    Case("fstring_name", "task_definition_name: cannot be read without running the code",
         f"{T}/fstring_name/fstring_name.py", 9),
    Case("huge_power", "retry_count: cannot be read without running the code (the operation 9 ** 9 ** 9)",
         f"{T}/huge_power/huge_power.py", 4),
    # wrong types and values
    Case("retry_count_string", "retry_count must be a whole number, not str 'three'",
         f"{T}/retry_count_string/retry_count_string.py", 4),
    Case("retry_count_bool", "retry_count must be a whole number, not bool True",
         f"{T}/retry_count_bool/retry_count_bool.py", 4),
    Case("retry_count_negative", "retry_count must be >= 0, not -1",
         f"{T}/retry_count_negative/retry_count_negative.py", 4),
    Case("retry_count_overflow", "retry_count is too large", f"{T}/retry_count_overflow/retry_count_overflow.py", 4),
    Case("timeout_float", "timeout_seconds must be a whole number, not float 1.5",
         f"{T}/timeout_float/timeout_float.py", 4),
    Case("response_timeout_zero", "response_timeout_seconds must be >= 1",
         f"{T}/response_timeout_zero/response_timeout_zero.py", 4),
    Case("input_keys_not_list", "input_keys must be a list of strings",
         f"{T}/input_keys_not_list/input_keys_not_list.py", 4),
    Case("input_template_list", "input_template must be a mapping",
         f"{T}/input_template_list/input_template_list.py", 4),
    Case("owner_email_invalid", "owner_email 'nobody' is not an email address",
         f"{T}/owner_email_invalid/owner_email_invalid.py", 4),
    # bad enums, impossible timeouts
    Case("bad_timeout_policy", "timeout_policy must be one of", f"{T}/bad_timeout_policy/bad_timeout_policy.py", 4),
    Case("bad_retry_logic", "retry_logic must be one of", f"{T}/bad_retry_logic/bad_retry_logic.py", 4),
    Case("timeout_below_default_response", "less than the default response_timeout_seconds (3600)",
         f"{T}/timeout_below_default_response/timeout_below_default_response.py", 4),
    Case("response_exceeds_timeout", "response_timeout_seconds (120) must not exceed timeout_seconds (60)",
         f"{T}/response_exceeds_timeout/response_exceeds_timeout.py", 4),
    Case("timeout_exceeds_total", "timeout_seconds (100) must not exceed total_timeout_seconds (50)",
         f"{T}/timeout_exceeds_total/timeout_exceeds_total.py", 4),
    # decorator misuse
    Case("unknown_keyword", "unknown keyword argument 'retyr_count' of worker_task (did you mean 'retry_count'?)",
         f"{T}/unknown_keyword/unknown_keyword.py", 4),
    Case("missing_name", "task_definition_name is missing", f"{T}/missing_name/missing_name.py", 4),
    Case("bare_decorator", "@worker_task must be called with the task name",
         f"{T}/bare_decorator/bare_decorator.py", 4),
    Case("sdk_decorator_with_definition_keyword", "the SDK's worker_task does not accept task-definition keywords",
         f"{T}/sdk_decorator_with_definition_keyword/sdk_decorator_with_definition_keyword.py", 4),
    Case("bad_task_name", "the task name 'bad name!' may only contain", f"{T}/bad_task_name/bad_task_name.py", 4),
    Case("empty_task_name", "the task name must be a non-empty string", f"{T}/empty_task_name/empty_task_name.py", 4),
    Case("too_many_positional", "worker_task takes at most 1 positional argument(s)",
         f"{T}/too_many_positional/too_many_positional.py", 4),
    Case("task_def_and_keywords", "not both", f"{T}/task_def_and_keywords/task_def_and_keywords.py", 6),
    # layouts: several files, duplicates, module names, requirements
    Case("duplicate_names_two_folders", "duplicate task name 'dup_task'", f"{T}/second/second.py", 4),
    Case("duplicate_names_one_file", "duplicate task name 'same'", f"{T}/both/both.py", 9),
    Case("missing_module_file", "a task folder must hold lonely.py", f"{T}/lonely"),
    Case("invalid_module_name", "'my-task' is not a valid Python module name", f"{T}/my-task/my-task.py"),
    Case("bad_requirements", "pip option '-e' is not supported", f"{T}/needs/requirements.txt", 2),
    # made at test time
    Case("huge_file", "the file is larger than 5 MB; not read", f"{T}/huge_file/huge_file.py"),
    Case("symlink_loop_folder", "Too many levels of symbolic links", f"{T}/loop"),
    Case("symlink_loop_file", "Too many levels of symbolic links", f"{T}/loopy/loopy.py"),
    Case("symlink_loop_tasks_dir", "cannot resolve the tasks_dir folder", T),
    # known bugs: internal errors (exit 3) instead of a located one-line error
    Case("surrogate_description", "surrogate", f"{T}/surrogate_description/surrogate_description.py"),
    Case("constant_chain", "constant", f"{T}/constant_chain/constant_chain.py"),
    # links out of the project, special files, exhaustion (issue 13, items 1 and 7)
    Case("requirements_link_to_environ", "the file is a symbolic link to a place outside the project; not read",
         f"{T}/leak/requirements.txt"),
    Case("task_file_link_outside", "the file is a symbolic link to a place outside the project; not read",
         f"{T}/outside/outside.py"),
    Case("task_folder_link_outside", "is a symbolic link to a folder outside the project; not read",
         f"{T}/elsewhere"),
    Case("task_file_link_to_dev_zero", "the file is a symbolic link to a place outside the project",
         f"{T}/zero/zero.py"),
    Case("task_file_fifo", "the file is a FIFO, not a regular file; not read", f"{T}/fifo/fifo.py"),
    Case("requirements_fifo", "the file is a FIFO, not a regular file; not read", f"{T}/pipe/requirements.txt"),
    Case("constant_doubling", "B39 is not a static value: a value larger than 1,000,000 characters",
         f"{T}/constant_doubling/constant_doubling.py", 46),
]  # fmt: skip

GOOD_TASK = (
    'from idflow import worker_task\n\n\n@worker_task(task_definition_name="{name}")\n'
    "def {name}(task):\n    return {{}}\n"
)


def _task_folder(tasks: Path, name: str) -> Path:
    folder = tasks / name
    folder.mkdir(parents=True)
    (folder / f"{name}.py").write_text(GOOD_TASK.format(name=name))
    return folder


def place_task_case(project: Project, case_id: str) -> None:
    tasks = project.root / "idflow" / "tasks"
    source = HOSTILE / "tasks" / case_id
    if source.is_dir():
        for path in source.rglob("*"):
            if path.is_file():
                target = tasks / path.relative_to(source)
                target = target.with_name(target.name.removesuffix(".in"))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
    elif (HOSTILE / "tasks" / f"{case_id}.py.in").is_file():
        folder = tasks / case_id
        folder.mkdir(parents=True)
        (folder / f"{case_id}.py").write_bytes((HOSTILE / "tasks" / f"{case_id}.py.in").read_bytes())
    elif case_id == "huge_file":
        folder = tasks / case_id
        folder.mkdir(parents=True)
        with open(folder / "huge_file.py", "w") as handle:
            handle.write("from idflow import worker_task\n\n\n")
            handle.write('@worker_task(task_definition_name="huge_file")\ndef huge_file(task):\n    return {}\n')
            line = "# " + "x" * 1021 + "\n"
            for _ in range(5 * 1024 + 16):
                handle.write(line)
        assert (folder / "huge_file.py").stat().st_size > 5 * 1024 * 1024
    elif case_id == "symlink_loop_folder":
        os.symlink("loop", tasks / "loop")
    elif case_id == "symlink_loop_file":
        (tasks / "loopy").mkdir()
        os.symlink("loopy.py", tasks / "loopy" / "loopy.py")
    elif case_id == "symlink_loop_tasks_dir":
        shutil.rmtree(tasks)
        os.symlink("tasks", tasks)
    elif case_id == "requirements_link_to_environ":
        os.symlink("/proc/self/environ", _task_folder(tasks, "leak") / "requirements.txt")
    elif case_id == "task_file_link_outside":
        outside = project.root.parent / "outside.py"
        outside.write_text(GOOD_TASK.format(name="outside"))
        (tasks / "outside").mkdir()
        os.symlink(outside, tasks / "outside" / "outside.py")
    elif case_id == "task_folder_link_outside":
        other = project.root.parent / "elsewhere"
        _task_folder(other.parent, other.name)
        os.symlink(other, tasks / "elsewhere")
    elif case_id == "task_file_link_to_dev_zero":
        (tasks / "zero").mkdir()
        os.symlink("/dev/zero", tasks / "zero" / "zero.py")
    elif case_id == "task_file_fifo":
        (tasks / "fifo").mkdir()
        os.mkfifo(tasks / "fifo" / "fifo.py")
    elif case_id == "requirements_fifo":
        os.mkfifo(_task_folder(tasks, "pipe") / "requirements.txt")
    else:
        raise AssertionError(f"no input for task case {case_id}")


@pytest.mark.parametrize("case", [c.param for c in TASK_CASES])
@pytest.mark.parametrize("command", ["plan", "tasks list --local"])
def test_hostile_task_files(project, proxy, scenario, case, command):
    obs = scenario(
        f"Task files: {case.id.replace('_', ' ')} (`idflow {command}`)",
        f"exit 1, one line naming {case.where or 'the input'}{f' line {case.line}' if case.line else ''}: "
        f"“{case.expect}”",
    )
    place_task_case(project, case.id)
    run = project(*command.split())
    check(run, project, proxy, case, obs)


def test_hostile_task_corpus_is_complete():
    """Every stored task input has a case (and the corpus has at least 30 task cases)."""
    stored = {p.name.removesuffix(".py.in") for p in (HOSTILE / "tasks").iterdir()}
    assert stored <= {c.id for c in TASK_CASES}
    assert len(TASK_CASES) >= 30


# -- config files -----------------------------------------------------------------------------------

CFG = "config/idflow.yml"
CONFIG_CASES = [
    Case("bad_yaml", "invalid YAML: expected the node content, but found '<stream end>'", CFG, 3),
    Case("tab_indent", "invalid YAML: found character '\\t' that cannot start any token", CFG, 2),
    Case("list_top_level", "the config must be a mapping of keys to values", CFG, 1),
    Case("timeout_string", "'conductor.timeout_seconds' must be a number of seconds, not str", CFG, 3),
    Case("timeout_zero", "'conductor.timeout_seconds' must be > 0", CFG, 3),
    Case("timeout_nan", "'conductor.timeout_seconds' must be finite", CFG, 2),
    Case("timeout_infinite", "'conductor.timeout_seconds' must be finite", CFG, 2),
    Case("retries_negative", "'conductor.retries' must be from 0 to 10", CFG, 3),
    Case("retries_huge", "'conductor.retries' must be from 0 to 10", CFG, 3),
    Case("retries_bool", "'conductor.retries' must be a whole number, not bool", CFG, 2),
    Case("duplicate_key", "invalid YAML: duplicate key 'tasks_dir'", CFG, 3),
    Case("retries_float", "'conductor.retries' must be a whole number, not float", CFG, 2),
    Case("unknown_key", "unknown key 'tasks_directory'", CFG, 2),
    Case("unknown_nested_key", "unknown key 'conductor.timeout'", CFG, 2),
    Case("conductor_not_mapping", "'conductor' must be a mapping, not str", CFG, 1),
    Case("server_url_ftp", "server URL 'ftp://conductor.example/api' must start with http:// or https://", CFG, 1,
         env={"CONDUCTOR_SERVER_URL": None}),
    Case("owner_email_invalid", "'owner_email' 'nobody' is not an email address", CFG, 1),
    Case("ignore_not_list", "'ignore' must be a list of glob patterns, not str", CFG, 1),
    Case("ignore_empty_entry", "'ignore' entries must be non-empty strings", CFG, 1),
    Case("vars_not_mapping", "'vars' must be a mapping, not list", CFG, 1),
    Case("tasks_dir_number", "'tasks_dir' must be a path, not int", CFG, 1),
    Case("python_tag", "invalid YAML: could not determine a constructor for the tag", CFG, 1),
    Case("deep_nesting", "invalid YAML: nested too deeply", CFG),
    Case("huge_integer", "invalid YAML: Exceeds the limit (4300 digits) for integer string conversion", CFG),
    Case("not_utf8", "config file is not UTF-8", CFG),
    Case("api_key_without_secret", "an API key is set but CONDUCTOR_AUTH_SECRET is not", "",
         env={"CONDUCTOR_AUTH_KEY": "a-key-without-its-secret"}),
]  # fmt: skip


@pytest.mark.parametrize("case", [c.param for c in CONFIG_CASES])
def test_hostile_config_files(project, proxy, scenario, case):
    obs = scenario(
        f"Config file: {case.id.replace('_', ' ')} (`idflow plan`)",
        f"exit 1, one line naming {case.where or 'the environment variable'}"
        f"{f' line {case.line}' if case.line else ''}: “{case.expect}”",
    )
    stored = HOSTILE / "config" / f"{case.id}.yml"
    project.config_path.write_bytes(stored.read_bytes() if stored.is_file() else b"{}\n")
    run = project("plan", env=case.env)
    check(run, project, proxy, case, obs)
    assert not project.plan_path.exists()
    assert not Path("/tmp/idflow-yaml-pwned").exists()


def test_config_file_that_does_not_exist_or_is_a_folder(project, proxy, scenario):
    obs = scenario(
        "Config file: `--config` naming a missing file, then a folder",
        "exit 1, one line each, naming the path",
    )
    missing = project.root / "nowhere" / "idflow.yml"
    first = project("--config", str(missing), "plan", config=False)
    second = project("--config", str(project.root / "config"), "plan", config=False)
    lines = [first.error_line(), second.error_line()]
    assert first.exit_code == second.exit_code == 1
    assert f"{missing}: config file not found" in lines[0]
    assert f"'{project.root / 'config'}' is a directory" in lines[1]
    assert proxy.forwarded_writes() == 0
    obs.observed = f"exit 1: `{lines[0]}`; exit 1: `{lines[1]}`"


# -- workflow files: values of the model's fields ------------------------------------------------

WFF = "idflow/workflows/wf.yaml"
_WF = "name: wf\nversion: 1\ntasks:\n  - name: wait\n    taskReferenceName: wait\n    type: WAIT\n"
WORKFLOW_CASES = [
    (Case("timeout_seconds_string", "'timeoutSeconds' must be a whole number, not the string '600'", WFF, 7),
     _WF + "timeoutSeconds: '600'\n"),
    (Case("timeout_policy_not_a_choice", "'timeoutPolicy' must be one of TIME_OUT_WF, ALERT_ONLY, not 'RETRY'", WFF, 7),
     _WF + "timeoutPolicy: RETRY\n"),
    (Case("task_type_number", "'tasks[0].type' must be a string, not the number 5", WFF, 6),
     _WF.replace("type: WAIT", "type: 5")),
    (Case("task_optional_string", "'tasks[0].optional' must be true or false, not the string 'yes'", WFF, 7),
     _WF + "    optional: 'yes'\n"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "text"), [pytest.param(c, t, id=c.id) for c, t in WORKFLOW_CASES])
def test_hostile_workflow_values(project, proxy, scenario, case, text):
    obs = scenario(
        f"Workflow file: {case.id.replace('_', ' ')} (`idflow plan`)",
        f"exit 1, one line naming {case.where} line {case.line}: “{case.expect}”",
    )
    (project.root / WFF).parent.mkdir(parents=True, exist_ok=True)
    (project.root / WFF).write_text(text)
    run = project("plan")
    check(run, project, proxy, case, obs)
    assert not project.plan_path.exists()


# -- plan files -------------------------------------------------------------------------------------

PLAN = "state/plan.json"
PLAN_CASES = [
    Case("truncated", "not a plan file (invalid JSON: Unterminated string", PLAN),
    Case("edited", "checksum mismatch: the plan file was edited or truncated", PLAN),
    Case("no_checksum", "checksum mismatch", PLAN),
    Case("wrong_version", "plan format 9.0 is not supported by this idflow (reads 1.x)", PLAN),
    Case("another_server", "the plan was made against http://conductor.example:8080/api, but the configured "
         "server is", PLAN),
    Case("already_applied", "this plan was already applied at 2026-01-01T00:05:00+00:00", PLAN),
    Case("bad_action", "malformed plan file (ValueError: 'explode' is not a valid Action)", PLAN),
    Case("applied_not_object", "malformed plan file (ValueError: 'applied' must be null or an object", PLAN),
    Case(
        "bad_fingerprint",
        "malformed plan file (ValueError: 'workflow:someflow:latest': a workflow key needs a version",
        PLAN,
    ),
    Case("not_json", "not a plan file (invalid JSON: Expecting value)", PLAN, 1),
    Case("empty", "not a plan file (invalid JSON: Expecting value)", PLAN, 1),
    Case("json_array", "not an idflow plan file (no format_version)", PLAN),
    Case("not_utf8", "not a plan file (not UTF-8 text)", PLAN),
    Case("deep_nesting", "not a plan file (JSON nested too deeply)", PLAN),
    Case("huge_integer", "not a plan file (Exceeds the limit (4300 digits)", PLAN),
    Case("lone_surrogate", "not a plan file (invalid Unicode escape in the JSON)", PLAN),
    Case("missing", "no plan file here; run `idflow plan` first", PLAN),
    Case("folder", "cannot read plan file: Is a directory", PLAN),
]  # fmt: skip


@pytest.mark.parametrize("case", [c.param for c in PLAN_CASES])
def test_hostile_plan_files(project, proxy, scenario, case):
    obs = scenario(
        f"Plan file: {case.id.replace('_', ' ')} (`idflow apply -y`)",
        f"exit 1, one line naming {case.where}{f' line {case.line}' if case.line else ''}: “{case.expect}”; "
        "no request at all",
    )
    project.state_dir.mkdir()
    if case.id == "folder":
        project.plan_path.mkdir()
    elif case.id != "missing":
        project.plan_path.write_bytes((HOSTILE / "plans" / f"{case.id}.json").read_bytes())
    before = project.plan_path.read_bytes() if project.plan_path.is_file() else None
    run = project("apply", "-y")
    check(run, project, proxy, case, obs)
    assert proxy.requests == []  # refused before asking the server anything
    if before is not None:
        assert project.plan_path.read_bytes() == before
    assert project.reports() == []


# -- CLI misuse -------------------------------------------------------------------------------------


def _planned_change(project: Project, unique: str) -> None:
    project.write_task(f"{unique}_misuse")
    assert project("plan").exit_code == 0


@dataclass(frozen=True)
class Misuse:
    id: str
    args: tuple[str, ...]
    expect: str
    setup: Callable[[Project, str], None] | None = None

    @property
    def param(self):  # type: ignore[no-untyped-def]
        return pytest.param(self, id=self.id)


MISUSE_CASES = [
    Misuse("unknown_option", ("plan", "--bogus"), "No such option '--bogus'"),
    Misuse("unknown_command", ("frobnicate",), "No such command 'frobnicate'"),
    Misuse("upload_without_names_or_all", ("tasks", "upload"), "name the tasks to upload, or pass --all (not both)"),
    Misuse("upload_names_and_all", ("tasks", "upload", "x", "--all"), "name the tasks to upload, or pass --all"),
    Misuse("purge_without_names_or_orphaned", ("tasks", "purge"), "name the tasks to purge, or pass --orphaned"),
    Misuse("bad_only_value", ("plan", "--only", "rename"), "Invalid value for '--only': 'rename' is not one of"),
    Misuse("bad_format", ("plan", "--format", "yaml"), "Invalid value for '--format': 'yaml' is not one of"),
    Misuse("bad_log_format", ("--log-format", "xml", "plan"), "Invalid value for '--log-format'"),
    Misuse("parallelism_zero", ("apply", "-y", "--parallelism", "0"), "Invalid value for '--parallelism'"),
    Misuse("max_chars_too_small", ("plan", "--max-chars", "5"), "Invalid value for '--max-chars'"),
    Misuse("shape_option_on_saved_plan", ("apply", "-y", "--target", "x"), "shape a new plan"),
    Misuse("plan_file_and_plan_now", ("apply", "state/plan.json", "--plan-now"),
           "give either a PLAN_FILE or --plan-now"),
    Misuse("server_port_zero", ("server", "start", "--port", "0"), "Invalid value for '--port'"),
    Misuse("show_missing_plan", ("show", "nowhere.json"), "no plan file here"),
    Misuse("upload_unknown_task", ("tasks", "upload", "no_such_task", "-y"), "no valid local task named no_such_task"),
    Misuse("purge_unknown_task", ("tasks", "purge", "no_such_task_anywhere", "-y"), "not on the server"),
    Misuse("apply_without_terminal_or_yes", ("apply",), "no terminal to ask; pass -y", _planned_change),
]  # fmt: skip


@pytest.mark.parametrize("case", [c.param for c in MISUSE_CASES])
def test_cli_misuse(project, proxy, scenario, unique, case):
    obs = scenario(
        f"CLI misuse: `idflow {' '.join(case.args)}`",
        f"exit 1, one line naming the problem: “{case.expect}”; nothing written",
    )
    if case.setup is not None:
        case.setup(project, unique)
    proxy.reset_counters()
    run = project(*case.args)
    check(run, project, proxy, Case(case.id, case.expect), obs)


# -- hostile repositories: links, special files, exhaustion, sizes (issue 13) -------------------------

SECRET = "idflow-canary-environ-7d1c0f2e9b"


def test_requirements_link_to_proc_environ_does_not_print_the_environment(project, proxy, scenario):
    obs = scenario(
        "A task's `requirements.txt` is a symbolic link to `/proc/self/environ` (git stores links, so a pull "
        "request can add one), with credentials in the environment, then to a private key file outside the "
        "project; `idflow plan` and `idflow validate`",
        "exit 1, one line naming the file: a link out of the project is not read; the credential appears "
        "nowhere in stdout or stderr; no write",
    )
    place_task_case(project, "requirements_link_to_environ")
    proxy.add_rule("POST", r"/token$", "respond", body={"token": "a-token"})  # the SDK asks, as of Orkes
    env = {"CONDUCTOR_AUTH_KEY": SECRET + "-key", "CONDUCTOR_AUTH_SECRET": SECRET + "-secret", "MY_TOKEN": SECRET}
    runs = [project("plan", env=env), project("validate", env=env)]
    # /proc/self/environ holds this process's start-up environment, not the values set above; a link to a
    # file that surely holds the secret (a private key, say) shows that nothing of it is printed either
    key = project.root.parent / "id_rsa"
    key.write_text(f"-----BEGIN PRIVATE KEY-----\n{SECRET} ~= 1\n")
    link = project.root / "idflow" / "tasks" / "leak" / "requirements.txt"
    link.unlink()
    os.symlink(key, link)
    runs += [project("plan", env=env), project("validate", env=env)]
    for run in runs:
        assert SECRET not in run.output, run.output
        assert "Traceback" not in run.output
        assert run.exit_code == 1
    line = runs[0].error_line()
    assert f"{project.root}/idflow/tasks/leak/requirements.txt" in line
    assert "symbolic link to a place outside the project" in line
    assert proxy.forwarded_writes() == 0
    obs.observed = f"exit 1 four times (environ, then a key file): `{line}`; the secret in no output; 0 writes"


def test_an_error_line_is_masked_like_output(project, proxy, scenario):
    obs = scenario(
        "An error whose text holds a credential from the environment (`--config` naming a path that contains "
        "the value of CONDUCTOR_AUTH_SECRET)",
        "exit 1, one line, the value replaced by ***",
    )
    secret = SECRET + "-in-a-path"
    run = project("--config", str(project.root / secret / "idflow.yml"), "plan", config=False,
                  env={"CONDUCTOR_AUTH_KEY": "some-key-id", "CONDUCTOR_AUTH_SECRET": secret})  # fmt: skip
    line = run.error_line()
    assert run.exit_code == 1
    assert secret not in run.output and "***" in line, line
    obs.observed = f"exit 1: `{line}`"


W = "idflow/workflows"


def _alias_bomb() -> str:
    text = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        text += f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    return text + "name: bomb\ntasks: *i\n"


WORKFLOW_INPUTS: dict[str, str] = {
    "alias_bomb.yaml": _alias_bomb(),
    "huge_string.json.j2": "{{ 'A' * 2000000000 }}",
    "doubling.json.j2": "{% set ns = namespace(a='x') %}{% for i in range(64) %}{% set ns.a = ns.a ~ ns.a %}"
    "{% endfor %}{{ ns.a }}",
    "huge_range.json.j2": "{% for i in range(10000000000) %}x{% endfor %}",
    "nested_loops.json.j2": "{% set r = range(100000) | list %}{% for a in r %}{% for b in r %}{% endfor %}"
    "{% endfor %}",
    "huge_output.json.j2": "{% for a in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
}
WORKFLOW_CASES = [
    Case("alias_bomb", "invalid YAML: its aliases expand it to 926,177,117 values", f"{W}/alias_bomb.yaml", 1),
    Case("template_huge_string", "template error: a value longer than 10,485,760 characters",
         f"{W}/huge_string.json.j2", 1),
    Case("template_string_doubling", "template error: a string longer than 10,485,760 characters",
         f"{W}/doubling.json.j2", 1),
    Case("template_huge_range", "template error: range() of more than 100,000 items", f"{W}/huge_range.json.j2", 1),
    Case("template_nested_loops", "template error: the template took longer than 2 s to render",
         f"{W}/nested_loops.json.j2", 1),
    Case("template_huge_output", "template error: the rendered template is larger than 10 MB",
         f"{W}/huge_output.json.j2", 1),
    Case("workflow_link_outside", "the workflow file is a symbolic link to a place outside the project",
         f"{W}/linked.json"),
    Case("workflow_fifo", "the workflow file is a FIFO, not a regular file; not read", f"{W}/pipe.json"),
    Case("workflow_too_large", "the workflow file is larger than 5 MB; not read", f"{W}/large.json"),
]  # fmt: skip


def place_workflow_case(project: Project, case_id: str) -> None:
    workflows = project.root / W
    workflows.mkdir(parents=True, exist_ok=True)
    stored = next((name for name in WORKFLOW_INPUTS if case_id.endswith(name.split(".")[0])), None)
    if stored is not None:
        (workflows / stored).write_text(WORKFLOW_INPUTS[stored])
    elif case_id == "workflow_link_outside":
        secret = project.root.parent / "private.json"
        secret.write_text('{"name": "private", "tasks": [{"name": "' + SECRET + '"}]}')
        os.symlink(secret, workflows / "linked.json")
    elif case_id == "workflow_fifo":
        os.mkfifo(workflows / "pipe.json")
    elif case_id == "workflow_too_large":
        with open(workflows / "large.json", "w") as handle:
            task = '{"name": "t", "taskReferenceName": "t"}'
            handle.write('{"name": "large", "tasks": [' + ", ".join([task] * 140_000) + "]}")
        assert (workflows / "large.json").stat().st_size > 5 * 1024 * 1024
    else:
        raise AssertionError(f"no input for workflow case {case_id}")


@pytest.mark.parametrize("case", [c.param for c in WORKFLOW_CASES])
def test_hostile_workflow_files(project, proxy, scenario, monkeypatch, case):
    obs = scenario(
        f"Workflow files: {case.id.replace('_', ' ')} (`idflow plan`)",
        f"exit 1, one line naming {case.where}: “{case.expect}”; bounded in memory and time; no write",
    )
    import idflow.repo.templates

    monkeypatch.setattr(idflow.repo.templates, "TIME_BUDGET_SECONDS", 2.0)  # the default is 10 s
    place_workflow_case(project, case.id)
    run = project("plan")
    line = check(run, project, proxy, case, obs)
    assert SECRET not in run.output
    assert run.seconds < 60, f"took {run.seconds:.0f} s"
    obs.note(f"{run.seconds:.1f} s")
    assert line


def test_workflow_yaml_with_normal_anchors_still_reads(project, proxy, scenario, unique):
    obs = scenario(
        "A workflow YAML file that reuses a block with an anchor and aliases (as real files do)",
        "planned like any other workflow (anchors are not refused, only expansion beyond the budget)",
    )
    workflows = project.root / W
    workflows.mkdir(parents=True)
    name = f"{unique}_anchored"
    (workflows / "anchored.yaml").write_text(
        f"name: {name}\nversion: 1\nownerEmail: {project.owner}\nschemaVersion: 2\n"
        "tasks:\n  - {name: one, taskReferenceName: one, type: HTTP, inputParameters: &request {uri: x}}\n"
        "  - {name: two, taskReferenceName: two, type: HTTP, inputParameters: *request}\n"
    )
    run = project("plan", "--format", "json")
    obs.observed = f"exit {run.exit_code}"
    assert "aliases expand" not in run.output
    assert name in run.stdout, run.output


CONFIG_LIMIT_CASES = [
    Case("config_too_large", "the config file is larger than 1 MB; not read", CFG),
    Case("config_fifo", "the config file is a FIFO, not a regular file; not read", "config/pipe.yml"),
    Case("config_alias_bomb", "invalid YAML: its aliases expand it", CFG, 1),
    Case("tasks_dir_typo", "tasks_dir 'idflow/taks' does not exist: fix the path, or create the folder", CFG, 2),
    Case("default_tasks_dir_missing", "the tasks folder does not exist (the default tasks_dir", "idflow/tasks"),
]  # fmt: skip


@pytest.mark.parametrize("case", [c.param for c in CONFIG_LIMIT_CASES])
@pytest.mark.parametrize("command", ["plan", "validate", "tasks list --local"])
def test_hostile_config_sizes_and_folders(project, proxy, scenario, case, command):
    obs = scenario(
        f"Config: {case.id.replace('_', ' ')} (`idflow {command}`)",
        f"exit 1, one line naming {case.where}{f' line {case.line}' if case.line else ''}: “{case.expect}”",
    )
    config = project.config_path
    if case.id == "config_too_large":
        config.write_text(f"owner_email: {project.owner}\n" + "# padding\n" * 120_000)
    elif case.id == "config_fifo":
        config = project.root / "config" / "pipe.yml"
        os.mkfifo(config)
    elif case.id == "config_alias_bomb":
        config.write_text(_alias_bomb().replace("name: bomb\ntasks: *i\n", "vars:\n  x: *i\n"))
    elif case.id == "tasks_dir_typo":
        config.write_text(f"owner_email: {project.owner}\ntasks_dir: idflow/taks\n")
    elif case.id == "default_tasks_dir_missing":
        shutil.rmtree(project.root / "idflow" / "tasks")
    run = project("--config", str(config), *command.split(), config=False)
    check(run, project, proxy, case, obs)
    assert proxy.requests == []  # refused before asking the server anything


def test_other_users_config_on_the_way_up_is_ignored(project, proxy, scenario, monkeypatch, tmp_path):
    obs = scenario(
        "Config discovery walks up from the working folder and finds a `config/idflow.yml` owned by another "
        "user (which names a server and the variables sent as credentials); another above the repository root",
        "a warning naming the ignored file, the file is not used (its server is never contacted); the walk "
        "stops at the folder holding .git",
    )
    above = tmp_path / "above"
    (above / "config").mkdir(parents=True)
    (above / "config" / "idflow.yml").write_text("conductor_server_url: http://203.0.113.1:9/api\n")
    repo = above / "repo"
    (repo / "config").mkdir(parents=True)
    (repo / ".git").mkdir()
    (repo / "config" / "idflow.yml").write_text(
        "conductor:\n  server_url: http://203.0.113.2:9/api\n  api_key_env_var: GITHUB_TOKEN\n"
    )
    work = repo / "sub"
    (work / "idflow" / "tasks").mkdir(parents=True)
    monkeypatch.chdir(work)
    real_uid = os.geteuid()
    import idflow.config

    owned_by = {str(repo / "config" / "idflow.yml")}
    real_stat, real_lstat = os.stat, os.lstat

    def foreign(real):  # type: ignore[no-untyped-def]
        def call(path, *args, **kwargs):  # type: ignore[no-untyped-def]
            result = real(path, *args, **kwargs)
            if str(path) in owned_by:
                values = list(result)
                values[4] = real_uid + 1  # st_uid
                return os.stat_result(values)
            return result

        return call

    monkeypatch.setattr(idflow.config.os, "stat", foreign(real_stat))
    monkeypatch.setattr(idflow.config.os, "lstat", foreign(real_lstat))
    run = project("tasks", "list", "--local", config=False, env={"CONDUCTOR_SERVER_URL": None})
    assert "Traceback" not in run.output
    assert f"ignoring {repo / 'config' / 'idflow.yml'}: it is owned by another user" in run.stderr, run.output
    assert run.exit_code == 0, run.output
    assert "203.0.113" not in run.output
    from idflow.config import load_config

    monkeypatch.setattr(idflow.config.os, "stat", real_stat)
    monkeypatch.setattr(idflow.config.os, "lstat", real_lstat)
    assert load_config(cwd=work, environ={}).source == repo / "config" / "idflow.yml"  # one's own is used
    (repo / ".git").rmdir()
    (repo / "config" / "idflow.yml").unlink()
    assert load_config(cwd=work, environ={}).source == above / "config" / "idflow.yml"  # no .git: walks on
    (repo / ".git").mkdir()
    assert load_config(cwd=work, environ={}).source is None  # stops at the repository root
    obs.observed = f"exit 0, warning `{run.stderr.strip().splitlines()[0][-120:]}`; the walk stops at .git"


PLAN_LIMIT_CASES = [
    Case("plan_fifo", "the plan file is a FIFO, not a regular file; not read", PLAN),
    Case("plan_too_large", "the plan file is larger than 64 MB; not read", PLAN),
    Case("plan_link_to_dev_zero", "the plan file is a device, not a regular file; not read", PLAN),
]  # fmt: skip


@pytest.mark.parametrize("case", [c.param for c in PLAN_LIMIT_CASES])
def test_hostile_plan_file_kinds_and_sizes(project, proxy, scenario, case):
    obs = scenario(
        f"Plan file: {case.id.removeprefix('plan_').replace('_', ' ')} (`idflow apply -y` and `idflow show`)",
        f"exit 1, one line naming {case.where}: “{case.expect}”; no request at all",
    )
    project.state_dir.mkdir()
    if case.id == "plan_fifo":
        os.mkfifo(project.plan_path)
    elif case.id == "plan_too_large":
        with open(project.plan_path, "wb") as handle:
            handle.truncate(64 * 1024 * 1024 + 1)  # sparse: quick to make, 64 MB to read
    else:
        os.symlink("/dev/zero", project.plan_path)  # a plan path given by the user may be a link, not a device
    for args in (("apply", "-y"), ("show",)):
        run = project(*args)
        check(run, project, proxy, case, obs)
    assert proxy.requests == []


def test_a_corrupt_or_foreign_apply_record_degrades_to_a_two_way_plan(project, server, unique, scenario):
    from idflow.apply.record import DEFAULT_ENVIRONMENT, RECORD_WORKFLOW, record_version

    obs = scenario(
        "This project's apply record on the server (workflow `idflow_apply_record`) is overwritten by hand: "
        "with text that is not JSON, then with another project's record; `idflow plan` after a hand edit",
        "exit 0 or 2, never an error: the plan compares two ways and says once why; the next apply writes "
        "a good record again",
    )
    name = f"{unique}_a"
    project.write_task(name, retry_count=1)
    assert project("apply", "--plan-now", "-y").exit_code == 0
    version = record_version(project.owner, DEFAULT_ENVIRONMENT)
    raw = server.get_workflow_def(RECORD_WORKFLOW, version)
    server.update_task_def({**server.get_task_def(name), "retryCount": 5})
    seen = []
    try:
        for what, description in (
            ("not JSON", "{{{ not json"),
            ("another project's", raw["description"].replace(project.owner, "someone@else.io")),
        ):
            server.put_workflow_defs([{**raw, "description": description}])
            planned = project("plan")
            notes = planned.stdout.count("Note: the apply record on the server")
            seen.append(f"{what}: exit {planned.exit_code}, notes {notes}, reason "
                        f"{'changed-locally' if '(changed-locally)' in planned.stdout else '?'}")  # fmt: skip
            assert planned.exit_code == 0 and notes == 1 and "(changed-locally)" in planned.stdout
        assert project("apply", "-y").exit_code == 0
        healed = "No changes" in project("plan").stdout and server.get_workflow_def(RECORD_WORKFLOW, version)
        seen.append(f"after the next apply a readable record again: {bool(healed)}")
        obs.observed = "; ".join(seen)
        assert healed and '"format":1' in healed["description"]
    finally:
        server.delete_workflow_def(RECORD_WORKFLOW, version)
