"""Discovery of every worker style conductor-python supports, and of the ones it refuses (at file:line).

The fixtures are shaped like the SDK's own examples and tests (class workers calling
``super().__init__(name)``, ``Worker(task_definition_name=..., execute_function=...)``, the same task
decorated for two domains), written here; nothing is imported or run.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from idflow.repo.task_files import discover_tasks, discover_tasks_partial


def write(tasks_dir: Path, folder: str, source: str, filename: str | None = None) -> Path:
    directory = tasks_dir / folder
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (filename or f"{folder}.py")
    path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    return path


def line_of(path: Path, token: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if token in line:
            return number
    raise AssertionError(f"{token!r} not in {path}")


@pytest.fixture
def tasks_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "idflow" / "tasks"
    folder.mkdir(parents=True)
    return folder


CLASS_WORKERS = """
    from conductor.client.http.models.task import Task
    from conductor.client.http.models.task_result import TaskResult
    from conductor.client.http.models.task_result_status import TaskResultStatus
    from conductor.client.worker.worker_interface import WorkerInterface

    PREFIX = "sdk_"


    class InitWorker(WorkerInterface):
        \"\"\"Answers in the class style.\"\"\"

        def __init__(self):
            super().__init__(PREFIX + "class_init")
            self.poll_interval = 375.0

        def execute(self, task: Task) -> TaskResult:
            result = self.get_task_result_from_task(task)
            result.status = TaskResultStatus.COMPLETED
            return result


    class KeywordWorker(WorkerInterface):
        def __init__(self, task_definition_name="class_keyword"):
            super().__init__(task_definition_name=task_definition_name)
            self.domain = "blue"

        def execute(self, task):
            return self.get_task_result_from_task(task)


    class AttributeWorker(WorkerInterface):
        task_definition_name = "class_attribute"

        def __init__(self):
            super().__init__(self.task_definition_name)

        def execute(self, task):
            return self.get_task_result_from_task(task)


    class MethodWorker(WorkerInterface):
        def __init__(self):
            WorkerInterface.__init__(self, "ignored")

        def get_task_definition_name(self) -> str:
            return "class_method"

        def execute(self, task):
            return self.get_task_result_from_task(task)
