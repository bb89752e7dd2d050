"""Two environments' servers side by side: what the managed objects of one hold that the other lacks or
holds differently, field by field. Pure: two actual states (read from the servers, no local files) in,
frozen data out; ``idflow diff --env A --env B`` renders it.

An object counts when either environment manages it (its ``owner_email``, or without one its apply
record). ``ownerEmail`` itself is left out of the comparison when the two environments write different
owners: that difference is configured, not drift. A field that an environment's overrides set is marked
with that entry, so a reader tells a configured difference from a hand edit.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from idflow.config import Override
from idflow.kinds.ownership import manages
from idflow.plan.diffing import field_diffs
from idflow.plan.inputs import ActualState, RemoteObject
from idflow.plan.model import FieldDiff, Kind, object_key, thaw


class Side(StrEnum):
    ONLY_A = "only-in-a"
    ONLY_B = "only-in-b"
    DIFFERS = "differs"


@dataclass(frozen=True)
class Environment:
    """One side: its name, server, owner and overrides, and the keys its apply record names."""

    name: str
    server_url: str
    owner_email: str | None
    overrides: tuple[Override, ...] = ()
    applied: Container[str] = frozenset()


@dataclass(frozen=True)
class ObjectDifference:
    kind: Kind
    name: str
    version: int | None
    side: Side
    diff: tuple[FieldDiff, ...] = ()
    set_by: Mapping[str, str] | None = None  # field -> "ENV: file:line" of the override that sets it

    @property
    def key(self) -> str:
        return object_key(self.kind, self.name, self.version)

    @property
    def label(self) -> str:
        return self.name if self.version is None else f"{self.name} v{self.version}"


@dataclass(frozen=True)
class Comparison:
    a: Environment
    b: Environment
    differences: tuple[ObjectDifference, ...]
    same: int  # managed objects that are equal on both servers

    @property
    def has_differences(self) -> bool:
        return bool(self.differences)

    def counts(self) -> dict[str, int]:
        result = {s.value: 0 for s in Side}
        for difference in self.differences:
            result[difference.side.value] += 1
        result["same"] = self.same
        return result


def compare(a: Environment, actual_a: ActualState, b: Environment, actual_b: ActualState) -> Comparison:
    drop_owner = a.owner_email != b.owner_email
    differences: list[ObjectDifference] = []
    same = 0
    objects: list[tuple[Kind, str, int | None, RemoteObject | None, RemoteObject | None]] = [
        (Kind.TASK, n, None, actual_a.tasks.get(n), actual_b.tasks.get(n))
        for n in sorted(set(actual_a.tasks) | set(actual_b.tasks))
    ]
    objects += [
        (Kind.WORKFLOW, n, v, actual_a.workflows.get((n, v)), actual_b.workflows.get((n, v)))
        for n, v in sorted(set(actual_a.workflows) | set(actual_b.workflows))
    ]
    for kind, name, version, left, right in objects:
        key = object_key(kind, name, version)
        ours_a = left is not None and manages(a.owner_email, left.definition, key, a.applied)
        ours_b = right is not None and manages(b.owner_email, right.definition, key, b.applied)
        if not (ours_a or ours_b):
            continue
        if right is None:
            differences.append(ObjectDifference(kind, name, version, Side.ONLY_A))
            continue
        if left is None:
            differences.append(ObjectDifference(kind, name, version, Side.ONLY_B))
            continue
        diff = field_diffs(_comparable(left, drop_owner), _comparable(right, drop_owner))
        if not diff:
            same += 1
            continue
        set_by = {
            d.path: origin
            for d in diff
            if (origin := _set_by(kind, name, d.path, a) or _set_by(kind, name, d.path, b)) is not None
        }
        differences.append(ObjectDifference(kind, name, version, Side.DIFFERS, tuple(diff), set_by))
    return Comparison(a, b, tuple(differences), same)


def _comparable(remote: RemoteObject, drop_owner: bool) -> dict[str, Any]:
    definition = thaw(remote.definition)
    if drop_owner:
        definition.pop("ownerEmail", None)
    return definition


def _set_by(kind: Kind, name: str, path: str, env: Environment) -> str | None:
    head = path.split(".", 1)[0].split("[", 1)[0]
    origin = None
    for entry in env.overrides:
        if entry.kind == kind.value and entry.matches(name) and head in entry.fields:
            origin = f"{env.name}: {entry.origin}"
    return origin
