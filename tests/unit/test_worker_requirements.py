"""Workers without a server: requirement checks, importing task code, pickling for spawned processes."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest
import yaml

from idflow.errors import IdflowError, WorkerError
from idflow.run.workers import (
    PACKAGE,
    TaskFunction,
    check_requirements,
    ensure_requirements,
    module_name,
    mount_tasks_package,
    requirement_status,
    select_tasks,
    unmet,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "docflow"
YAML_VERSION = yaml.__version__


# -- requirements ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requirement", "ok", "installed", "state"),
    [
        ("pyyaml>=6", True, YAML_VERSION, f"ok ({YAML_VERSION})"),
        ("PyYAML", True, YAML_VERSION, f"ok ({YAML_VERSION})"),
        ("pyyaml<1", False, YAML_VERSION, f"wrong version ({YAML_VERSION} installed)"),
        ("pyyaml[extra]>=6", True, YAML_VERSION, f"ok ({YAML_VERSION})"),
        ("idflow-no-such-package-x>=1", False, None, "missing"),
        ('idflow-no-such-package-x; python_version < "3"', True, None, "not needed here (marker)"),
    ],
)
def test_requirement_status(requirement, ok, installed, state):
    status = requirement_status("t", requirement)
    assert (status.ok, status.installed, status.state) == (ok, installed, state)


def make_project(tmp_path: Path, tasks: dict[str, tuple[str, str | None]]) -> Path:
    """tasks: folder -> (python source, requirements.txt or None)."""
    (tmp_path / "config").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config" / "idflow.yml").write_text("owner_email: unit@test.idflow\n")
    for folder, (source, requirements) in tasks.items():
        path = tmp_path / "idflow" / "tasks" / folder
        path.mkdir(parents=True, exist_ok=True)
        (path / f"{folder}.py").write_text(textwrap.dedent(source))
        if requirements is not None:
            (path / "requirements.txt").write_text(requirements)
    return tmp_path


def task_source(name: str, body: str = "return {'echo': text}", extra: str = "") -> str:
    return (
        "from idflow import worker_task\n"
        f"{extra}\n\n"
        f"@worker_task(task_definition_name={name!r}, retry_count=1)\n"
        f"def run(text: str) -> dict:\n"
        f"    {body}\n"
    )


def config_of(root: Path):
    from idflow.config import load_config

    return load_config(root / "config" / "idflow.yml", environ={})


def test_ensure_requirements_lists_everything_missing(tmp_path):
    root = make_project(
        tmp_path,
        {
            "good": (task_source("u_good"), "pyyaml>=6\n"),
            "bad": (task_source("u_bad"), "pyyaml<1\nidflow-no-such-package-x==2.0\n"),
        },
    )
    tasks = select_tasks(config_of(root), (), all_tasks=True)
    assert [s.ok for s in check_requirements(tasks)] == [False, False, True]
    with pytest.raises(WorkerError) as caught:
        ensure_requirements(tasks)
    assert "2 requirement(s) of u_bad not met" in str(caught.value)
    assert "idflow tasks deps --install u_bad" in str(caught.value)
    assert caught.value.details() == [
        f"u_bad: pyyaml<1: wrong version ({YAML_VERSION} installed)",
        "u_bad: idflow-no-such-package-x==2.0: missing",
    ]
    ensure_requirements([t for t in tasks if t.name == "u_good"])


def test_worker_start_refuses_with_missing_requirements_before_any_server_call(tmp_path):
    from click.testing import CliRunner

    from idflow.cli import cli

    root = make_project(tmp_path, {"needy": (task_source("u_needy"), "idflow-no-such-package-x>=1\n")})
    result = CliRunner().invoke(
        cli,
        ["--config", str(root / "config" / "idflow.yml"), "worker", "start", "--all"],
        env={"CONDUCTOR_SERVER_URL": "http://127.0.0.1:9/api"},
    )
    assert result.exit_code == 1
    assert "1 requirement(s) of u_needy not met" in result.stderr
    assert "u_needy: idflow-no-such-package-x>=1: missing" in result.stderr
    assert f"{PACKAGE}.needy" not in sys.modules  # refused before any task code was imported


def test_worker_start_usage_and_unknown_names(tmp_path):
    from click.testing import CliRunner

    from idflow.cli import cli

    root = make_project(tmp_path, {"one": (task_source("u_one"), None)})
    base = ["--config", str(root / "config" / "idflow.yml"), "worker", "start"]
    assert CliRunner().invoke(cli, base).exit_code == 1
    result = CliRunner().invoke(cli, [*base, "u_two"])
    assert result.exit_code == 1 and "no local task named u_two" in result.stderr and "known: u_one" in result.stderr


@pytest.mark.processes
def test_deps_shows_and_installs_with_this_interpreter(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from idflow.cli.context import AppContext
    from idflow.cli.deps import deps

    root = make_project(
        tmp_path,
        {
            "a": (task_source("u_a"), "pyyaml>=6\n"),
            "b": (task_source("u_b"), "idflow-no-such-package-x>=1\n"),
            "c": (task_source("u_c"), None),
        },
    )
    group = click.Group("tasks", commands={"deps": deps})

    def invoke(*args):
        return CliRunner().invoke(group, ["deps", *args], obj=AppContext(str(root / "config" / "idflow.yml")))

    result = invoke()
    assert result.exit_code == 0, result.output
    assert "u_a  (idflow/tasks/a/requirements.txt)" in result.stdout
    assert f"  pyyaml>=6  ok ({YAML_VERSION})" in result.stdout
    assert "  idflow-no-such-package-x>=1  missing" in result.stdout
    assert "1 requirement(s) not met" in result.stdout

    assert "All requirements are installed." in invoke("u_a").stdout
    assert "No task has requirements." in invoke("u_c").stdout

    calls = []

    def fake_run(command, check):
        calls.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    result = invoke("--install")
    assert calls == [[sys.executable, "-m", "pip", "install", "idflow-no-such-package-x>=1"]]
    assert isinstance(result.exception, IdflowError) and "still not met after installing" in str(result.exception)

    monkeypatch.setattr(subprocess, "run", lambda command, check: subprocess.CompletedProcess(command, 3))
    result = invoke("--install", "u_b")
    assert isinstance(result.exception, IdflowError) and "pip install failed (exit 3)" in str(result.exception)


# -- importing task code --------------------------------------------------------------------------


def test_the_example_tasks_import_as_idflow_tasks_and_their_functions_work():
    import importlib

    config = config_of(EXAMPLE)
    tasks = select_tasks(config, (), all_tasks=True)
    assert unmet(check_requirements(tasks)) == []
    mount_tasks_package(config.tasks_dir)
    modules = {t.name: importlib.import_module(module_name(t, config.tasks_dir)) for t in tasks}
    assert module_name(tasks[0], config.tasks_dir) == f"{PACKAGE}.classify.classify"
    assert tasks[0].module == "idflow.tasks.classify.classify"  # what discovery says: the same path

    normalize = modules["docflow_normalize"]
    assert normalize.normalize_text("  a \t b\x07\n\n\n c  ") == "a b\n\nc"
    assert normalize.normalize(text="x  y") == {"text": "x y", "chars": 3}

    classify = modules["docflow_classify"]
    assert classify.classify_text("Invoice: total 3.00") == ("invoice", 2)
    assert classify.classify_text("Dear Bob, hello")[0] == "letter"
    assert classify.classify_text("shopping list")[0] == "note"

    stats = modules["docflow_stats"]
    assert stats.text_stats("the cats and the dogs, cats\nend", top=2) == {
        "words": 7,
        "lines": 2,
        "top_words": ["cats", "dogs"],
    }

    extract = modules["docflow_extract_amounts"]
    text = "No. 2024-117\nfee 1,200.00 EUR\nVAT 19%: 228.00\nTotal: 1,428.00\n"
    assert extract.extract_amounts(text) == (["1200.00", "228.00", "1428.00"], "1428.00")
    assert extract.extract_amounts("3.50 and 7.25") == (["3.50", "7.25"], "7.25")
    assert extract.extract_amounts("nothing") == ([], None)

    report = modules["docflow_report"]
    text = report.build_report(
        "u", "T", "invoice", {"words": 3, "top_words": ["a"]}, {"total": "9.00", "currency": "EUR"}
    )
    assert yaml.safe_load(text) == {
        "document": "u", "title": "T", "category": "invoice", "words": 3, "top_words": ["a"], "total": "9.00 EUR"
    }  # fmt: skip


def test_mounting_another_folder_replaces_the_package(tmp_path):
    import importlib

    first = make_project(tmp_path / "p1", {"x": (task_source("u_x", "return {'from': 'one'}"), None)})
    second = make_project(tmp_path / "p2", {"x": (task_source("u_x", "return {'from': 'two'}"), None)})
    mount_tasks_package(first / "idflow" / "tasks")
    assert importlib.import_module(f"{PACKAGE}.x.x").run(text="") == {"from": "one"}
    mount_tasks_package(second / "idflow" / "tasks")
    assert importlib.import_module(f"{PACKAGE}.x.x").run(text="") == {"from": "two"}


@pytest.mark.processes
def test_build_workers_wraps_functions_by_reference_and_they_unpickle_in_a_fresh_interpreter(tmp_path):
    from idflow.run.workers import build_workers

    helper = "from . import helper\n"
    root = make_project(
        tmp_path, {"greet": (task_source("u_greet", "return {'out': helper.shout(text)}", helper), None)}
    )
    (root / "idflow" / "tasks" / "greet" / "helper.py").write_text("def shout(s):\n    return s.upper() + '!'\n")
    config = config_of(root)
    workers = build_workers(config, select_tasks(config, ("u_greet",), all_tasks=False))
    assert len(workers) == 1
    worker = workers[0]
    assert isinstance(worker.execute_function, TaskFunction)
    assert worker.execute_function(text="hi") == {"out": "HI!"}
    assert not worker._is_execute_function_input_parameter_a_task  # the real signature (text: str) is seen

    # A spawned worker process gets the Worker by pickle, in an interpreter that never saw the tasks folder.
    child = (
        "import pickle, sys\n"
        "from conductor.client.http.models.task import Task\n"
        "worker = pickle.loads(sys.stdin.buffer.read())\n"
        "result = worker.execute(Task(task_id='t1', workflow_instance_id='w1', input_data={'text': 'yo'}))\n"
        "print(result.status, result.output_data)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", child], input=pickle.dumps(worker), capture_output=True, cwd="/", check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == "COMPLETED {'out': 'YO!'}"


def test_a_task_module_that_fails_to_import_is_a_worker_error(tmp_path):
    from idflow.run.workers import build_workers

    root = make_project(tmp_path, {"broken": (task_source("u_broken", extra="raise RuntimeError('boom')"), None)})
    config = config_of(root)
    with pytest.raises(WorkerError, match=r"cannot import the module of task u_broken .*RuntimeError: boom"):
        build_workers(config, select_tasks(config, (), all_tasks=True))
