"""The plan: immutable data describing what apply will do, and nothing else.

A ``Change`` says what happens to one object. ``before`` and ``after`` are normalised definitions:

=========  ==========================  ==========================
action     before                      after
=========  ==========================  ==========================
create     None                        the local definition
update     the server's definition     the local definition
delete     the server's definition     None
no-op      the server's definition     the same, from local files
=========  ==========================  ==========================

``reason`` says *why* a change exists; it is for people and renderers, never for decisions during apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from idflow.errors import Problem
from idflow.kinds.key import Kind as Kind
from idflow.kinds.key import ObjectKey
from idflow.plan.frozen import freeze, thaw

# 1.3: usage fingerprints in their own field (1.2 kept them among the objects' as "uses:<task>").
# 1.4: a no-op's body short (before_is_minimal: without the server's defaults), where that round-trips.
FORMAT_VERSION = "1.4"  # and: environment, commit, dirty; overrides; a no-op's body once


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "no-op"


class Reason(StrEnum):
    NEW_LOCALLY = "new-locally"
    CHANGED = "changed-locally"
    ORPHANED = "orphaned"
    FORCED = "forced"
    IN_SYNC = "in-sync"
    PRUNED = "pruned"
    # With an apply record (idflow.apply.record), what the server did since idflow last wrote the object:
    CHANGED_ON_SERVER = "changed-on-server"  # drift: the server no longer holds what idflow wrote
    CONFLICT = "conflict"  # changed locally and on the server
    NEW_ON_SERVER = "new-on-server"  # this project's owner, never applied by idflow
    DELETED_ON_SERVER = "deleted-on-server"  # idflow applied it, someone deleted it

    @property
    def is_drift(self) -> bool:
        """The server moved away from what idflow applied (what a drift check alerts on)."""
        return self in _DRIFT


_DRIFT = frozenset({Reason.CHANGED_ON_SERVER, Reason.CONFLICT, Reason.NEW_ON_SERVER, Reason.DELETED_ON_SERVER})


@dataclass(frozen=True)
class FieldDiff:
    """One changed field: ``path`` like ``inputTemplate.url`` or ``tasks[0].name``."""

    path: str
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class Blocker:
    """An object (``user``: a workflow version using a task, a handler or schedule starting a workflow)
    that uses an object planned for deletion, and where."""

    user: ObjectKey
    location: str
    ref: str = ""

    def __str__(self) -> str:
        return f"used by {self.user.described} at {self.location}"

    @property
    def workflow(self) -> str:
        """The user's name (a workflow's, for a task's blocker)."""
        return self.user.name

    @property
    def version(self) -> int | None:
        return self.user.version

    def to_dict(self) -> dict[str, Any]:
        """``user`` is how renderings name it (``workflow wf v1``, ``schedule nightly``); a workflow user
        also keeps the ``workflow`` key that earlier plan files had."""
        found = {"kind": self.user.kind.value, "name": self.user.name, "version": self.user.version,
                 "user": self.user.described, "location": self.location, "ref": self.ref}  # fmt: skip
        if self.user.kind is Kind.WORKFLOW:
            found["workflow"] = self.user.name
        return found

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Blocker:
        if "kind" in raw:
            user = ObjectKey.of(Kind(raw["kind"]), str(raw["name"]), raw.get("version"))
        else:  # written before blockers named a kind: always a workflow
            user = ObjectKey.of(Kind.WORKFLOW, str(raw["workflow"]), int(raw["version"]))
        return cls(user, str(raw["location"]), str(raw.get("ref") or ""))


