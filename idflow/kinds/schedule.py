"""The schedule kind: ``/api/scheduler/schedules``, by name, read from the schedules folder.

A schedule's ``startWorkflowRequest`` uses a workflow version (pruning it is blocked; a start of a workflow
defined nowhere is a problem at its line). ``paused`` follows the rule in ``schedule_normal``: once a schedule
exists, the server's ``paused``/``pausedReason`` are kept (compared equal, sent back on an update) unless
``schedules.manage_paused`` is set. No owner field: the apply record is the only proof of ownership.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from idflow.kinds.event import StartingObject, check_starts
from idflow.kinds.key import Kind, ObjectKey
from idflow.kinds.ownership import manages
from idflow.kinds.registry import KindSpec
from idflow.kinds.schedule_normal import comparable_schedule, normalise_schedule, paused_note, schedule_to_send
from idflow.kinds.workflow_starts import schedule_starts, start_usage

if TYPE_CHECKING:
    from idflow.config import Config
    from idflow.plan.inputs import ActualState, DesiredObject, DesiredState
    from idflow.repo.workflow_files import WorkflowTree
    from idflow.server.client import Remote

Kind.SCHEDULE = Kind.define("schedule")  # type: ignore[attr-defined]


def _read_local(config: Config, _tree: WorkflowTree) -> Mapping[ObjectKey, DesiredObject] | None:
    from idflow.repo.schedule_files import read_schedules

    schedules_dir = config.schedules_dir or config.root / "idflow" / "schedules"
    if not schedules_dir.is_dir():
        return None
    return MappingProxyType(
        {
            ObjectKey(Kind.SCHEDULE, s.name): StartingObject(
                s.definition,
                f"{config.relative(s.path)}:{s.line}",
                tuple(f"{config.relative(s.path)}:{n.line}: {n.message}" for n in s.notes),
                MappingProxyType({"startWorkflowRequest": s.start_line} if s.start_line else {}),
            )
            for s in read_schedules(schedules_dir, variables=config.vars, root=config.root)
        }
    )


def _prepare(
    config: Config, desired: DesiredState, actual: ActualState
) -> tuple[Mapping[ObjectKey, Any], tuple[str, ...]]:
    from idflow.errors import DefinitionError
    from idflow.kinds.schedules import needs_scheduler

    locals_ = desired.others[Kind.SCHEDULE]
    missing = actual.unavailable.get(Kind.SCHEDULE)
    if missing is not None and locals_:
        raise needs_scheduler(missing, sorted({o.source.rpartition(":")[0] for o in locals_.values()}))
    problems = check_starts(Kind.SCHEDULE, desired, actual, schedule_starts)
    if problems:
        raise DefinitionError(problems, what="schedule")
    remotes = actual.others.get(Kind.SCHEDULE) or {}
    settled: dict[ObjectKey, Any] = {}
    notes = []
    for key, local in locals_.items():
        remote = remotes.get(key)
        if remote is not None:
            current = dict(remote.definition)
            note = paused_note(key.name, local.definition, current, config.manage_paused)
            if note:
                notes.append(note)
            local = replace(local, definition=schedule_to_send(local.definition, current, config.manage_paused))
        settled[key] = local
    return MappingProxyType(settled), tuple(notes)


def _read_back(remote: Remote, key: ObjectKey) -> Any:
    return next((s for s in remote.list_schedules() if s.get("name") == key.name), None)


SPEC = KindSpec(
    kind=Kind.SCHEDULE,
    plural="schedules",
    count_noun="schedule",
    list_groups=("Local Schedules", "Remote Schedules", "Common Schedules", "Local Only", "Remote Only"),
    normalise=normalise_schedule,
    list_call="list_schedules",
    create_call="create_schedule",
    update_call="update_schedule",
    delete_call="delete_schedule",
    requests=MappingProxyType(
        {
            "create": "POST /scheduler/schedules, one request each ({count}): {names}",
            "update": "POST /scheduler/schedules, one request each, in parallel: {names}",
            "delete": "DELETE /scheduler/schedules/{{name}}, one each: {names}",
        }
    ),
    local=lambda desired: desired.others.get(Kind.SCHEDULE) or MappingProxyType({}),
    remote=lambda actual: actual.others.get(Kind.SCHEDULE) or MappingProxyType({}),
    declared=lambda desired: Kind.SCHEDULE in desired.others,
    read_back=_read_back,
    uses=(Kind.WORKFLOW,),
    usage=start_usage(Kind.SCHEDULE, schedule_starts),
    owns=lambda _configured, definition, key, applied: manages(None, definition, key, applied),
    read_local=_read_local,
    prepare=_prepare,
    bulk_create=False,
    owner_field=False,
    since_view=comparable_schedule,
)
