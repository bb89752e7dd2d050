"""What a kind's import writer gets and gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idflow.errors import IdflowError

if TYPE_CHECKING:
    from idflow.config import Config


class Refused(IdflowError):
    """One object that cannot be imported: the message says which and why; the others go ahead."""


@dataclass(frozen=True)
class Imported:
    """The file one remote object becomes: ``path`` is absolute (inside the project), ``text`` its content;
    ``notes`` say what the user should know (a name mapped to a safe one, an owner the next plan sets)."""

    kind: str
    label: str
    key: str
    path: Path
    text: str
    notes: tuple[str, ...] = ()


@dataclass
class WriteContext:
    """What every writer shares: the project, the file format asked for, and the names already taken in
    each folder (so two server names mapped to one safe name get different files)."""

    config: Config
    fmt: str = "yaml"
    existing: dict[str, Path] = field(default_factory=dict)  # object key -> the file defining it now
    memo: dict[str, Any] = field(default_factory=dict)  # a writer's own bookkeeping, by the writer's key
    _taken: dict[Path, set[str]] = field(default_factory=dict)

    def taken(self, folder: Path) -> set[str]:
        return self._taken.setdefault(folder, set())
