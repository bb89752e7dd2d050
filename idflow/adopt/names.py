"""Safe local names for names that come from a server (not trusted): Python module names for task
folders, file names for workflow files. Each mapping is said, so the user knows where a name went."""

from __future__ import annotations

import keyword
import re

_NOT_WORD = re.compile(r"[^A-Za-z0-9_]")
_NOT_FILE = re.compile(r"[^A-Za-z0-9_.-]")
MAX_STEM = 100


def module_name(name: str, taken: set[str]) -> str:
    """A Python module name (folder and file of a task) for ``name``, not in ``taken`` (which it joins)."""
    stem = _NOT_WORD.sub("_", name)[:MAX_STEM] or "task"
    if stem[0].isdigit() or stem.startswith("_"):
        stem = "task_" + stem.lstrip("_")
    if keyword.iskeyword(stem) or keyword.issoftkeyword(stem):
        stem += "_"
    return _unique(stem, taken, "_")


def file_stem(name: str, taken: set[str]) -> str:
    """A file name stem for ``name``: letters, digits, ``_``, ``.`` and ``-``, never hidden, ``.`` or ``..``."""
    stem = _NOT_FILE.sub("_", name)[:MAX_STEM].lstrip(".") or "workflow"
    return _unique(stem, taken, "_")


def _unique(stem: str, taken: set[str], sep: str) -> str:
    candidate, n = stem, 2
    while candidate.lower() in taken:  # case-insensitive: macOS and Windows checkouts fold case
        candidate, n = f"{stem}{sep}{n}", n + 1
    taken.add(candidate.lower())
    return candidate