"""


def test_workerinterface_subclasses_with_literal_names(tasks_dir: Path) -> None:
    write(tasks_dir, "classes", CLASS_WORKERS)
    tasks = {t.name: t for t in discover_tasks(tasks_dir, owner_email="team@example.com")}
    assert sorted(tasks) == ["class_attribute", "class_keyword", "class_method", "sdk_class_init"]
    init = tasks["sdk_class_init"]
    assert init.definition["description"] == "Answers in the class style."
    assert init.definition["ownerEmail"] == "team@example.com"
    assert [(w.style, w.symbol, w.domain) for w in init.workers] == [("class", "InitWorker", None)]
    assert tasks["class_keyword"].workers[0].domain == "blue"
    assert tasks["class_method"].workers[0].symbol == "MethodWorker"


def test_worker_objects_at_module_level(tasks_dir: Path) -> None:
    path = write(
        tasks_dir,
        "objects",
        """
        from conductor.client.http.models import TaskDef
        from conductor.client.worker.worker import Worker


        def shout(text: str) -> dict:
            \"\"\"Shouts the text back.\"\"\"
            return {"text": text.upper()}


        shouter = Worker(
            task_definition_name="object_shout",
            execute_function=shout,
            poll_interval=750.0,
            task_def_template=TaskDef(name="object_shout", retry_count=5, timeout_seconds=60,
                                      response_timeout_seconds=30),
        )
        workers = [Worker("object_positional", shout, 500.0, "green")]
    """,
    )
    tasks = {t.name: t for t in discover_tasks(tasks_dir)}
    assert sorted(tasks) == ["object_positional", "object_shout"]
    shout = tasks["object_shout"]
    assert (shout.definition["retryCount"], shout.definition["timeoutSeconds"]) == (5, 60)
    assert shout.definition["description"] == "Shouts the text back."
    assert (shout.line, shout.workers[0].style, shout.workers[0].symbol) == (
        line_of(path, "shouter = Worker("),
        "object",
        "shout",
    )
    assert tasks["object_positional"].workers[0].domain == "green"


def test_decorated_staticmethod_in_either_order(tasks_dir: Path) -> None:
    write(
        tasks_dir,
        "statics",
        """
        from conductor.client.worker.worker_task import worker_task


        class Workers:
            @staticmethod
            @worker_task(task_definition_name="static_below")
            def below(name: str) -> str:
                return f"Hello {name}"

            @worker_task(task_definition_name="static_above")
            @staticmethod
            def above(name: str) -> str:
                return f"Hi {name}"
    """,
    )
    tasks = {t.name: t for t in discover_tasks(tasks_dir)}
    assert sorted(tasks) == ["static_above", "static_below"]
    assert tasks["static_below"].function == "Workers.below"


def test_one_name_in_two_domains_is_one_definition(tasks_dir: Path) -> None:
    write(
        tasks_dir,
        "greet",
        """
        from conductor.client.worker.worker_task import WorkerTask, worker_task


        @worker_task(task_definition_name="greet")
        def greet(name: str) -> str:
            \"\"\"Greets.\"\"\"
            return f"Hello {name}"


        @WorkerTask(task_definition_name="greet", domain="cool", poll_interval=500.0)
        def greet_cool(name: str) -> str:
            return f"Hello, cool {name}"
    """,
    )
    (task,) = discover_tasks(tasks_dir)
    assert task.name == "greet"
    assert [(w.symbol, w.domain) for w in task.workers] == [("greet", None), ("greet_cool", "cool")]
    assert task.definition["description"] == "Greets."


def test_same_name_same_domain_stays_a_duplicate(tasks_dir: Path) -> None:
    path = write(
        tasks_dir,
        "dup",
        """
        from idflow import worker_task


        @worker_task(task_definition_name="dup", domain="x")
        def one(task):
            return {}


        @worker_task(task_definition_name="dup", domain="x")
        def two(task):
            return {}
    """,
    )
    tasks, problems = discover_tasks_partial(tasks_dir)
    assert tasks == []
    assert [str(p) for p in problems] == [
        f"{path}:9:35: duplicate task name 'dup': defined at {path}:4 and at {path}:9 (both in domain 'x')"
    ]


def test_two_domains_with_conflicting_fields_are_an_error(tasks_dir: Path) -> None:
    path = write(
        tasks_dir,
        "job",
        """
        from idflow import worker_task


        @worker_task(task_definition_name="job", retry_count=1)
        def job(task):
            return {}


        @worker_task(task_definition_name="job", domain="b", retry_count=2)
        def job_b(task):
            return {}
    """,
    )
    tasks, problems = discover_tasks_partial(tasks_dir)
    assert tasks == []
    assert [(p.line, p.message) for p in problems] == [
        (
            9,
            f"task 'job' (domain 'b') gives retry_count=2, but its worker at {path}:4 (domain None) gives 1: "
            "workers of one task share one definition; give the field the same value (or on one worker only)",
        )
    ]


def test_two_domains_may_give_the_definition_once(tasks_dir: Path) -> None:
    write(
        tasks_dir,
        "job",
        """
        from idflow import worker_task


        @worker_task(task_definition_name="job", retry_count=7)
        def job(task):
            return {}


        @worker_task(task_definition_name="job", domain="b")
        def job_b(task):
            return {}
    """,
    )
    (task,) = discover_tasks(tasks_dir)
    assert task.definition["retryCount"] == 7


REFUSED = [
    (
        "nested_decorator",
        """
        from conductor.client.worker.worker_task import worker_task


        def make():
            @worker_task(task_definition_name="hidden")
            def hidden(task):
                return {}
            return hidden
        """,
        "@worker_task(",
        "this worker_task(...) is not a decorator of a module-level function",
    ),
    (
        "worker_in_function",
        """
        from conductor.client.worker.worker import Worker

        TASK_NAME = "made_later"


        def work(task):
            return {}


        def generate_worker():
            return Worker(task_definition_name=TASK_NAME, execute_function=work, poll_interval=750.0)
        """,
        "return Worker(",
        "this Worker(...) is made inside a function or class",
    ),
    (
        "name_from_parameter",
        """
        from conductor.client.worker.worker_interface import WorkerInterface


        class ClassWorker(WorkerInterface):
            def __init__(self, task_definition_name):
                super().__init__(task_definition_name)
                self.poll_interval = 375.0

            def execute(self, task):
                return self.get_task_result_from_task(task)
        """,
        "super().__init__(",
        "the task name of the worker class ClassWorker is the __init__ parameter 'task_definition_name'",
    ),
    (
        "class_without_name",
        """
        from conductor.client import WorkerInterface


        class FaultyExecutionWorker(WorkerInterface):
            def execute(self, task):
                raise Exception("faulty execution")
        """,
        "class FaultyExecutionWorker",
        "the task name of the worker class FaultyExecutionWorker is given where the class is used",
    ),
    (
        "nonliteral_name",
        """
        import os

        from idflow import worker_task


        @worker_task(task_definition_name=os.environ["TASK"])
        def job(task):
            return {}
        """,
        "os.environ",
        "task_definition_name: cannot be read without running the code (the subscript os.environ['TASK'])",
    ),
    (
        "plain_method",
        """
        from idflow import worker_task


        class Workers:
            @worker_task(task_definition_name="method")
            def run(self, task):
                return {}
        """,
        "def run(",
        "worker_task on the method Workers.run: the worker would be called without `self`",
    ),
    (
        "class_in_function",
        """
        from conductor.client.worker.worker_interface import WorkerInterface


        def build():
            class Inner(WorkerInterface):
                def __init__(self):
                    super().__init__("inner")

                def execute(self, task):
                    return None
            return Inner()
        """,
        "class Inner",
        "the WorkerInterface subclass Inner is not defined at module level",
    ),
]


@pytest.mark.parametrize(("folder", "source", "token", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_workers_that_cannot_be_read_are_problems_at_their_line(
    tasks_dir: Path, folder: str, source: str, token: str, message: str
) -> None:
    path = write(tasks_dir, folder, source)
    tasks, problems = discover_tasks_partial(tasks_dir)
    assert tasks == []
    assert [(p.path, p.line) for p in problems] == [(str(path), line_of(path, token))]
    assert message in problems[0].message
    if "inside a function" in message or "not a decorator" in message or "not defined at module" in message:
        assert "README: Writing tasks" in problems[0].message  # the documented way to declare it


def test_a_base_class_without_execute_is_not_a_worker(tasks_dir: Path) -> None:
    write(
        tasks_dir,
        "based",
        """
        from conductor.client.worker.worker_interface import WorkerInterface


        class Base(WorkerInterface):
            def get_domain(self):
                return None


        class Real(Base):
            def __init__(self):
                super().__init__("based_real")

            def execute(self, task):
                return self.get_task_result_from_task(task)
    """,
    )
    assert [t.name for t in discover_tasks(tasks_dir)] == ["based_real"]


def test_workers_in_shared_folders_and_top_level_files_are_tasks(tasks_dir: Path) -> None:
    write(
        tasks_dir,
        "_shared",
        """
        from idflow import worker_task


        @worker_task(task_definition_name="shared_helper_task")
        def helper(task):
            return {}
    """,
        filename="helpers.py",
    )
    (tasks_dir / "loose.py").write_text(
        "from idflow import worker_task\n\n\n@worker_task(task_definition_name='loose')\ndef loose(task):\n"
        "    return {}\n"
    )
    tasks = {t.name: t for t in discover_tasks(tasks_dir, import_root=tasks_dir.parent.parent)}
    assert tasks["shared_helper_task"].module == "idflow.tasks._shared.helpers"
    assert tasks["loose"].module == "idflow.tasks.loose"


def test_a_module_level_worker_under_if_is_read_once_and_a_call_form_decorator_is_refused(tasks_dir: Path) -> None:
    path = write(
        tasks_dir,
        "guarded",
        """
        import os

        from conductor.client.worker.worker import Worker
        from conductor.client.worker.worker_task import worker_task


        def run(task):
            return {}


        if os.environ.get("FAST"):
            fast = Worker("guarded_fast", run)

        wrapped = worker_task(task_definition_name="guarded_wrapped")(run)
    """,
    )
    tasks, problems = discover_tasks_partial(tasks_dir)
    assert [t.name for t in tasks] == ["guarded_fast"]
    assert [(p.line, p.message.split(",")[0]) for p in problems] == [
        (line_of(path, "wrapped ="), "this worker_task(...) is not a decorator of a module-level function"),
    ]


def test_worker_objects_in_every_module_level_statement_form_are_read(tasks_dir: Path) -> None:
    """Discovery skips statements that obviously hold no call (``X = 60``, docstrings); every form that
    can hold a ``Worker(...)`` is still searched."""
    write(
        tasks_dir,
        "forms",
        """
        \"\"\"Workers made in every kind of module-level statement.\"\"\"
        from conductor.client.worker.worker import Worker

        LIMIT = 60
        ALIAS = LIMIT
        pass


        def run(task):
            return {}


        assigned = Worker("form_assign", run)
        annotated: Worker = Worker("form_annotated", run)
        listed = [Worker("form_list", run)]
        first, second = Worker("form_tuple_a", run), Worker("form_tuple_b", run)
        print(Worker("form_expression", run))
        registry = {}
        registry["x"] = Worker("form_subscript", run)
        registry[Worker("form_in_target", run).task_definition_name] = LIMIT
        total = 0
        total += len([Worker("form_augmented", run)])
        for _ in [Worker("form_for", run)]:
            pass
        with open(__file__) as handle:
            looped = Worker("form_with", run)
        try:
            tried = Worker("form_try", run)
        except Exception:
            caught = Worker("form_except", run)
        """,
    )
    assert [t.name for t in discover_tasks(tasks_dir)] == sorted([
        "form_assign", "form_annotated", "form_list", "form_tuple_a", "form_tuple_b", "form_expression",
        "form_subscript", "form_in_target", "form_augmented", "form_for", "form_with", "form_try", "form_except",
    ])  # fmt: skip


def test_files_without_a_worker_api_are_still_syntax_checked_and_empty_files_are_fine(tasks_dir: Path) -> None:
    write(
        tasks_dir,
        "checked",
        """
        from idflow import worker_task


        @worker_task(task_definition_name="checked_task")
        def checked(task):
            return {}
        """,
    )
    (tasks_dir / "checked" / "__init__.py").write_text("")
    broken = write(tasks_dir, "checked", "def helper(x):\n    return x +\n", filename="helpers.py")
    (tasks_dir / "checked" / "sub" / "deeper").mkdir(parents=True)
    deep = write(tasks_dir, "checked", "VALUE = (1,\n", filename="sub/deeper/util.py")
    (tasks_dir / "checked" / "sub" / "__init__.py").write_text("")
    write(
        tasks_dir,
        "checked",
        "from idflow import worker_task\n\n\n@worker_task(task_definition_name='nested_task')\ndef nested(task):\n"
        "    return {}\n",
        filename="sub/nested.py",
    )
    tasks, problems = discover_tasks_partial(tasks_dir, import_root=tasks_dir.parent.parent)
    assert {t.name: t.module for t in tasks} == {
        "checked_task": "idflow.tasks.checked.checked",
        "nested_task": "idflow.tasks.checked.sub.nested",
    }
    assert [(p.path, p.line, p.message.split(":")[0]) for p in problems] == [
        (str(broken), 2, "syntax error"),
        (str(deep), 1, "syntax error"),
    ]
