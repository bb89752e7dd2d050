"""Every problem discovery reports, each at its ``path:line:col``, all collected before raising."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from idflow.errors import DefinitionError
from idflow.repo.task_files import MAX_FILE_BYTES, discover_tasks, discover_tasks_partial


def write_task(tasks_dir: Path, folder: str, source: str, filename: str | None = None) -> Path:
    directory = tasks_dir / folder
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "__init__.py").touch()
    path = directory / (filename or f"{folder}.py")
    path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    return path


def problems(tasks_dir: Path, **kwargs: object) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        discover_tasks(tasks_dir, **kwargs)  # type: ignore[arg-type]
    return [str(problem) for problem in caught.value.problems]


def only_problem(tasks_dir: Path, **kwargs: object) -> str:
    found = problems(tasks_dir, **kwargs)
    assert len(found) == 1, found
    return found[0]


def located(path: Path, token: str, occurrence: int = 1) -> str:
    """The ``path:line:col: `` prefix of a problem at the ``occurrence``-th ``token`` of the file."""
    seen = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        start = 0
        while (index := line.find(token, start)) != -1:
            seen += 1
            if seen == occurrence:
                return f"{path}:{number}:{index + 1}: "
            start = index + 1
    raise AssertionError(f"{token!r} not found in {path}")


@pytest.fixture
def tasks_dir(tmp_path: Path) -> Path:
    path = tmp_path / "tasks"
    path.mkdir()
    return path


def task_with(tasks_dir: Path, keywords: str, preamble: str = "") -> Path:
    """A one-task file whose decorator carries ``keywords`` (on a line of its own)."""
    return write_task(
        tasks_dir,
        "job",
        f"""
import os
from idflow import worker_task
{preamble}

@worker_task(
    task_definition_name="job",
    {keywords}
)
def job(task):
    return {{}}
