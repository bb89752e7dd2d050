"""What names a managed object: its kind and its identity (name, or name and version). No dependencies.

``Kind`` is a string (``"task"``) so it serialises as one; each value exists once, so ``is`` compares. A kind
is declared once, by its module under ``idflow.kinds`` (``Kind.define``), and described by its ``KindSpec``
in ``idflow.kinds.registry``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


class Kind(str):
    _known: ClassVar[dict[str, Kind]] = {}
    _versioned: ClassVar[set[str]] = set()
    TASK: ClassVar[Kind]
    WORKFLOW: ClassVar[Kind]

    def __new__(cls, value: str) -> Kind:
        try:
            return cls._known[value]
        except (KeyError, TypeError):
            pass
        if isinstance(value, str):  # a kind is defined when its module is imported: load the registry once
            from idflow.kinds.registry import kinds

            kinds()
            if value in cls._known:
                return cls._known[value]
        raise ValueError(f"{value!r} is not a kind idflow manages ({', '.join(cls._known)})")

    @classmethod
    def define(cls, value: str, *, versioned: bool = False) -> Kind:
        if value in cls._known:
            return cls._known[value]
        kind = str.__new__(cls, value)
        cls._known[value] = kind
        if versioned:
            cls._versioned.add(value)
        return kind

    @property
    def value(self) -> str:
        return str.__str__(self)

    @property
    def versioned(self) -> bool:
        return self.value in self._versioned

    def __repr__(self) -> str:
        return f"Kind({self.value!r})"

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return Kind, (self.value,)


Kind.TASK = Kind.define("task")
Kind.WORKFLOW = Kind.define("workflow", versioned=True)


@dataclass(frozen=True, order=True)
class ObjectKey:
    """One object on the server: ``str()`` is the plan file's form, ``task:name`` or ``workflow:name:1``."""

    kind: Kind
    name: str
    version: int | None = None

    def __str__(self) -> str:
        base = f"{self.kind.value}:{self.name}"
        return base if self.version is None else f"{base}:{self.version}"

    @property
    def label(self) -> str:
        return self.name if self.version is None else f"{self.name} v{self.version}"

    @property
    def described(self) -> str:
        """``task a`` / ``workflow w v1``: how messages name it."""
        return f"{self.kind.value} {self.label}"

    @classmethod
    def of(cls, kind: Kind, name: str, version: int | None = None) -> ObjectKey:
        """The key of an object of ``kind``; a versioned kind's missing version is 1, as on the server."""
        return cls(kind, name, int(version or 1) if kind.versioned else None)

    @classmethod
    def parse(cls, text: str) -> ObjectKey:
        """Back from ``str()``; a ValueError for a key of no known kind, or without its version."""
        kind_text, _, rest = text.partition(":")
        kind = Kind(kind_text)
        if not kind.versioned:
            return cls(kind, rest)
        name, sep, version = rest.rpartition(":")
        if not sep or not version.isdigit():
            raise ValueError(f"{text!r}: a {kind.value} key needs a version (kind:name:version)")
        return cls(kind, name, int(version))
