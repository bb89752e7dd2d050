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
]  # fmt: skip


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
    Case("bad_fingerprint", "malformed plan file (ValueError: invalid literal for int()", PLAN),
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


def test_a_corrupt_or_foreign_apply_record_degrades_to_a_two_way_plan(project, server, unique, scenario):
    from idflow.record import DEFAULT_ENVIRONMENT, RECORD_WORKFLOW, record_version

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
