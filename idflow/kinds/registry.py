"""The registry of managed kinds: what the generic machinery (planner, stale check, applier, plan file,
renderers, list views) needs to know about each kind, declared once per kind in its own module.

Adding a kind: write ``idflow/kinds/<kind>.py`` with ``Kind.define(...)`` and a ``KindSpec``, and add
it to ``_MODULES`` below. Apply order follows the ``uses`` edges (an object is created after what it
uses, and deleted before it); a kind that others use gets blockers on its deletes and a usage re-check
before each one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from idflow.kinds.key import Kind, ObjectKey
from idflow.kinds.ownership import manages

if TYPE_CHECKING:
    from idflow.config import Config
    from idflow.kinds.usage import UsageIndex
    from idflow.plan.inputs import ActualState, DesiredObject, DesiredState, RemoteObject
    from idflow.repo.workflow_files import WorkflowTree
    from idflow.server.client import Remote

_MODULES = ("idflow.kinds.task", "idflow.kinds.workflow", "idflow.kinds.event", "idflow.kinds.schedule")


@dataclass(frozen=True)
class KindSpec:
    """One managed kind. Remote calls are names of ``Remote`` methods (``idflow.server.client``).

    * ``create_call``: bulk create (a list; with ``bulk_create=False`` one object per request, in
      parallel); ``update_call``: one definition per request, run in parallel;
      ``upsert_call``: bulk create-or-update (a list) for kinds whose server has one; set either the first
      two or the third. Deletes call ``delete_call`` with the key's name (and version), one at a time.
    * ``requests``: per step (create, update, upsert, delete) what the dry run says is sent, with
      ``{count}`` and ``{names}``.
    * ``uses``/``usage``: the kinds this kind's objects use, and the index of those uses over a set of its
      normalised definitions (who uses which object, where).
    * ``prune_option``: orphans on the server are deleted only when this ``PlanOptions`` flag is set.
    * ``read_local``: for kinds beyond tasks and workflows (which ``idflow.plan.inputs`` reads itself, with
      their partial-reading rules): this kind's local objects (``desired.others[kind]``), given the config
      and what the workflows folder holds (which may carry this kind's files), delegating to a reader in
      ``idflow.repo``; None when the project does not manage the kind; it raises ``DefinitionError`` with
      every problem at its file and line.
    * ``prepare``: once both sides are read (before planning, before any write), this kind's local objects
      as the plan should compare them, and notes for the plan; it raises ``DefinitionError`` for local
      objects that cannot work against this server (a schedule of a workflow defined nowhere).
    """

    kind: Kind
    plural: str  # "tasks": step names, messages
    count_noun: str  # "workflow version": summaries count these
    list_groups: tuple[str, ...]  # the five groups of `<kind>s list --sync`
    normalise: Callable[[Any], Any]
    list_call: str
    delete_call: str
    requests: Mapping[str, str]
    local: Callable[[DesiredState], Mapping[ObjectKey, DesiredObject]]
    remote: Callable[[ActualState], Mapping[ObjectKey, RemoteObject]]
    declared: Callable[[DesiredState], bool]  # does this project manage the kind at all (its folder exists)
    read_back: Callable[[Remote, ObjectKey], Any]  # the raw object now (None: absent), after a transient error
    create_call: str | None = None
    update_call: str | None = None
    upsert_call: str | None = None
    uses: tuple[Kind, ...] = ()
    usage: Callable[[Iterable[Any]], UsageIndex] | None = None
    prune_option: str | None = None
    owns: Callable[[str | None, Mapping[str, Any], str, Container[str]], bool] = manages
    read_local: Callable[[Config, WorkflowTree], Mapping[ObjectKey, DesiredObject] | None] | None = None
    prepare: (
        Callable[[Config, DesiredState, ActualState], tuple[Mapping[ObjectKey, DesiredObject], tuple[str, ...]]] | None
    ) = None
    bulk_create: bool = True
    owner_field: bool = True  # objects carry ``ownerEmail`` (else only the apply record proves them ours)
    since_view: Callable[[Any], Any] | None = None
    """What of a body the three-way reasons (drift, conflict, "since the last apply") compare: schedules
    leave out the fields operators own, which ``prepare`` already carried over from the server."""

    def key_of(self, raw: Mapping[str, Any]) -> ObjectKey:
        return ObjectKey.of(self.kind, str(raw.get("name")), raw.get("version"))

    def delete(self, remote: Remote, key: ObjectKey) -> None:
        args = (key.name,) if key.version is None else (key.name, key.version)
        getattr(remote, self.delete_call)(*args)


@cache
def _specs() -> tuple[KindSpec, ...]:
    specs = [importlib.import_module(name).SPEC for name in _MODULES]
    return tuple(_dependency_order(specs))


def _dependency_order(specs: list[KindSpec]) -> list[KindSpec]:
    """Every kind after the kinds it uses (stable: registration order otherwise)."""
    done: list[KindSpec] = []
    by_kind = {s.kind: s for s in specs}

    def visit(spec: KindSpec, path: tuple[Kind, ...]) -> None:
        if spec in done:
            return
        if spec.kind in path:
            raise RuntimeError(f"kinds use each other in a cycle: {' -> '.join((*path, spec.kind))}")
        for used in spec.uses:
            if used != spec.kind and used in by_kind:
                visit(by_kind[used], (*path, spec.kind))
        done.append(spec)

    for spec in specs:
        visit(spec, ())
    return done


def kinds() -> tuple[KindSpec, ...]:
    """Every managed kind, in apply order (a kind after the kinds it uses)."""
    return _specs()


def spec(kind: Kind | str) -> KindSpec:
    specs = _specs()  # first: a kind exists once its module is imported
    kind = Kind(kind)
    return next(s for s in specs if s.kind is kind)


def users_of_kind(kind: Kind) -> tuple[KindSpec, ...]:
    """The kinds whose objects use objects of ``kind`` (itself excluded)."""
    return tuple(s for s in _specs() if kind in s.uses and s.kind is not kind and s.usage is not None)


def usage_index(kind: Kind, definitions: Mapping[Kind, Iterable[Any]]) -> UsageIndex:
    """Who uses objects of ``kind``, among ``definitions`` (normal forms or raw answers, by user kind): the
    one place that answers "which objects use X", for blockers, warnings, fingerprints and apply's re-check."""
    from idflow.kinds.usage import UsageIndex

    # A user kind's ``usage`` indexes its uses of the one other kind it uses (workflows: task definitions).
    indexes = [u.usage(definitions.get(u.kind, ())) for u in users_of_kind(kind) if u.usage is not None]
    return indexes[0] if len(indexes) == 1 else UsageIndex.merged(indexes)


def server_usage(kind: Kind, actual: ActualState) -> UsageIndex:
    """Who uses objects of ``kind`` among the server's objects as they are now (what apply re-reads): walked
    as the server sent them (the walk reads any shape; normalising would not change what it finds); once per
    read (``ActualState.usage_indexes``)."""
    found = actual.usage_indexes.get(kind)
    if found is None:
        raws = {u.kind: [o.raw for o in u.remote(actual).values()] for u in users_of_kind(kind)}
        found = actual.usage_indexes[kind] = usage_index(kind, raws)
    return found


def remote_usage(kind: Kind, remote: Remote) -> UsageIndex:
    """The same, read from the server now: one list request per user kind."""
    return usage_index(kind, {u.kind: list_objects(u, remote) for u in users_of_kind(kind)})


def read_kinds(managed: Iterable[Kind], options: Any) -> set[Kind]:
    """The kinds beyond tasks and workflows a plan needs from the server: those the project manages, and
    every kind using a kind whose objects the plan may delete (a prune option set, or none needed), so that
    blockers see every use."""
    needed = set(managed)
    for kind_spec in _specs():
        if kind_spec.prune_option is None or getattr(options, kind_spec.prune_option, False):
            needed.update(u.kind for u in users_of_kind(kind_spec.kind))
    return needed


def list_objects(
    kind_spec: KindSpec, remote: Remote, unavailable: dict[Kind, Any] | None = None
) -> list[dict[str, Any]]:
    """Every object of the kind on the server; none from a server without that service (a server without
    a scheduler answers 404 for its schedules: ``NoScheduler``; ``KindSpec.prepare`` tells a project that
    needs one), with the error put in ``unavailable``."""
    from idflow.errors import NoScheduler, NotFound

    try:
        return getattr(remote, kind_spec.list_call)()
    except (NoScheduler, NotFound) as exc:  # a server without that API has none of its objects
        if kind_spec.kind.value in ("task", "workflow"):
            raise
        if unavailable is not None:
            unavailable[kind_spec.kind] = exc
        return []