""",
    )


# (keywords, token the problem points at, message)
VALUE_PROBLEMS = [
    ('retry_count=int("3"),', 'int("3")', "retry_count: cannot be read without running the code (a call to int())"),
    (
        'owner_email=os.environ["OWNER"],',
        'os.environ["OWNER"]',
        "owner_email: cannot be read without running the code (the subscript os.environ['OWNER'])",
    ),
    (
        'description=os.getenv("D"),',
        "os.getenv",
        "description: cannot be read without running the code (a call to os.getenv())",
    ),
    (
        "description=f'{os.sep} x',",
        "os.sep",
        "description: cannot be read without running the code (an f-string with expressions: the attribute os.sep)",
    ),
    (
        "retry_count=UNDEFINED,",
        "UNDEFINED",
        "retry_count: cannot be read without running the code (UNDEFINED is not a constant defined in this file)",
    ),
    (
        "input_keys=[k for k in 'ab'],",
        "[k for",
        "input_keys: cannot be read without running the code (a comprehension)",
    ),
    (
        "input_template={'a': {'b': len('x')}},",
        "len(",
        "input_template: cannot be read without running the code (a call to len())",
    ),
    (
        "retry_count=1 if True else 2,",
        "1 if",
        "retry_count: cannot be read without running the code (a conditional expression)",
    ),
    (
        "timeout_seconds=1 / 0,",
        "1 / 0",
        "timeout_seconds: cannot be read without running the code (a division by zero)",
    ),
    ("**os.environ,", "**os.environ", "**os.environ: cannot be read without running the code"),
    ('retry_count="3",', '"3"', "retry_count must be a whole number, not str '3'"),
    ("retry_count=True,", "True", "retry_count must be a whole number, not bool True"),
    ("retry_count=2.5,", "2.5", "retry_count must be a whole number, not float 2.5"),
    ("retry_count=-1,", "-1", "retry_count must be >= 0, not -1"),
    ("retry_delay_seconds=-5,", "-5", "retry_delay_seconds must be >= 0, not -5"),
    ("rate_limit_per_frequency=-1,", "-1", "rate_limit_per_frequency must be >= 0, not -1"),
    ("rate_limit_frequency_in_seconds=-1,", "-1", "rate_limit_frequency_in_seconds must be >= 0, not -1"),
    ("concurrent_exec_limit=-2,", "-2", "concurrent_exec_limit must be >= 0, not -2"),
    ("poll_timeout_seconds=-1,", "-1", "poll_timeout_seconds must be >= 0, not -1"),
    ("total_timeout_seconds=-1,", "-1", "total_timeout_seconds must be >= 0, not -1"),
    ("max_retry_delay_seconds=-1,", "-1", "max_retry_delay_seconds must be >= 0, not -1"),
    ("backoff_jitter_ms=-1,", "-1", "backoff_jitter_ms must be >= 0, not -1"),
    ("backoff_scale_factor=0,", "0", "backoff_scale_factor must be >= 1, not 0"),
    ("response_timeout_seconds=0,", "0", "response_timeout_seconds must be >= 1, not 0"),
    ("concurrent_exec_limit=2147483648,", "2147483648", "concurrent_exec_limit is too large (2147483648 > 2147483647)"),
    ('timeout_policy="NEVER",', '"NEVER"', "timeout_policy must be one of RETRY, TIME_OUT_WF, ALERT_ONLY, not 'NEVER'"),
    (
        'retry_logic="RANDOM",',
        '"RANDOM"',
        "retry_logic must be one of FIXED, EXPONENTIAL_BACKOFF, LINEAR_BACKOFF, not 'RANDOM'",
    ),
    ('input_keys="a",', '"a"', "input_keys must be a list of strings, not 'a'"),
    ("output_keys=[1, 2],", "[1, 2]", "output_keys must be a list of strings, not [1, 2]"),
    ("input_template=[1],", "[1]", "input_template must be a mapping, not list [1]"),
    ("input_template={1: 'a'},", "{1:", "input_template keys must be strings"),
    ("description=3,", "3,", "description must be a string, not int 3"),
    ('owner_email="nobody",', '"nobody"', "owner_email 'nobody' is not an email address"),
    ("enforce_schema=1,", "1,", "enforce_schema must be True or False, not 1"),
    (
        "timeout_seconds=600,",
        "600",
        "timeout_seconds=600 is less than the default response_timeout_seconds (3600), which the server "
        "rejects: set response_timeout_seconds to at most 600",
    ),
    (
        "timeout_seconds=60, response_timeout_seconds=120,",
        "120",
        "response_timeout_seconds (120) must not exceed timeout_seconds (60)",
    ),
    (
        "timeout_seconds=600, response_timeout_seconds=60, total_timeout_seconds=300,",
        "600",
        "timeout_seconds (600) must not exceed total_timeout_seconds (300)",
    ),
    (
        "retry_cont=3,",
        "retry_cont",
        "unknown keyword argument 'retry_cont' of worker_task (did you mean 'retry_count'?)",
    ),
    ("zzz=3,", "zzz", "unknown keyword argument 'zzz' of worker_task"),
]


@pytest.mark.parametrize(("keywords", "token", "message"), VALUE_PROBLEMS)
def test_value_problems(tasks_dir: Path, keywords: str, token: str, message: str) -> None:
    path = task_with(tasks_dir, keywords)
    assert only_problem(tasks_dir) == located(path, token) + message


def test_constants_that_are_not_plain(tasks_dir: Path) -> None:
    path = task_with(
        tasks_dir,
        "retry_count=TWICE, timeout_seconds=LATER, description=MAYBE, owner_email=COMPUTED,",
        preamble=textwrap.dedent("""
            TWICE = 1
            TWICE = 2
            if os.name:
                MAYBE = "x"
            COMPUTED = os.getenv("X")
        """),
    )
    with path.open("a") as handle:
        handle.write("LATER = 5\n")
    prefix = "cannot be read without running the code"
    assert problems(tasks_dir) == [
        located(path, "TWICE", 3) + f"retry_count: {prefix} (TWICE is assigned more than once)",
        located(path, "LATER") + f"timeout_seconds: {prefix} (LATER is not assigned before this line)",
        located(path, "MAYBE", 2) + f"description: {prefix} (MAYBE is not a plain module-level constant)",
        located(path, "COMPUTED", 2) + f"owner_email: {prefix} (COMPUTED is not a static value: a call to os.getenv())",
    ]


def test_column_counts_characters_not_bytes(tasks_dir: Path) -> None:
    path = task_with(tasks_dir, 'description="é—ü", retry_count=int(3),')
    assert only_problem(tasks_dir).startswith(located(path, "int(3)"))


def test_every_problem_is_reported_at_once(tasks_dir: Path) -> None:
    path = task_with(tasks_dir, 'retry_count=-1, timeout_policy="X", input_keys="k", bogus=1,')
    write_task(
        tasks_dir,
        "other",
        """
        from idflow import worker_task

        @worker_task("other", retry_logic=1)
        def other(task):
            return {}
    """,
    )
    with pytest.raises(DefinitionError) as caught:
        discover_tasks(tasks_dir)
    assert len(caught.value.problems) == 5
    assert str(caught.value) == "5 problems in local tasks"
    assert all(p.path in (str(path), str(tasks_dir / "other" / "other.py")) for p in caught.value.problems)
    assert len(caught.value.details()) == 5


# -- names -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ('""', "the task name must be a non-empty string, not ''"),
        ('"bad name"', "the task name 'bad name' may only contain letters, digits, '_', '.' and '-'"),
        ('"a/b"', "the task name 'a/b' may only contain letters, digits, '_', '.' and '-'"),
        ('"' + "x" * 201 + '"', "the task name is 201 characters long; at most 200 are allowed"),
        ("3", "the task name must be a non-empty string, not 3"),
    ],
)
def test_name_rules(tasks_dir: Path, name: str, message: str) -> None:
    path = write_task(
        tasks_dir,
        "job",
        f"""
        from idflow import worker_task

        @worker_task(task_definition_name={name})
        def job(task):
            return {{}}
    """,
    )
    assert only_problem(tasks_dir) == located(path, name) + message


def test_name_may_have_dots_and_dashes(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "job",
        """
        from idflow import worker_task

        @worker_task("team.job-v2_x")
        def job(task):
            return {}
    """,
    )
    assert [t.name for t in discover_tasks(tasks_dir)] == ["team.job-v2_x"]


def test_missing_name(tasks_dir: Path) -> None:
    path = write_task(
        tasks_dir,
        "job",
        """
        from idflow import worker_task

        @worker_task(retry_count=1)
        def job(task):
            return {}
    """,
    )
    assert only_problem(tasks_dir) == located(path, "worker_task(") + "task_definition_name is missing"


def test_decorator_must_be_called(tasks_dir: Path) -> None:
    path = write_task(
        tasks_dir,
        "job",
        """
        from idflow import worker_task

        @worker_task
        def job(task):
            return {}
    """,
    )
    assert only_problem(tasks_dir) == located(path, "worker_task", 2) + (
        "@worker_task must be called with the task name: @worker_task(task_definition_name=...)"
    )


def test_too_many_positional_arguments(tasks_dir: Path) -> None:
    path = write_task(
        tasks_dir,
        "job",
        """
        from idflow import worker_task

        @worker_task("job", 100)
        def job(task):
            return {}
    """,
    )
    assert only_problem(tasks_dir) == located(path, "100") + ("worker_task takes at most 1 positional argument(s)")


def test_duplicate_names_across_files_name_both_places(tasks_dir: Path) -> None:
    first = write_task(
        tasks_dir,
        "a_task",
        """
        from idflow import worker_task

        @worker_task("same")
        def a_task(task):
            return {}
    """,
    )
    second = write_task(
        tasks_dir,
        "b_task",
        """
        from idflow import worker_task


        @worker_task(task_definition_name="same")
        def b_task(task):
            return {}
    """,
    )
    assert only_problem(tasks_dir) == located(second, '"same"') + (
        f"duplicate task name 'same': defined at {first}:3 and at {second}:4"
    )


def test_duplicate_names_in_one_file(tasks_dir: Path) -> None:
    path = write_task(
        tasks_dir,
        "job",
        """
        from idflow import worker_task

        @worker_task("job")
        def one(task):
            return {}

        @worker_task("job")
        def two(task):
            return {}
    """,
    )
    assert only_problem(tasks_dir) == located(path, '"job"', 2) + (
        f"duplicate task name 'job': defined at {path}:3 and at {path}:7"
    )


# -- SDK decorator and TaskDef -----------------------------------------------------------------------


def test_sdk_decorator_with_definition_keywords_says_to_use_idflow(tasks_dir: Path) -> None:
    path = write_task(
        tasks_dir,
        "job",
        """
        from conductor.client.worker.worker_task import worker_task

        @worker_task(task_definition_name="job", thread_count=2, retry_count=3)
        def job(task):
            return {}
    """,
    )
    assert only_problem(tasks_dir) == located(path, "retry_count") + (
        "retry_count: the SDK's worker_task does not accept task-definition keywords (a TypeError when the "
        "module is imported); import the decorator from idflow instead: `from idflow import worker_task`"
    )


def test_sdk_taskdef_without_a_field_it_lacks(tasks_dir: Path) -> None:
    path = write_task(
        tasks_dir,
        "job",
        """
        from conductor.client.worker.worker_task import worker_task
        from conductor.client.http.models import TaskDef

        @worker_task("job", task_def=TaskDef(retry_count=1, backoff_jitter_ms=5, owner_app="x"))
        def job(task):
            return {}
    """,
    )
    found = problems(tasks_dir)
    assert found == [
        located(path, "backoff_jitter_ms")
        + (
            "backoff_jitter_ms: conductor-python's TaskDef does not accept it (a TypeError when the module is "
            "imported); give it to idflow's decorator instead: `from idflow import worker_task`, "
            "@worker_task(..., backoff_jitter_ms=...)"
        ),
        located(path, "owner_app") + "TaskDef(owner_app=...) is not a task-definition field idflow manages",
    ]


def test_task_def_that_is_not_a_taskdef_call(tasks_dir: Path) -> None:
    path = write_task(
        tasks_dir,
        "job",
        """
        from conductor.client.worker.worker_task import worker_task
        from mylib import make_def

        @worker_task("job", task_def=make_def())
        def job(task):
            return {}
    """,
    )
    assert only_problem(tasks_dir) == located(path, "make_def()") + (
        "task_def: cannot be read without running the code "
        "(not a TaskDef(...) imported from conductor.client.http.models)"
    )


def test_taskdef_values_are_read_statically_too(tasks_dir: Path) -> None:
    path = write_task(
        tasks_dir,
        "job",
        """
        import os
        from conductor.client.worker.worker_task import worker_task
        from conductor.client.http.models.task_def import TaskDef

        @worker_task("job", task_def=TaskDef(retry_count=int(os.environ["R"]), timeout_policy="NOPE"))
        def job(task):
            return {}
    """,
    )
    assert problems(tasks_dir) == [
        located(path, "int(") + "retry_count: cannot be read without running the code (a call to int())",
        located(path, '"NOPE"') + "timeout_policy must be one of RETRY, TIME_OUT_WF, ALERT_ONLY, not 'NOPE'",
    ]


def test_a_taskdef_name_the_sdk_overrides_is_accepted_with_a_note(tasks_dir: Path) -> None:
    path = write_task(
        tasks_dir,
        "job",
        """
        from conductor.client.worker.worker_task import worker_task
        from conductor.client.http.models import TaskDef

        @worker_task("job", task_def=TaskDef(name="other", retry_count=2))
        def job(task):
            return {}
    """,
    )
    (task,) = discover_tasks(tasks_dir)
    assert (task.name, task.definition["name"], task.definition["retryCount"]) == ("job", "job", 2)
    assert [str(n) for n in task.notes] == [
        located(path, '"other"') + "TaskDef name 'other' differs from task_definition_name 'job': the SDK "
        "registers the task as 'job' (its name wins), and so does idflow"
    ]


def test_idflow_decorator_with_task_def_and_keywords(tasks_dir: Path) -> None:
    path = write_task(
        tasks_dir,
        "job",
        """
        from conductor.client.http.models import TaskDef
        from idflow import worker_task

        @worker_task("job", retry_count=1, task_def=TaskDef(retry_count=2))
        def job(task):
            return {}
    """,
    )
    assert only_problem(tasks_dir) == located(path, "TaskDef(retry") + (
        "task_def: give the definition either as task_def=TaskDef(...) or as keywords (retry_count), not both"
    )


# -- files and folders -------------------------------------------------------------------------------


def test_syntax_error(tasks_dir: Path) -> None:
    path = write_task(
        tasks_dir,
        "job",
        """
        from idflow import worker_task

        @worker_task("job")
        def job(task:
            return {}
    """,
    )
    (problem,) = problems(tasks_dir)
    assert problem.startswith(f"{path}:4:")
    assert "syntax error" in problem


def test_file_not_utf8(tasks_dir: Path) -> None:
    path = write_task(tasks_dir, "job", "")
    path.write_bytes(b"from idflow import worker_task\n# caf\xe9\n")
    assert only_problem(tasks_dir) == f"{path}:2:6: the file is not UTF-8 (byte 0xe9); save it as UTF-8"


def test_utf8_bom_is_accepted(tasks_dir: Path) -> None:
    path = write_task(tasks_dir, "job", "")
    path.write_bytes(b"\xef\xbb\xbffrom idflow import worker_task\n@worker_task('job')\ndef job(t):\n    return t\n")
    assert [t.name for t in discover_tasks(tasks_dir)] == ["job"]


def test_file_too_large_is_not_parsed(tasks_dir: Path) -> None:
    path = write_task(tasks_dir, "job", "")
    with path.open("w") as handle:
        handle.write("from idflow import worker_task\n")
        handle.write("#" * (MAX_FILE_BYTES + 1) + "\n")
        handle.write("def broken(:\n")
    assert only_problem(tasks_dir) == f"{path}:0:0: the file is larger than 5 MB; not read"


def test_missing_main_module(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "job",
        """
        from idflow import worker_task

        @worker_task("job")
        def job(task):
            return {}
    """,
        filename="other.py",
    )
    folder = tasks_dir / "job"
    assert only_problem(tasks_dir) == f"{folder}:0:0: a task folder must hold job.py (the worker's module)"


def test_folder_name_that_cannot_be_imported(tasks_dir: Path) -> None:
    path = write_task(
        tasks_dir,
        "my-job",
        """
        from idflow import worker_task

        @worker_task("my-job")
        def job(task):
            return {}
    """,
    )
    assert only_problem(tasks_dir) == f"{path}:0:0: " + (
        "'my-job' is not a valid Python module name, so the worker cannot be imported; "
        "rename it (letters, digits and '_')"
    )


def test_symlink_loops_and_unreadable_files_are_problems(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "job",
        """
        from idflow import worker_task

        @worker_task("job")
        def job(task):
            return {}
    """,
    )
    loop_file = tasks_dir / "job" / "loop.py"
    os.symlink(loop_file, loop_file)
    (tasks_dir / "job" / "folder.py").mkdir()  # a folder with a .py name is just a folder
    loop_folder = tasks_dir / "looped"
    os.symlink(loop_folder, loop_folder)
    dangling = tasks_dir / "dangling"
    os.symlink(tasks_dir / "nowhere", dangling)
    found = problems(tasks_dir)
    assert found == [
        f"{dangling}:0:0: is a broken symbolic link",
        f"{loop_file}:0:0: cannot read: Too many levels of symbolic links",
        f"{loop_folder}:0:0: cannot read: Too many levels of symbolic links",
    ]


def test_tasks_dir_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "tasks"
    path.write_text("")
    assert only_problem(path) == f"{path}:0:0: cannot read the tasks folder: Not a directory"


def test_tasks_dir_outside_the_import_root(tasks_dir: Path, tmp_path: Path) -> None:
    write_task(
        tasks_dir,
        "job",
        """
        from idflow import worker_task

        @worker_task("job")
        def job(task):
            return {}
    """,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert only_problem(tasks_dir, import_root=elsewhere) == (
        f"{tasks_dir}:0:0: the tasks folder is not inside the import root {elsewhere}"
    )


def test_partial_discovery_returns_the_good_tasks_and_every_problem(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "good",
        """
        from idflow import worker_task

        @worker_task("good")
        def good(task):
            return {}

        @worker_task("bad", retry_count=-1)
        def bad(task):
            return {}
    """,
    )
    write_task(
        tasks_dir,
        "dup",
        """
        from idflow import worker_task

        @worker_task("dup")
        def one(task):
            return {}

        @worker_task("dup")
        def two(task):
            return {}
    """,
    )
    tasks, found = discover_tasks_partial(tasks_dir)
    assert [t.name for t in tasks] == ["good"]
    assert [p.message for p in found] == [
        f"duplicate task name 'dup': defined at {tasks_dir / 'dup' / 'dup.py'}:3 and at "
        f"{tasks_dir / 'dup' / 'dup.py'}:7",
        "retry_count must be >= 0, not -1",
    ]
