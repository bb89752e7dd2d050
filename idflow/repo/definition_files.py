"""Reading one definition file (an event handler, a schedule) the way workflow files are read.

The same suffixes (``.json``, ``.yaml``/``.yml``, and ``.j2`` templates of either rendered with the
config's ``vars`` in the bounded sandbox), the same safe reader, the same error lines. What is read keeps
its text, so every problem and note can name the line of the key it is about.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idflow.errors import Problem
from idflow.repo import safefile, yamlfile
from idflow.repo.workflow_files import (
    SCHEMA_KEY,
    _FileProblem,
    _parse,
    _render,
    _start_line,
    workflow_files,
    workflow_format,
)

Where = tuple[str | int, ...]

#: How a definition's files are found: as workflow files are (same suffixes, any depth, hidden left out).
definition_files = workflow_files


@dataclass(frozen=True)
class SourceFile:
    """One parsed file: its data, and the lines of its keys (of the rendered text for a template)."""

    path: Path
    data: Any
    text: str
    templated: bool
    lines: dict[str, int] = field(default_factory=dict)

    @property
    def start(self) -> int:
        return _start_line(self.text)

    @property
    def rendered(self) -> str:
        """What to add to a message whose line is one of the rendered template's."""
        return " (line of the rendered template)" if self.templated else ""

    def line(self, where: Where) -> int:
        """The line of ``where`` (keys and list indexes), or of its nearest parent that has one."""
        for end in range(len(where), 0, -1):
            found = self.lines.get(".".join(map(str, where[:end])))
            if found is not None:
                return found
        return self.start

    def problem(self, where: Where, message: str) -> Problem:
        return Problem(str(self.path), self.line(where), 1, f"{message}{self.rendered}")


class FileProblems(Exception):
    """A file that cannot be read or parsed: its problems."""

    def __init__(self, problems: list[Problem]):
        super().__init__(problems[0].message)
        self.problems = problems


def read_definition_file(path: Path, variables: dict[str, Any], within: Iterable[Path], what: str) -> SourceFile:
    """Read, render (templates) and parse one file; ``FileProblems`` when that fails. ``what`` names the
    file in messages (``event handler file``)."""
    kind = workflow_format(path)
    if kind is None:
        raise FileProblems([Problem(str(path), 1, 1, f"not a {what} (.json, .yaml, .yml, or a .j2 of one)")])
    fmt, templated = kind
    try:
        text = yamlfile.read_text(
            path, what, limit=safefile.WORKFLOW_FILE_LIMIT, within=list(within), parents_checked=True
        )
        source = _render(path, text, variables) if templated else text
        data = _parse(fmt, source, templated)
    except yamlfile.YamlProblem as problem:
        raise FileProblems([Problem(str(path), problem.line, problem.col, problem.message)]) from None
    except _FileProblem as exc:
        found = [Problem(str(path), exc.line, exc.col, exc.message)]
        found.extend(Problem(str(path), line, 1, message) for line, message in exc.more)
        raise FileProblems(found) from None
    if isinstance(data, dict) and isinstance(data.get(SCHEMA_KEY), str):
        data = {k: v for k, v in data.items() if k != SCHEMA_KEY}  # for editors: neither a field nor a mistake
    return SourceFile(path, data, source, templated, yamlfile.key_lines(source))


def human(where: Where) -> str:
    """``actions[0].start_workflow.name`` for a path."""
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def kind_of(value: Any) -> str:
    return {list: "a list", str: "a string", type(None): "nothing", dict: "a mapping"}.get(
        type(value), type(value).__name__
    )
