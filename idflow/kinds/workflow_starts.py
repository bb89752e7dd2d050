"""Which workflows an event handler or a schedule starts: the edges for blockers and apply order.

A ``start_workflow`` action and a schedule's ``startWorkflowRequest`` name a workflow, and usually a
version (without one the server starts the latest version at run time). The server takes both literally
(no ``${...}`` is resolved in them), so every start is a static use. A schedule whose request carries an
inline ``workflowDef`` runs that definition and uses no stored workflow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from idflow.kinds.key import Kind, ObjectKey
from idflow.kinds.usage import UsageIndex


@dataclass(frozen=True, order=True)
class WorkflowStart:
    """One use of a workflow: its name, its version (None: the latest when it runs) and where it is
    (``actions[0].start_workflow``, ``startWorkflowRequest``)."""

    name: str
    version: int | None
    location: str


def handler_starts(handler: Mapping[str, Any]) -> Iterator[WorkflowStart]:
    """The workflows a (normalised) event handler's ``start_workflow`` actions start, in order."""
    actions = handler.get("actions")
    if not isinstance(actions, list | tuple):
        return
    for index, action in enumerate(actions):
        if not isinstance(action, Mapping) or action.get("action") != "start_workflow":
            continue
        start = _named(action.get("start_workflow"), f"actions[{index}].start_workflow")
        if start is not None:
            yield start


def schedule_starts(schedule: Mapping[str, Any]) -> Iterator[WorkflowStart]:
    """The workflow a (normalised) schedule starts: none for an inline ``workflowDef``."""
    request = schedule.get("startWorkflowRequest")
    if isinstance(request, Mapping) and not isinstance(request.get("workflowDef"), Mapping):
        start = _named(request, "startWorkflowRequest")
        if start is not None:
            yield start


def _named(params: Any, location: str) -> WorkflowStart | None:
    if not isinstance(params, Mapping):
        return None
    name, version = params.get("name"), params.get("version")
    if not isinstance(name, str) or not name:
        return None
    if not isinstance(version, int) or isinstance(version, bool):
        version = None
    return WorkflowStart(name, version, location)


def start_problem(start: WorkflowStart, known: set[tuple[str, int]]) -> str | None:
    """Why a start cannot run (the workflow, or that version of it, is defined neither locally nor on
    the server: ``known`` holds both), or None."""
    if start.version is None:
        if any(name == start.name for name, _version in known):
            return None
        return f"{start.location} starts workflow {start.name!r}, which is defined neither locally nor on the server"
    if (start.name, start.version) in known:
        return None
    versions = sorted(v for name, v in known if name == start.name)
    there = f" (there are versions {', '.join(map(str, versions))})" if versions else ""
    return (
        f"{start.location} starts workflow {start.name!r} version {start.version}, which is defined neither "
        f"locally nor on the server{there}"
    )


@dataclass(frozen=True)
class StartUse:
    """A handler or schedule (``user``) starting a workflow: a use of that version (of every version when
    it starts the latest, which pruning any one of them may change), for ``UsageIndex``."""

    user: ObjectKey
    used_name: str
    used_version: int | None
    location: str
    ref: str = ""

    @property
    def identity(self) -> tuple[Any, ...]:
        return str(self.user), self.used_name, self.used_version, self.location


def start_usage(
    kind: Kind, starts: Callable[[Mapping[str, Any]], Iterator[WorkflowStart]]
) -> Callable[[Iterable[Any]], UsageIndex]:
    """The ``KindSpec.usage`` of a kind whose objects start workflows (``starts``: their starts)."""

    def index(definitions: Iterable[Any]) -> UsageIndex:
        uses = [
            StartUse(ObjectKey.of(kind, str(d.get("name"))), start.name, start.version, start.location)
            for d in definitions
            if isinstance(d, Mapping)
            for start in starts(d)
        ]
        return UsageIndex.of_uses(uses)

    return index
