"""``--format github``: errors that carry file locations, printed as GitHub Actions annotations."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import click

from idflow.errors import DefinitionError, IdflowError, Problem


def find_repo_root(start: Path, environ: dict[str, str] | os._Environ[str] | None = None) -> Path:
    """``$GITHUB_WORKSPACE`` when ``start`` is inside it, else the nearest folder up from ``start`` that holds
    ``.git`` (a folder, or a file in a git worktree), else ``start``."""
    env = os.environ if environ is None else environ
    start = start.resolve()
    workspace = env.get("GITHUB_WORKSPACE")
    if workspace:
        root = Path(workspace).resolve()
        if start == root or root in start.parents:
            return root
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def problems_of(exc: IdflowError) -> list[Problem]:
    """Every located problem an error carries: a DefinitionError's list, or the ``path:line:`` of a one-line
    error (config, stage files); an error about no file gives one problem without a path."""
    if isinstance(exc, DefinitionError):
        return list(exc.problems)
    return [Problem.from_message(str(exc))]


def echo_error_annotations(exc: IdflowError, base: Path) -> None:
    """Print ``exc`` as ``::error`` lines on stdout (where the runner reads them). A relative path is taken
    from ``base`` (the project root, or the working directory before the config is read); each path is
    made relative to the repository that holds its file."""
    from idflow.render.github import render_problems, repo_path

    problems = []
    for problem in problems_of(exc):
        if problem.path:
            full = Path(os.path.normpath(base / problem.path))
            problem = replace(problem, path=repo_path(str(full), base=base, repo_root=find_repo_root(full.parent)))
        problems.append(problem)
    click.echo(render_problems(problems), nl=False)
