"""GitHub Actions annotations (``::error file=...,line=...,col=...::message``): pure functions.

The runner reads workflow commands from a step's stdout and shows them on the pull request's changed
lines. Escaping follows the runner's rules: ``%``, CR and LF in the message; also ``:`` and ``,`` in
property values. Paths are made relative to the repository root, as the runner expects.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from idflow.errors import Problem
from idflow.plan.model import Plan
from idflow.render import plan_view, terminal_safe


def escape_data(text: str) -> str:
    return terminal_safe(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(
    level: str, message: str, *, file: str | None = None, line: int | None = None, col: int | None = None
) -> str:
    """One workflow command; ``level`` is error, warning or notice. Line and column 0 mean 'unknown'."""
    properties = []
    if file:
        properties.append(f"file={escape_property(file)}")
        if line:
            properties.append(f"line={line}")
            if col:
                properties.append(f"col={col}")
    head = f"::{level} {','.join(properties)}" if properties else f"::{level}"
    return f"{head}::{escape_data(message)}"


def repo_path(path: str, *, base: Path, repo_root: Path) -> str:
    """``path`` (absolute, or relative to ``base``) relative to ``repo_root``, with forward slashes;
    a path outside the repository stays as it is."""
    full = Path(os.path.normpath(base / path))
    try:
        return full.relative_to(repo_root).as_posix()
    except ValueError:
        return path


def render_problems(problems: Iterable[Problem], level: str = "error") -> str:
    """One annotation per problem; paths as given (the caller makes them relative to the repository)."""
    lines = [annotation(level, p.message, file=p.path or None, line=p.line, col=p.col) for p in problems]
    return "".join(f"{line}\n" for line in lines)


def render_plan_warnings(plan: Plan, *, base: Path, repo_root: Path, literals: tuple[str, ...] = ()) -> str:
    """The plan's warnings: a change's at its local file and line (its ``source``), the plan's own with no
    file (the runner lists them on the run's summary)."""
    view = plan_view(plan, literals, noop_bodies=False, changed_bodies=False)
    lines = []
    for change in view["changes"]:
        source = change.get("source")
        for warning in change["warnings"]:
            label = f"{change['kind']} {change['name']}"
            if source and ":" in source:
                path, _, line = source.rpartition(":")
                where = repo_path(path, base=base, repo_root=repo_root)
                number = int(line) if line.isdigit() else 0
                lines.append(annotation("warning", f"{label}: {warning}", file=where, line=number))
            else:
                lines.append(annotation("warning", f"{label}: {warning}"))
    lines.extend(annotation("warning", warning) for warning in view["warnings"])
    return "".join(f"{line}\n" for line in lines)