@dataclass(frozen=True)
class Change:
    kind: Kind
    name: str
    action: Action
    reason: Reason
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    diff: tuple[FieldDiff, ...] = ()
    blockers: tuple[Blocker, ...] = ()
    warnings: tuple[str, ...] = ()
    version: int | None = None
    source: str | None = None
    # Against the last applied body (apply record): local's changes and the server's, for drift and conflicts.
    local_diff: tuple[FieldDiff, ...] = ()
    server_diff: tuple[FieldDiff, ...] = ()
    # Fields the environment's config set over the file (``after`` holds them): path -> "file:line".
    overrides: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:  # deep-frozen however it was built: nothing can edit a planned body
        object.__setattr__(self, "before", freeze(self.before))
        object.__setattr__(self, "after", freeze(self.after))

    @property
    def object_key(self) -> ObjectKey:
        return ObjectKey(self.kind, self.name, self.version)

    @property
    def key(self) -> str:
        """The plan file's form of ``object_key``: ``task:name``, ``workflow:name:1``."""
        return str(self.object_key)

    @property
    def label(self) -> str:
        return self.object_key.label

    @property
    def blocked(self) -> bool:
        return self.action is Action.DELETE and bool(self.blockers)

    @property
    def glyph(self) -> str:
        """What renderings show: ``+`` create, ``~`` update, ``-`` delete, ``!`` a delete held back (unless
        ``forced``: then it is executed, and shown as the delete it is)."""
        return _glyph(self.action.value, self.blocked)

    def to_dict(self, bodies: bool = True, *, thawed: bool = True) -> dict[str, Any]:
        """JSON-ready; ``bodies=False`` leaves ``before``/``after`` out (None), for views that do not show them;
        ``thawed=False`` keeps the bodies frozen (JSON-ready as they are: the plan file writer's form)."""
        body = thaw if thawed else _same
        return {
            "kind": self.kind.value,
            "name": self.name,
            "version": self.version,
            "action": self.action.value,
            "reason": self.reason.value,
            "source": self.source,
            "before": body(self.before) if bodies else None,
            "after": body(self.after) if bodies else None,
            "diff": [d.to_dict() for d in self.diff],
            "blockers": [b.to_dict() for b in self.blockers],
            "warnings": list(self.warnings),
            "since_last_apply": {
                "local": [d.to_dict() for d in self.local_diff],
                "server": [d.to_dict() for d in self.server_diff],
            },
            "overrides": dict(self.overrides),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Change:
        since = raw.get("since_last_apply") or {}
        return cls(
            kind=Kind(raw["kind"]),
            name=str(raw["name"]),
            version=raw.get("version"),
            action=Action(raw["action"]),
            reason=Reason(raw["reason"]),
            source=raw.get("source"),
            before=(before := freeze(raw.get("before"))),
            after=before if raw.get("after") is raw.get("before") else freeze(raw.get("after")),  # a no-op's one body
            diff=_diffs(raw.get("diff")),
            blockers=tuple(Blocker.from_dict(b) for b in raw.get("blockers") or ()),
            warnings=tuple(raw.get("warnings") or ()),
            local_diff=_diffs(since.get("local")),
            server_diff=_diffs(since.get("server")),
            overrides=MappingProxyType({str(k): str(v) for k, v in (raw.get("overrides") or {}).items()}),
        )


def _same(value: Any) -> Any:
    return value


def _diffs(raw: Any) -> tuple[FieldDiff, ...]:
    return tuple(FieldDiff(d["path"], d.get("before"), d.get("after")) for d in raw or ())


@dataclass(frozen=True)
class PlanOptions:
    targets: tuple[str, ...] = ()
    only: tuple[Action, ...] = ()
    force: bool = False
    overwrite: bool = False
    prune_workflows: bool = False
    kinds: tuple[Kind, ...] = ()  # plan only these kinds (empty: all); the others' objects still count as users

    def to_dict(self) -> dict[str, Any]:
        return {
            "targets": list(self.targets),
            "only": [a.value for a in self.only],
            "force": self.force,
            "overwrite": self.overwrite,
            "prune_workflows": self.prune_workflows,
            "kinds": [k.value for k in self.kinds],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PlanOptions:
        return cls(
            targets=tuple(raw.get("targets") or ()),
            only=tuple(Action(a) for a in raw.get("only") or ()),
            force=bool(raw.get("force")),
            overwrite=bool(raw.get("overwrite")),
            prune_workflows=bool(raw.get("prune_workflows")),
            kinds=tuple(Kind(k) for k in raw.get("kinds") or ()),
        )


@dataclass(frozen=True)
class Plan:
    """What apply will do. ``fingerprints`` maps every remote object the plan depends on to the hash it
    had when planned (None: it did not exist), so apply can refuse a stale plan. ``warnings`` concern
    what this project manages; ``unmanaged_warnings`` the same kind about other owners' workflows."""

    server_url: str
    created_at: str
    idflow_version: str
    options: PlanOptions
    changes: tuple[Change, ...]
    fingerprints: Mapping[str, str | None] = field(default_factory=lambda: MappingProxyType({}))
    usage_fingerprints: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    unmanaged: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    unmanaged_warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # for information, nothing to fix (files of kinds idflow does not manage yet)
    # Local files that cannot work against this server (a workflow using a task def no one defines), with
    # file:line. make_plan raises them unless asked to keep them; apply refuses a plan that has any.
    problems: tuple[Problem, ...] = ()
    format_version: str = FORMAT_VERSION
    three_way: bool = False  # planned with this project's apply record: reasons tell drift from pending
    environment: str | None = None  # the config environment planned for (None: the project has none)
    commit: str | None = None  # the git commit the local files were read at (None: not in a git checkout)
    dirty: bool = False  # the definitions or the config had uncommitted changes when planned

    @property
    def drift(self) -> tuple[Change, ...]:
        """What a drift check reports: with the record, changes the server made; without, every change."""
        changes = [c for c in self.changes if c.action is not Action.NOOP]
        return tuple(c for c in changes if c.reason.is_drift) if self.three_way else tuple(changes)

    @property
    def actionable(self) -> tuple[Change, ...]:
        """Changes apply will execute: everything but no-ops, and blocked deletes unless forced."""
        return tuple(c for c in self.changes if c.action is not Action.NOOP and (self.options.force or not c.blocked))

    @property
    def has_changes(self) -> bool:
        return any(c.action is not Action.NOOP for c in self.changes)

    @property
    def blocked(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.blocked)

    @property
    def conflicts(self) -> tuple[Change, ...]:
        return tuple(c for c in self.actionable if c.reason is Reason.CONFLICT)

    def counts(self) -> dict[str, int]:
        result = {a.value: 0 for a in Action}
        for change in self.changes:
            result[change.action.value] += 1
        result["blocked"] = len(self.blocked)
        return result

    def __post_init__(self) -> None:
        object.__setattr__(self, "fingerprints", MappingProxyType(dict(self.fingerprints)))
        object.__setattr__(self, "usage_fingerprints", MappingProxyType(dict(self.usage_fingerprints)))

    def to_dict(self, noop_bodies: bool = True, *, thawed: bool = True, changed_bodies: bool = True) -> dict[str, Any]:
        """``noop_bodies``/``changed_bodies`` False: no-ops' / updates' and deletes' bodies left out (None), for
        views that show only field diffs (a create's body stays: its overridden fields are shown)."""
        return {
            "format_version": self.format_version,
            "idflow_version": self.idflow_version,
            "created_at": self.created_at,
            "server_url": self.server_url,
            "options": self.options.to_dict(),
            "summary": self.counts(),
            "changes": [
                c.to_dict(bodies=self._bodies(c, noop_bodies, changed_bodies), thawed=thawed) for c in self.changes
            ],
            "fingerprints": dict(sorted(self.fingerprints.items())),
            "usage_fingerprints": dict(sorted(self.usage_fingerprints.items())),
            "unmanaged": list(self.unmanaged),
            "warnings": list(self.warnings),
            "unmanaged_warnings": list(self.unmanaged_warnings),
            "notes": list(self.notes),
            "three_way": self.three_way,
            "environment": self.environment,
            "commit": self.commit,
            "dirty": self.dirty,
            # only when there are any: a plan with problems is refused, and plans without keep their form
            **({"problems": [asdict(p) for p in self.problems]} if self.problems else {}),
        }

    @staticmethod
    def _bodies(change: Change, noop_bodies: bool, changed_bodies: bool) -> bool:
        if change.action is Action.NOOP:
            return noop_bodies
        return changed_bodies or change.action is Action.CREATE

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Plan:
        fingerprints = dict(raw.get("fingerprints") or {})
        usage = dict(raw.get("usage_fingerprints") or {})
        for key in [k for k in fingerprints if k.startswith("uses:")]:  # a 1.2 plan file: same content
            usage[f"{Kind.TASK.value}:{key[len('uses:') :]}"] = fingerprints.pop(key)
        return cls(
            format_version=str(raw["format_version"]),
            idflow_version=str(raw["idflow_version"]),
            created_at=str(raw["created_at"]),
            server_url=str(raw["server_url"]),
            options=PlanOptions.from_dict(raw.get("options") or {}),
            changes=tuple(Change.from_dict(c) for c in raw.get("changes") or ()),
            fingerprints=MappingProxyType(fingerprints),
            usage_fingerprints=MappingProxyType(usage),
            unmanaged=tuple(raw.get("unmanaged") or ()),
            warnings=tuple(raw.get("warnings") or ()),
            unmanaged_warnings=tuple(raw.get("unmanaged_warnings") or ()),
            notes=tuple(raw.get("notes") or ()),
            problems=tuple(
                Problem(str(p["path"]), int(p["line"]), int(p["col"]), str(p["message"]))
                for p in raw.get("problems") or ()
            ),
            three_way=bool(raw.get("three_way")),
            environment=raw.get("environment"),
            commit=raw.get("commit"),
            dirty=bool(raw.get("dirty")),
        )


def object_key(kind: Kind | str, name: str, version: int | None = None) -> str:
    return str(ObjectKey(Kind(kind), name, version))


def _glyph(action: str, blocked: bool) -> str:
    return "!" if blocked else {"create": "+", "update": "~", "delete": "-"}.get(action, " ")


@dataclass(frozen=True)
class Shown:
    """How renderings show a change in its dict form (what renderers read): the same facts as
    ``Change.label``/``blocked``/``glyph``, with the plan's ``--force`` (a forced blocked delete is a delete)."""

    glyph: str
    label: str
    blocked: bool

    @classmethod
    def of(cls, change: Mapping[str, Any], forced: bool) -> Shown:
        blocked = change["action"] == Action.DELETE.value and bool(change.get("blockers"))
        key = ObjectKey(Kind(change["kind"]), str(change["name"]), change.get("version"))
        return cls(_glyph(str(change["action"]), blocked and not forced), key.label, blocked)
