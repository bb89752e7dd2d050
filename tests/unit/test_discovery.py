"""Static discovery of tasks: decorator forms, values, docstrings, layout, requirements. No code runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from idflow.errors import DefinitionError
from idflow.kinds.normal import TASKDEF_DEFAULTS, normalise_taskdef
from idflow.repo.task_files import LocalTask, discover_tasks, discover_tasks_partial, validate_definition


def write_task(tasks_dir: Path, folder: str, source: str, filename: str | None = None) -> Path:
    """Write ``<tasks_dir>/<folder>/<filename or folder.py>`` (dedented) with an ``__init__.py`` beside it."""
    directory = tasks_dir / folder
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "__init__.py").touch()
    path = directory / (filename or f"{folder}.py")
    path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    return path


def discover(tasks_dir: Path, **kwargs: object) -> dict[str, LocalTask]:
    return {task.name: task for task in discover_tasks(tasks_dir, **kwargs)}  # type: ignore[arg-type]


def problems(tasks_dir: Path) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        discover_tasks(tasks_dir)
    return [str(problem) for problem in caught.value.problems]


@pytest.fixture
def tasks_dir(tmp_path: Path) -> Path:
    path = tmp_path / "tasks"
    path.mkdir()
    return path


# -- decorator forms ---------------------------------------------------------------------------------

IDFLOW_FORMS = [
    ("from idflow import worker_task", "worker_task"),
    ("from idflow import worker_task as wt", "wt"),
    ("import idflow", "idflow.worker_task"),
    ("import idflow as i", "i.worker_task"),
    ("from idflow.decorator import worker_task", "worker_task"),
    ("from idflow.decorator import worker_task as task", "task"),
    ("import idflow.decorator", "idflow.decorator.worker_task"),
    ("from idflow import decorator as d", "d.worker_task"),
]


@pytest.mark.parametrize(("import_line", "decorator"), IDFLOW_FORMS)
def test_idflow_decorator_forms(tasks_dir: Path, import_line: str, decorator: str) -> None:
    write_task(
        tasks_dir,
        "greet",
        f"""
        {import_line}

        @{decorator}(task_definition_name="greet", retry_count=5, timeout_seconds=300,
                     response_timeout_seconds=30, thread_count=4, poll_interval_millis=250)
        def greet(task):
            return {{"hello": task}}
    """,
    )
    task = discover(tasks_dir)["greet"]
    assert task.definition == normalise_taskdef(
        {"name": "greet", "retryCount": 5, "timeoutSeconds": 300, "responseTimeoutSeconds": 30}
    )
    assert task.function == "greet"


def test_star_imports(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "star",
        """
        from conductor.client.worker.worker_task import *
        from conductor.client.http.models import *

        @worker_task("star", task_def=TaskDef(retry_count=4))
        def star(task):
            return {}
    """,
    )
    assert discover(tasks_dir)["star"].definition["retryCount"] == 4


def test_name_may_be_the_first_positional_argument(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "greet",
        """
        from idflow import worker_task

        @worker_task("greet", retry_count=1)
        async def greet(task):
            return task
    """,
    )
    task = discover(tasks_dir)["greet"]
    assert task.definition["retryCount"] == 1
    assert task.line == 4


SDK_TASKDEF_IMPORTS = [
    "from conductor.client.http.models.task_def import TaskDef",
    "from conductor.client.http.models import TaskDef",
]


@pytest.mark.parametrize("taskdef_import", SDK_TASKDEF_IMPORTS)
@pytest.mark.parametrize(
    ("import_line", "decorator"),
    [
        ("from conductor.client.worker.worker_task import worker_task", "worker_task"),
        ("from conductor.client.worker.worker_task import worker_task as sdk_task", "sdk_task"),
        ("from conductor.client import worker_task", "worker_task"),
        ("import conductor.client.worker.worker_task as wt_module", "wt_module.worker_task"),
    ],
)
def test_sdk_decorator_with_task_def(tasks_dir: Path, import_line: str, decorator: str, taskdef_import: str) -> None:
    write_task(
        tasks_dir,
        "charge",
        f"""
        {import_line}
        {taskdef_import}

        @{decorator}(
            task_definition_name="charge",
            thread_count=2,
            task_def=TaskDef(name="charge", retry_count=2, retry_logic="LINEAR_BACKOFF", timeout_seconds=120,
                             response_timeout_seconds=60, concurrent_exec_limit=7),
        )
        def charge(task):
            '''Charge the card.'''
            return {{}}
    """,
    )
    assert discover(tasks_dir)["charge"].definition == normalise_taskdef({
        "name": "charge", "retryCount": 2, "retryLogic": "LINEAR_BACKOFF", "timeoutSeconds": 120,
        "responseTimeoutSeconds": 60, "concurrentExecLimit": 7, "description": "Charge the card.",
    })  # fmt: skip


def test_sdk_decorator_without_task_def_gives_the_defaults(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "plain",
        """
        from conductor.client.worker.worker_task import worker_task

        @worker_task(task_definition_name="plain", poll_interval_millis=500)
        def plain(task):
            return {}
    """,
    )
    assert discover(tasks_dir)["plain"].definition == normalise_taskdef({"name": "plain"})


def test_legacy_workertask_spelling(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "legacy",
        """
        from conductor.client.worker.worker_task import WorkerTask

        @WorkerTask("legacy", poll_interval=200, poll_interval_seconds=1)
        def legacy(task):
            return {}
    """,
    )
    assert set(discover(tasks_dir)) == {"legacy"}


def test_task_def_may_be_a_module_constant(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "shared",
        """
        from conductor.client.http.models import TaskDef
        from idflow import worker_task

        SHARED = TaskDef(name="shared", retry_count=0)

        @worker_task("shared", task_def=SHARED)
        def shared(task):
            return {}
    """,
    )
    assert discover(tasks_dir)["shared"].definition["retryCount"] == 0


def test_idflow_drop_in_accepts_every_definition_keyword(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "full",
        """
        from idflow import worker_task

        @worker_task(
            task_definition_name="full",
            retry_count=0,
            timeout_seconds=120,
            response_timeout_seconds=60,
            total_timeout_seconds=600,
            timeout_policy="ALERT_ONLY",
            retry_logic="EXPONENTIAL_BACKOFF",
            retry_delay_seconds=2,
            max_retry_delay_seconds=30,
            backoff_scale_factor=3,
            backoff_jitter_ms=100,
            input_keys=["a", "b"],
            output_keys=["c"],
            input_template={"a": 1, "nested": {"x": [1, 2.5, None, True]}},
            rate_limit_per_frequency=10,
            rate_limit_frequency_in_seconds=5,
            concurrent_exec_limit=4,
            poll_timeout_seconds=30,
            isolation_group_id="group",
            execution_name_space="ns",
            owner_email="owner@example.com",
            description="Explicit description",
            enforce_schema=False,
            domain="d", worker_id="w", thread_count=3, register_task_def=False, poll_timeout=100,
            lease_extend_enabled=True, overwrite_task_def=False, strict_schema=True, register_schema=False,
            poll_interval=100, poll_interval_seconds=0, poll_interval_millis=100,
        )
        def full(task):
            '''Docstring that loses to description=.'''
            return {}
    """,
    )
    definition = discover(tasks_dir, owner_email="owner@example.com")["full"].definition
    assert definition == normalise_taskdef({
        "name": "full", "retryCount": 0, "timeoutSeconds": 120, "responseTimeoutSeconds": 60,
        "totalTimeoutSeconds": 600, "timeoutPolicy": "ALERT_ONLY", "retryLogic": "EXPONENTIAL_BACKOFF",
        "retryDelaySeconds": 2, "maxRetryDelaySeconds": 30, "backoffScaleFactor": 3, "backoffJitterMs": 100,
        "inputKeys": ["a", "b"], "outputKeys": ["c"],
        "inputTemplate": {"a": 1, "nested": {"x": [1, 2.5, None, True]}},
        "rateLimitPerFrequency": 10, "rateLimitFrequencyInSeconds": 5, "concurrentExecLimit": 4,
        "pollTimeoutSeconds": 30, "isolationGroupId": "group", "executionNameSpace": "ns",
        "ownerEmail": "owner@example.com", "description": "Explicit description", "enforceSchema": False,
    })  # fmt: skip


def test_a_decorator_named_worker_task_from_elsewhere_is_ignored(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "other",
        """
        from mylib import worker_task
        from idflow import worker_task as real

        @worker_task(task_definition_name="not_a_task", retry_count=int("3"))
        def other(task):
            return {}

        def worker_task(**kwargs):
            return lambda f: f

        @worker_task(task_definition_name="local_one")
        def local(task):
            return {}

        @real(task_definition_name="real_one")
        def real_one(task):
            return {}
    """,
    )
    assert set(discover(tasks_dir)) == {"real_one"}


def test_a_rebound_name_stops_being_the_decorator(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "rebound",
        """
        from idflow import worker_task

        @worker_task(task_definition_name="before")
        def before(task):
            return {}

        from mylib import worker_task

        @worker_task(task_definition_name="after")
        def after(task):
            return {}
    """,
    )
    assert set(discover(tasks_dir)) == {"before"}


def test_undecorated_and_nested_functions_are_not_tasks(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "helpers",
        """
        from idflow import worker_task

        def helper():
            return 1

        class Thing:
            def method(self):
                return 2

        @worker_task(task_definition_name="helpers")
        def helpers(task):
            return helper()
    """,
    )
    assert set(discover(tasks_dir)) == {"helpers"}


def test_tasks_inside_module_level_blocks_are_found(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "guarded",
        """
        try:
            from idflow import worker_task
        except ImportError:
            raise

        if True:
            @worker_task(task_definition_name="guarded")
            def guarded(task):
                return {}
    """,
    )
    assert set(discover(tasks_dir)) == {"guarded"}


# -- static values -----------------------------------------------------------------------------------


def test_constants_and_arithmetic(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "calc",
        """
        from enum import Enum
        from idflow import worker_task

        MINUTE = 60
        HOUR: int = MINUTE * 60
        PREFIX = "calc"
        KEYS = ["a", "b"]
        TEMPLATE = {"k": KEYS, "n": -MINUTE}

        class TimeoutPolicy(str, Enum):
            RETRY = "RETRY"

        @worker_task(
            task_definition_name=PREFIX + "_task",
            timeout_seconds=HOUR / 2,
            response_timeout_seconds=MINUTE * 5 + 30 - 0,
            retry_delay_seconds=7 // 2,
            retry_count=10 % 4,
            backoff_scale_factor=+2,
            rate_limit_per_frequency=2 * 2.5,
            input_keys=KEYS,
            input_template=TEMPLATE,
            timeout_policy=TimeoutPolicy.RETRY,
            description=f"{PREFIX} does {3} things",
        )
        def calc(task):
            return {}
    """,
    )
    definition = discover(tasks_dir)["calc_task"].definition
    assert definition["timeoutSeconds"] == 1800 and isinstance(definition["timeoutSeconds"], int)
    assert definition["responseTimeoutSeconds"] == 330
    assert definition["retryDelaySeconds"] == 3
    assert definition["retryCount"] == 2
    assert definition["backoffScaleFactor"] == 2
    assert definition["rateLimitPerFrequency"] == 5 and isinstance(definition["rateLimitPerFrequency"], int)
    assert definition["inputKeys"] == ["a", "b"]
    assert definition["inputTemplate"] == {"k": ["a", "b"], "n": -60}
    assert definition["timeoutPolicy"] == "RETRY"
    assert definition["description"] == "calc does 3 things"


def test_tuples_become_lists(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "tup",
        """
        from idflow import worker_task

        @worker_task("tup", input_keys=("x", "y"))
        def tup(task):
            return {}
    """,
    )
    assert discover(tasks_dir)["tup"].definition["inputKeys"] == ["x", "y"]


# -- descriptions, owner, several tasks -------------------------------------------------------------


def test_docstring_first_paragraph_is_the_description(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "doc",
        '''
        from idflow import worker_task

        @worker_task("doc")
        def doc(task):
            """Send the welcome email
            to a new customer.

            Details that stay in the code.
            """
            return {}

        @worker_task("nodoc")
        def nodoc(task):
            return {}

        @worker_task("explicit", description="From the decorator")
        def explicit(task):
            """From the docstring."""
            return {}
    ''',
    )
    found = discover(tasks_dir)
    assert found["doc"].definition["description"] == "Send the welcome email to a new customer."
    assert "description" not in found["nodoc"].definition
    assert found["explicit"].definition["description"] == "From the decorator"


def test_owner_email_is_the_configured_one_and_a_different_one_is_a_problem(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "own",
        """
        from idflow import worker_task

        @worker_task("own_default")
        def a(task):
            return {}

        @worker_task("own_same", owner_email="team@example.com")
        def b(task):
            return {}
    """,
    )
    found = discover(tasks_dir, owner_email="team@example.com")
    assert found["own_default"].definition["ownerEmail"] == "team@example.com"
    assert found["own_same"].definition["ownerEmail"] == "team@example.com"
    assert "ownerEmail" not in discover(tasks_dir)["own_default"].definition
    write_task(
        tasks_dir,
        "other",
        """
        from idflow import worker_task

        @worker_task("own_other",
                     owner_email="me@example.com")
        def c(task):
            return {}
    """,
    )
    with pytest.raises(DefinitionError) as caught:
        discover(tasks_dir, owner_email="team@example.com")
    [problem] = caught.value.problems
    assert problem.path.endswith("other.py") and problem.line == 4  # the owner_email= line
    assert "'me@example.com' is not the configured owner_email 'team@example.com'" in problem.message
    # Without owner_email configured the file's own owner is kept (the behaviour so far).
    assert discover(tasks_dir)["own_other"].definition["ownerEmail"] == "me@example.com"


def test_several_tasks_per_file_and_per_folder(tasks_dir: Path) -> None:
    main = write_task(
        tasks_dir,
        "billing",
        """
        from idflow import worker_task

        @worker_task("billing_charge")
        def charge(task):
            return {}

        @worker_task("billing_refund")
        async def refund(task):
            return {}
    """,
    )
    extra = write_task(
        tasks_dir,
        "billing",
        """
        import idflow

        @idflow.worker_task("billing_audit")
        def audit(task):
            return {}
    """,
        filename="audit.py",
    )
    tasks = discover_tasks(tasks_dir, import_root=tasks_dir.parent)
    assert [t.name for t in tasks] == ["billing_audit", "billing_charge", "billing_refund"]
    by_name = {t.name: t for t in tasks}
    assert by_name["billing_charge"].path == main and by_name["billing_charge"].line == 4
    assert by_name["billing_refund"].function == "refund" and by_name["billing_refund"].line == 8
    assert by_name["billing_audit"].path == extra
    assert by_name["billing_audit"].module == "tasks.billing.audit"
    assert by_name["billing_charge"].module == "tasks.billing.billing"


# -- layout ------------------------------------------------------------------------------------------


def test_missing_tasks_dir_means_no_tasks(tmp_path: Path) -> None:
    assert discover_tasks(tmp_path / "nowhere") == []


def test_empty_tasks_dir_means_no_tasks(tasks_dir: Path) -> None:
    assert discover_tasks(tasks_dir) == []


def test_module_path_is_relative_to_the_import_root(tmp_path: Path) -> None:
    tasks_dir = tmp_path / "idflow" / "tasks"
    write_task(
        tasks_dir,
        "greet",
        """
        from idflow import worker_task

        @worker_task("greet")
        def greet(task):
            return {}
    """,
    )
    assert discover(tasks_dir, import_root=tmp_path)["greet"].module == "idflow.tasks.greet.greet"
    assert discover(tasks_dir)["greet"].module == "tasks.greet.greet"


def test_hidden_cache_and_test_files_are_skipped(tasks_dir: Path) -> None:
    broken = """
        from idflow import worker_task

        @worker_task("broken", retry_count=int("x"))
        def broken(task):
            return {}
    """
    good = """
        from idflow import worker_task

        @worker_task("good")
        def good(task):
            return {}
    """
    write_task(tasks_dir, ".hidden", broken)
    write_task(tasks_dir, "__pycache__", broken)
    write_task(tasks_dir, "good", good)
    write_task(tasks_dir, "good", broken, filename="test_good.py")
    write_task(tasks_dir, "good", broken, filename="good_test.py")
    write_task(tasks_dir, "good", "this is not python", filename="notes.txt")
    (tasks_dir / "README.md").write_text("files beside the folders are ignored\n")
    assert set(discover(tasks_dir)) == {"good"}


def test_every_python_file_is_parsed_and_one_that_does_not_parse_is_a_problem(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "good",
        """
        from idflow import worker_task

        @worker_task("good")
        def good(task):
            return {}
    """,
    )
    helpers = write_task(tasks_dir, "good", "def helper(:\n", filename="helpers.py")
    nested = tasks_dir / "good" / "lib" / "deep.py"
    nested.parent.mkdir()
    nested.write_text("VALUE = (\n")
    tasks, found = discover_tasks_partial(tasks_dir)
    assert [t.name for t in tasks] == ["good"]
    assert [(p.path, p.line, p.message.split(":")[0]) for p in found] == [
        (str(helpers), 1, "syntax error"),
        (str(nested), 1, "syntax error"),
    ]


def test_a_folder_whose_main_file_has_no_task_is_not_an_error(tasks_dir: Path) -> None:
    write_task(tasks_dir, "empty", "VALUE = 1\n")
    assert discover_tasks(tasks_dir) == []


# -- requirements.txt --------------------------------------------------------------------------------


def test_requirements_are_parsed_and_normalised(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "req",
        """
        from idflow import worker_task

        @worker_task("req")
        def req(task):
            return {}
    """,
    )
    path = tasks_dir / "req" / "requirements.txt"
    path.write_text(
        "# the HTTP client\n"
        "\n"
        "Requests >= 2.31 ,<3   # inline comment\n"
        "python_dateutil==2.9.0\n"
        'typing-extensions; python_version < "3.12"\n'
        "pkg[b,a] @ https://example.com/pkg-1.0.tar.gz#sha256=abc\n"
        "continued>=1.0,\\\n"
        "  <2.0\n"
    )
    task = discover(tasks_dir)["req"]
    assert task.requirements == (
        "requests<3,>=2.31",
        "python-dateutil==2.9.0",
        'typing-extensions; python_version < "3.12"',
        "pkg[a,b] @ https://example.com/pkg-1.0.tar.gz#sha256=abc",
        "continued<2.0,>=1.0",
    )
    assert task.requirements_path == path


def test_no_requirements_file(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "plain",
        """
        from idflow import worker_task

        @worker_task("plain")
        def plain(task):
            return {}
    """,
    )
    task = discover(tasks_dir)["plain"]
    assert task.requirements == () and task.requirements_path is None


def test_requirement_errors_carry_their_line(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "req",
        """
        from idflow import worker_task

        @worker_task("req")
        def req(task):
            return {}
    """,
    )
    path = tasks_dir / "req" / "requirements.txt"
    path.write_text(
        "requests\n"
        "-r other.txt\n"
        "\n"
        "-e ./local\n"
        "--index-url https://pypi.example.com/simple\n"
        "not a requirement!\n"
        "ok-package==1\n"
    )
    found = problems(tasks_dir)
    assert len(found) == 4, found
    assert found[0].startswith(f"{path}:2:1: pip option '-r' is not supported")
    assert found[1].startswith(f"{path}:4:1: pip option '-e' is not supported")
    assert found[2].startswith(f"{path}:5:1: pip option '--index-url' is not supported")
    assert found[3].startswith(f"{path}:6:1: invalid requirement 'not a requirement!'")


def test_requirements_file_not_utf8(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "req",
        """
        from idflow import worker_task

        @worker_task("req")
        def req(task):
            return {}
    """,
    )
    path = tasks_dir / "req" / "requirements.txt"
    path.write_bytes(b"requests\ncaf\xe9\n")
    assert problems(tasks_dir) == [f"{path}:2:4: the file is not UTF-8"]


# -- no code runs ------------------------------------------------------------------------------------


def test_no_task_code_runs(tasks_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    write_task(
        tasks_dir,
        "sneaky",
        f"""
        import pathlib
        pathlib.Path({str(marker)!r}).write_text("module top level ran")
        import module_that_does_not_exist

        from idflow import worker_task

        @worker_task("sneaky", retry_count=1)
        def sneaky(task):
            pathlib.Path({str(marker)!r}).write_text("task ran")
            return {{}}
    """,
    )
    write_task(
        tasks_dir,
        "sneaky",
        f"""
        import pathlib
        pathlib.Path({str(marker)!r}).write_text("helper ran")
    """,
        filename="__init__.py",
    )
    assert set(discover(tasks_dir)) == {"sneaky"}
    assert not marker.exists()


@pytest.mark.processes
def test_discovery_does_not_import_the_sdk(tasks_dir: Path) -> None:
    write_task(
        tasks_dir,
        "greet",
        """
        from conductor.client.worker.worker_task import worker_task
        from conductor.client.http.models import TaskDef

        @worker_task("greet", task_def=TaskDef(retry_count=1))
        def greet(task):
            return {}
    """,
    )
    script = (
        "import sys; from pathlib import Path; from idflow.repo.task_files import discover_tasks; "
        f"tasks = discover_tasks(Path({str(tasks_dir)!r})); "
        "print(len(tasks), any(m.startswith('conductor') for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["1", "False"]


# -- validate_definition on plain dicts ---------------------------------------------------------------


def test_validate_definition_accepts_the_normal_form() -> None:
    assert validate_definition(normalise_taskdef({"name": "ok"})) == []
    assert validate_definition({"name": "ok", **TASKDEF_DEFAULTS}) == []


def test_validate_definition_messages_use_the_dict_field_names() -> None:
    messages = validate_definition({
        "name": "bad name", "retryCount": -1, "timeoutPolicy": "NEVER", "timeoutSeconds": 600,
        "inputKeys": "a", "concurrentExecLimit": True,
    })  # fmt: skip
    assert messages == [
        "the task name 'bad name' may only contain letters, digits, '_', '.' and '-'",
        "retryCount must be >= 0, not -1",
        "concurrentExecLimit must be a whole number, not bool True",
        "timeoutPolicy must be one of RETRY, TIME_OUT_WF, ALERT_ONLY, not 'NEVER'",
        "inputKeys must be a list of strings, not 'a'",
        "timeoutSeconds=600 is less than the default responseTimeoutSeconds (3600), which the server "
        "rejects: set responseTimeoutSeconds to at most 600",
    ]


def test_validate_definition_snake_case_labels() -> None:
    assert validate_definition({"name": "x", "retryCount": "3"}, snake_case=True) == [
        "retry_count must be a whole number, not str '3'"
    ]
