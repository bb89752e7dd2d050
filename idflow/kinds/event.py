"""The event handler kind: ``/api/event``, by name, read from the events folder (one handler per file)
and from the original idflow's ``event_handlers.json`` lists in the workflows tree.

A handler's ``start_workflow`` actions use workflow versions (``workflow_starts``): pruning one is blocked,
and a start of a workflow defined nowhere is a problem at its line. Handlers have no owner field: one is
this project's only when its apply record names it (``idflow.kinds.ownership``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from idflow.kinds.event_normal import normalise_event_handler
from idflow.kinds.key import Kind, ObjectKey
from idflow.kinds.ownership import manages
from idflow.kinds.registry import KindSpec
from idflow.kinds.workflow_starts import handler_starts, start_problem, start_usage
from idflow.plan.inputs import DesiredObject

if TYPE_CHECKING:
    from idflow.config import Config
    from idflow.plan.inputs import ActualState, DesiredState
    from idflow.repo.workflow_files import WorkflowTree
    from idflow.server.client import Remote

Kind.EVENT = Kind.define("event")  # type: ignore[attr-defined]


@dataclass(frozen=True)
class StartingObject(DesiredObject):
    """A local object that starts workflows: ``start_lines`` maps each start's location to its file line."""

    start_lines: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


def _read_local(config: Config, tree: WorkflowTree) -> Mapping[ObjectKey, DesiredObject] | None:
    from idflow.repo.event_files import read_event_handlers

    events_dir = config.events_dir or config.root / "idflow" / "events"
    lists = [f.path for f in tree.event_handler_files]
    if not events_dir.is_dir() and not lists:
        return None  # the project does not manage handlers: the server's are not even listed
    handlers = read_event_handlers(
        events_dir, handler_lists=lists, variables=config.vars, workflows_dir=config.workflows_dir, root=config.root
    )
    return MappingProxyType(
        {
            ObjectKey(Kind.EVENT, h.name): StartingObject(
                h.definition,
                f"{config.relative(h.path)}:{h.line}",
                tuple(f"{config.relative(h.path)}:{n.line}: {n.message}" for n in h.notes),
                MappingProxyType(dict(h.start_lines)),
            )
            for h in handlers
        }
    )


def check_starts(kind: Kind, desired: DesiredState, actual: ActualState, starts: Any) -> list[Any]:
    """A problem (at the start's line) for each local object of ``kind`` that starts a workflow version
    defined neither locally nor on the server."""
    from idflow.errors import Problem

    known = set(desired.workflows) | set(actual.workflows)
    problems = []
    for key, local in (desired.others.get(kind) or {}).items():
        for start in starts(local.definition):
            message = start_problem(start, known)
            if message:
                path, _, line = local.source.rpartition(":")
                lines = getattr(local, "start_lines", {})
                at = lines.get(start.location) or int(line or 1)
                problems.append(Problem(path, at, 1, f"{key.described}: {message}"))
    return problems


def _prepare(
    config: Config, desired: DesiredState, actual: ActualState
) -> tuple[Mapping[ObjectKey, Any], tuple[str, ...]]:
    from idflow.errors import DefinitionError

    problems = check_starts(Kind.EVENT, desired, actual, handler_starts)
    if problems:
        raise DefinitionError(problems, what="event handler")
    return desired.others[Kind.EVENT], ()


def _read_back(remote: Remote, key: ObjectKey) -> Any:
    return next((h for h in remote.list_event_handlers() if h.get("name") == key.name), None)


SPEC = KindSpec(
    kind=Kind.EVENT,
    plural="event handlers",
    count_noun="event handler",
    list_groups=("Local Handlers", "Remote Handlers", "Common Handlers", "Local Only", "Remote Only"),
    normalise=normalise_event_handler,
    list_call="list_event_handlers",
    create_call="create_event_handler",
    update_call="update_event_handler",
    delete_call="delete_event_handler",
    requests=MappingProxyType(
        {
            "create": "POST /event, one request each ({count}): {names}",
            "update": "PUT /event, one request each, in parallel: {names}",
            "delete": "DELETE /event/{{name}}, one each: {names}",
        }
    ),
    local=lambda desired: desired.others.get(Kind.EVENT) or MappingProxyType({}),
    remote=lambda actual: actual.others.get(Kind.EVENT) or MappingProxyType({}),
    declared=lambda desired: Kind.EVENT in desired.others,
    read_back=_read_back,
    uses=(Kind.WORKFLOW,),
    usage=start_usage(Kind.EVENT, handler_starts),
    # No owner field: the apply record is the only proof, whether owner_email is set or not.
    owns=lambda _configured, definition, key, applied: manages(None, definition, key, applied),
    read_local=_read_local,
    prepare=_prepare,
    bulk_create=False,
    owner_field=False,
)
