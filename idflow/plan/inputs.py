"""Desired state (local files) and actual state (the server), in the normal form plans compare."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from idflow.kinds.key import Kind, ObjectKey
from idflow.kinds.normal import content_hash, normalise_taskdef

if TYPE_CHECKING:
    from idflow.config import Config
    from idflow.errors import Problem, RemoteError
    from idflow.repo.task_files import LocalTask
    from idflow.server.client import Remote

WorkflowKey = tuple[str, int]


@dataclass(frozen=True)
class DesiredObject:
    definition: Mapping[str, Any]
    source: str  # "path:line"
    notes: tuple[str, ...] = ()  # "path:line: ..." of what the file says that the server ignores


@dataclass(frozen=True)
class DesiredState:
    tasks: Mapping[str, DesiredObject]
    workflows: Mapping[WorkflowKey, DesiredObject] = field(default_factory=lambda: MappingProxyType({}))
    manages_workflows: bool = False
    notes: tuple[str, ...] = ()  # about the local files as a whole
    others: Mapping[Kind, Mapping[ObjectKey, DesiredObject]] = field(default_factory=lambda: MappingProxyType({}))
    """Objects of the kinds registered after tasks and workflows (``KindSpec.local`` reads them here)."""


class RemoteObject:
    """One object on the server: its normal form (``definition``) and ``fingerprint``, computed on first
    use from the answer (``raw``). Most objects on a shared server are other owners', which a plan only
    counts and walks for uses (``raw``: ``idflow.kinds.usage`` reads any shape): they are never normalised."""

    __slots__ = ("_definition", "_fingerprint", "_normalise", "raw")

    def __init__(
        self,
        definition: Mapping[str, Any] | None = None,
        fingerprint: str | None = None,
        *,
        raw: Mapping[str, Any] | None = None,
        normalise: Callable[[Any], Any] | None = None,
    ):
        assert definition is not None or (raw is not None and normalise is not None)
        self._definition = definition
        self._fingerprint = fingerprint
        self._normalise = normalise
        self.raw: Mapping[str, Any] = raw if raw is not None else definition  # type: ignore[assignment]

    @property
    def definition(self) -> Mapping[str, Any]:
        if self._definition is None:
            assert self._normalise is not None
            self._definition = self._normalise(self.raw)
        return self._definition

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self.definition, self.raw)
        return self._fingerprint


@dataclass(frozen=True)
class ActualState:
    tasks: Mapping[str, RemoteObject]
    workflows: Mapping[WorkflowKey, RemoteObject]
    records: Mapping[int, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    """idflow's apply records on the server (raw, by version): never part of anyone's desired state."""
    others: Mapping[Kind, Mapping[ObjectKey, RemoteObject]] = field(default_factory=lambda: MappingProxyType({}))
    """Objects of the kinds registered after tasks and workflows (``KindSpec.remote`` reads them here)."""
    unavailable: Mapping[Kind, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Kinds the server has no service for (no scheduler: ``NoScheduler``), with the error; read as none."""
    usage_indexes: dict[Kind, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Who uses each kind's objects here, filled by ``registry.server_usage``: walked once per read (a plan's
    fingerprints, apply's stale check and its usage re-check ask about the same read)."""


def fingerprint(normalised: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    """Content plus the server's change markers: a rewrite of equal content still counts as a change."""
    return content_hash(
        {"content": normalised, "createTime": raw.get("createTime"), "updateTime": raw.get("updateTime")}
    )


def actual_from_server(
    task_defs: list[dict[str, Any]],
    workflow_defs: list[dict[str, Any]],
    others: Mapping[Kind, list[dict[str, Any]]] = MappingProxyType({}),
) -> ActualState:
    """``others``: the raw objects of every further registered kind, by kind."""
    from idflow.kinds.registry import spec
    from idflow.kinds.workflow_normal import normalise_workflowdef

    tasks: dict[str, RemoteObject] = {}
    for raw in task_defs:
        tasks[str(raw.get("name"))] = RemoteObject(raw=raw, normalise=normalise_taskdef)
    from idflow.apply.record import is_record
    from idflow.apply.server_lock import IDFLOW_OWN

    workflows: dict[WorkflowKey, RemoteObject] = {}
    records: dict[int, Mapping[str, Any]] = {}
    for raw in workflow_defs:
        if raw.get("name") in IDFLOW_OWN:
            continue  # idflow's own apply lock and claims, never part of anyone's desired state
        if is_record(raw):
            records[int(raw.get("version") or 1)] = raw
            continue
        key = (str(raw.get("name")), int(raw.get("version") or 1))
        workflows[key] = RemoteObject(raw=raw, normalise=normalise_workflowdef)
    more: dict[Kind, Mapping[ObjectKey, RemoteObject]] = {}
    for kind, raws in others.items():
        kind_spec = spec(kind)
        objects = {}
        for raw in raws:
            objects[kind_spec.key_of(raw)] = RemoteObject(raw=raw, normalise=kind_spec.normalise)
        more[kind] = MappingProxyType(objects)
    return ActualState(
        MappingProxyType(tasks), MappingProxyType(workflows), MappingProxyType(records), MappingProxyType(more)
    )


def read_actual(remote: Remote, wanted: Iterable[Kind] | None = None) -> ActualState:
    """The actual state: one list request per kind; with ``wanted``, task and workflow definitions and only
    those further kinds (the others read as none: a project without handler files asks for no handlers)."""
    from idflow.kinds.registry import kinds, list_objects

    wanted = None if wanted is None else {Kind.TASK, Kind.WORKFLOW, *wanted}
    lists: dict[Kind, list[dict[str, Any]]] = {}
    unavailable: dict[Kind, RemoteError] = {}
    for kind_spec in kinds():
        wants = wanted is None or kind_spec.kind in wanted
        lists[kind_spec.kind] = list_objects(kind_spec, remote, unavailable) if wants else []
    task_defs, workflow_defs = lists.pop(Kind.TASK), lists.pop(Kind.WORKFLOW)
    actual = actual_from_server(task_defs, workflow_defs, lists)
    return replace(actual, unavailable=MappingProxyType(unavailable)) if unavailable else actual


def read_lists(remote: Remote, wanted: set[Any], known: dict[Any, list[dict[str, Any]]] | None = None) -> ActualState:
    """The server's objects of exactly the ``wanted`` kinds (one list request each, sent at once, but for the
    lists ``known`` already); the other kinds read as none, as do kinds the server has no service for."""
    from concurrent.futures import ThreadPoolExecutor

    from idflow.kinds.registry import list_objects, spec

    known = known or {}
    calls = {kind: (lambda k=kind: list_objects(spec(k), remote)) for kind in wanted if kind not in known}
    if len(calls) > 1:
        with ThreadPoolExecutor(len(calls)) as pool:
            futures = {kind: pool.submit(call) for kind, call in calls.items()}
            lists = {kind: future.result() for kind, future in futures.items()}
    else:
        lists = {kind: call() for kind, call in calls.items()}
    lists.update((kind, answer) for kind, answer in known.items() if kind in wanted)
    return actual_from_server(lists.pop(Kind.TASK, []), lists.pop(Kind.WORKFLOW, []), lists)


def settle(config: Config, desired: DesiredState, actual: ActualState) -> DesiredState:
    """The desired state as plans compare it against this server (``KindSpec.prepare`` of each kind
    that has one): raises ``DefinitionError`` for local objects that cannot work here, before any write."""
    from idflow.kinds.registry import kinds

    others = dict(desired.others)
    notes = list(desired.notes)
    for kind_spec in kinds():
        if kind_spec.prepare is not None and kind_spec.kind in others:
            others[kind_spec.kind], more = kind_spec.prepare(config, desired, actual)
            notes.extend(more)
    return replace(desired, others=MappingProxyType(others), notes=tuple(notes))


def load_desired(config: Config) -> DesiredState:
    """Read task files (statically) and workflow files. Raises DefinitionError with every problem of both."""
    from idflow.errors import DefinitionError

    tasks, problems = _read_tasks(config)
    if problems:  # read the workflow files too, so one run reports every local problem
        try:
            _desired(config, tasks)
        except DefinitionError as more:
            raise DefinitionError([*problems, *more.problems], what="definition") from None
        raise DefinitionError(problems, what="task")
    return _desired(config, tasks)


def load_desired_partial(config: Config) -> tuple[DesiredState, list[Problem]]:
    """The valid local tasks, and the problems of the others (for `tasks upload`, which proceeds)."""
    tasks, problems = _read_tasks(config)
    return _desired(config, tasks), problems


def read_cache_dir(config: Config) -> Path:
    """Where what reading each task and workflow file gave is kept between runs (``repo/read_cache.py``)."""
    return config.state_dir / "cache"


def _read_tasks(config: Config) -> tuple[list[LocalTask], list[Problem]]:
    from idflow.repo.task_files import discover_tasks_partial

    return discover_tasks_partial(
        config.require_tasks_dir(),
        owner_email=config.owner_email,
        import_root=config.root,
        cache_dir=read_cache_dir(config),
    )


def _desired(config: Config, tasks: list[LocalTask]) -> DesiredState:
    from idflow.kinds.registry import kinds
    from idflow.repo.workflow_files import read_workflow_tree

    for task in tasks:
        for note in task.notes:  # accepted, but worth knowing (a TaskDef name the SDK overrides)
            from idflow.log import get_logger  # (only then: structlog's import is most of a validate's)

            where = f"{config.relative(Path(note.path))}:{note.line}:{note.col}"
            get_logger("idflow.desired").warning(f"note: {where}: {note.message}", task=task.name)

    tree = read_workflow_tree(
        config.workflows_dir,
        variables=config.vars,
        owner_email=config.owner_email,
        root=config.root,
        cache_dir=read_cache_dir(config),
    )
    others = {s.kind: s.read_local(config, tree) for s in kinds() if s.read_local is not None}
    inside = f"{config.root}{os.sep}"

    def relative(path: Path) -> str:  # config.relative, without a Path per file for those inside the root
        text = str(path)
        return text[len(inside) :] if text.startswith(inside) else config.relative(path)

    return DesiredState(
        tasks=MappingProxyType({t.name: DesiredObject(t.definition, f"{relative(t.path)}:{t.line}") for t in tasks}),
        workflows=MappingProxyType(
            {
                (w.name, w.version): DesiredObject(
                    w.definition,
                    f"{relative(w.path)}:{w.line}",
                    tuple(f"{relative(w.path)}:{n.line}: {n.message}" for n in w.notes),
                )
                for w in tree.workflows
            }
        ),
        manages_workflows=config.workflows_dir.is_dir(),
        others=MappingProxyType({kind: objects for kind, objects in others.items() if objects is not None}),
    )
