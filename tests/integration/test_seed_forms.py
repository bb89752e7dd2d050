"""The seed's own command forms, as written: flags after the subcommand, and its local-test import line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

MY_TASK = '''
    from idflow import worker_task


    @worker_task(task_definition_name="{name}", retry_count=2)
    def my_task(task):
        """The seed's example task."""
        return {{"echo": task["input"]}}
'''


def write_my_task(root: Path, name: str) -> None:
    folder = root / "idflow" / "tasks" / "my_task"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "my_task.py").write_text(textwrap.dedent(MY_TASK.format(name=name)).lstrip("\n"))


@pytest.fixture
def seeded(cli_project, remote, unique):
    name = f"{unique}_my_task"
    write_my_task(cli_project.root, name)
    yield cli_project, remote, name
    for task in remote.list_task_defs():
        if task["name"].startswith(unique):
            remote.delete_task_def(task["name"])


def test_verbose_and_debug_after_the_subcommand(seeded):
    cli, remote, name = seeded
    listed = cli("tasks", "list", "--sync", "--verbose")
    assert listed.exit_code == 0, listed.output
    assert name in listed.stdout and "local only" in listed.stdout

    uploaded = cli("tasks", "upload", name, "--verbose", "-y")
    assert uploaded.exit_code == 0, uploaded.output
    assert remote.get_task_def(name)["retryCount"] == 2

    planned = cli("plan", "-v", "--debug")
    assert planned.exit_code == 0, planned.output
    assert f"task {name}  (in-sync)" in planned.stdout  # -v lists the unchanged ones too

    listed = cli("tasks", "list", "--sync", "-v")
    assert listed.exit_code == 0 and name in listed.stdout


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("IDFLOW_TASKS_DIR", "PYTHONPATH")}


SEED = "from idflow.tasks.my_task.my_task import my_task; print(my_task({'input': 'test'}))"


@pytest.mark.processes
def test_the_seeds_import_line_works_from_the_project_folder(tmp_path: Path) -> None:
    """With this checkout's install (scripts/bootstrap: editable, compat mode)."""
    write_my_task(tmp_path, "my_task")
    done = subprocess.run(
        [sys.executable, "-c", SEED], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'echo': 'test'}"


@pytest.mark.processes
def test_the_seeds_import_line_works_with_a_regular_wheel_install(tmp_path: Path) -> None:
    """A non-editable install (a built wheel, unpacked into its own folder) must do the same."""
    repo = Path(__file__).resolve().parents[2]
    wheels, target, project = tmp_path / "wheels", tmp_path / "site", tmp_path / "project"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(repo)],  # as pip builds it
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("idflow-*.whl")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    write_my_task(project, "my_task")
    code = f"import idflow; print(idflow.__file__); {SEED}"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=project, env={**clean_env(), "PYTHONPATH": str(target)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    installed_at, output = done.stdout.strip().splitlines()
    assert installed_at.startswith(str(target))  # the wheel's copy, not this checkout
    assert output == "{'echo': 'test'}"
