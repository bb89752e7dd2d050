"""The pre-commit hook definition at the repository root: what pre-commit reads, and that it runs."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import yaml

from tests.unit.test_gitops_recipes import check_command

ROOT = Path(__file__).resolve().parents[2]


def hooks() -> list[dict]:
    data = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert isinstance(data, list)
    return data


def test_the_hook_is_idflow_validate_in_python_without_file_names():
    (hook,) = hooks()
    assert hook["id"] == "idflow-validate"
    assert hook["language"] == "python"  # pre-commit installs this repository with pip
    assert hook["pass_filenames"] is False
    assert {"id", "name", "entry", "language"} <= set(hook)


def test_the_entry_is_a_console_script_of_the_package_and_a_command_that_exists():
    (hook,) = hooks()
    program, *args = shlex.split(hook["entry"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert program in scripts
    assert check_command(args).name == "validate"


def test_the_files_pattern_matches_what_validate_reads_and_nothing_else():
    (hook,) = hooks()
    pattern = re.compile(hook["files"])  # pre-commit uses re.search on repository-relative paths
    example = ROOT / "examples" / "docflow"
    read = [
        p.relative_to(ROOT).as_posix()
        for p in [example / "config" / "idflow.yml", *(example / "idflow").rglob("*")]
        if p.is_file() and "__pycache__" not in p.parts
    ]
    assert len(read) > 5
    assert all(pattern.search(path) for path in read), [p for p in read if not pattern.search(p)]
    for path in ("config/idflow.yml", "idflow/tasks/a/a.py", "idflow/workflows/w.yaml", "idflow/stages/s.yml"):
        assert pattern.search(path), path
    for path in ("README.md", "src/app.py", "config/other.yml", "docs/idflow.md", "myidflow/x.py"):
        assert not pattern.search(path), path
