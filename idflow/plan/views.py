"""Views over a plan: the groups `tasks list --sync` and `workflows list --sync` show. Pure data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idflow.kinds.key import Kind, ObjectKey
from idflow.plan.model import Action, Plan


@dataclass(frozen=True)
class Row:
    name: str
    status: str
    details: tuple[str, ...] = ()
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "details": list(self.details), "source": self.source}


def _status(change: Any) -> tuple[str, tuple[str, ...]]:
    if change.action is Action.CREATE:
        return "local only: needs uploading", ()
    if change.action is Action.UPDATE:
        fields = tuple(d.path for d in change.diff)
        return ("changed: " + ", ".join(fields)) if fields else "in sync (upload forced)", fields
    if change.action is Action.NOOP:
        return "in sync", ()
    if change.blocked:
        return "remote only: orphan, in use", tuple(str(b) for b in change.blockers)
    return "remote only: orphan", ()


def sync_groups(plan: Plan, kind: Kind = Kind.TASK, group_names: tuple[str, ...] | None = None) -> dict[str, list[Row]]:
    """The five groups of a sync view, all read off one plan (named as the kind's spec says, by default)."""
    from idflow.kinds.registry import spec

    group_names = group_names or spec(kind).list_groups
    local, remote, common, local_only, remote_only = ([] for _ in range(5))
    for change in plan.changes:
        if change.kind is not kind:
            continue
        status, details = _status(change)
        row = Row(change.label, status, details, change.source)
        if change.after is not None:
            local.append(row)
        if change.before is not None:
            remote.append(row)
        if change.after is not None and change.before is not None:
            common.append(row)
        elif change.after is not None:
            local_only.append(row)
        else:
            remote_only.append(row)
    for key in map(ObjectKey.parse, plan.unmanaged):
        if key.kind is kind:
            row = Row(key.label, "remote only: not managed (left alone)")
            remote.append(row)
            remote_only.append(row)
    lists = (local, remote, common, local_only, remote_only)
    return {name: sorted(rows, key=lambda r: r.name) for name, rows in zip(group_names, lists, strict=True)}
