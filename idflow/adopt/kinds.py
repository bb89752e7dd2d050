"""The kinds import and export know, one entry each: how to list the server's objects of the kind, how to
name one, its normal form (what restore plans with), and its import writer. Event handlers and schedules
have an entry each with a writer module of their own; a server without a scheduler has no schedules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from idflow.adopt.event_writer import write_event
from idflow.adopt.schedule_writer import write_schedule
from idflow.adopt.task_writer import write_task
from idflow.adopt.types import Imported, WriteContext
from idflow.adopt.workflow_writer import write_workflow
from idflow.plan.model import Kind, object_key

if TYPE_CHECKING:
    from idflow.server.client import Remote


@dataclass(frozen=True)
class AdoptKind:
    kind: str
    folder: str  # of an export
    fetch: Callable[[Remote], list[dict[str, Any]]]
    name: Callable[[dict[str, Any]], str]
    version: Callable[[dict[str, Any]], int | None]
    normalise: Callable[[dict[str, Any]], dict[str, Any]]
    write: Callable[[dict[str, Any], WriteContext], Imported]

    def key(self, raw: dict[str, Any]) -> str:
        return object_key(self.kind, self.name(raw), self.version(raw))

    def label(self, raw: dict[str, Any]) -> str:
        version = self.version(raw)
        return f"{self.kind} {self.name(raw)}" + ("" if version is None else f" v{version}")


def _workflows(remote: Remote) -> list[dict[str, Any]]:
    """The server's workflow versions, without idflow's own lock and apply records (idflow's state, not
    anyone's definitions: never imported, exported or restored)."""
    from idflow.apply.record import is_record
    from idflow.apply.server_lock import LOCK_WORKFLOW

    return [w for w in remote.list_workflow_defs() if w.get("name") != LOCK_WORKFLOW and not is_record(w)]


def _normalise_task(raw: dict[str, Any]) -> dict[str, Any]:
    from idflow.kinds.normal import normalise_taskdef

    return normalise_taskdef(raw)


def _normalise_workflow(raw: dict[str, Any]) -> dict[str, Any]:
    from idflow.kinds.workflow_normal import normalise_workflowdef

    return normalise_workflowdef(raw)


def _registered(kind: str) -> Callable[[Remote], list[dict[str, Any]]]:
    """The server's objects of a registered kind: none from a server without that API (no scheduler)."""

    def fetch(remote: Remote) -> list[dict[str, Any]]:
        from idflow.kinds.registry import list_objects, spec

        return list_objects(spec(kind), remote)

    return fetch


def _normalise_event(raw: dict[str, Any]) -> dict[str, Any]:
    from idflow.kinds.event_normal import normalise_event_handler

    return normalise_event_handler(raw)


def _normalise_schedule(raw: dict[str, Any]) -> dict[str, Any]:
    from idflow.kinds.schedule_normal import normalise_schedule

    return normalise_schedule(raw)


def starts_only_owners(
    kind: str, definition: dict[str, Any], owners: dict[tuple[str, int], Any], configured: str
) -> bool:
    """Whether a handler or schedule (normalised) is a project's with owner_email ``configured``: they have
    no owner field, so it is when it starts workflows and every one is that owner's (``owners``: the owner
    of each workflow version). On a shared server the other teams' handlers stay theirs."""
    from idflow.kinds.workflow_starts import handler_starts, schedule_starts

    starts = list((handler_starts if kind == "event" else schedule_starts)(definition))

    def owned(name: str, version: int | None) -> bool:
        found = [o for (n, v), o in owners.items() if n == name and version in (None, v)]
        return bool(found) and all(o == configured for o in found)

    return bool(starts) and all(owned(s.name, s.version) for s in starts)


KINDS: dict[str, AdoptKind] = {
    Kind.TASK.value: AdoptKind(
        Kind.TASK.value, "tasks", lambda remote: remote.list_task_defs(), lambda raw: str(raw.get("name")),
        lambda _raw: None, _normalise_task, write_task,
    ),
    Kind.WORKFLOW.value: AdoptKind(
        Kind.WORKFLOW.value, "workflows", _workflows, lambda raw: str(raw.get("name")),
        lambda raw: int(raw.get("version") or 1), _normalise_workflow, write_workflow,
    ),
    "event": AdoptKind(
        "event", "events", _registered("event"), lambda raw: str(raw.get("name")), lambda _raw: None,
        _normalise_event, write_event,
    ),
    "schedule": AdoptKind(
        "schedule", "schedules", _registered("schedule"), lambda raw: str(raw.get("name")), lambda _raw: None,
        _normalise_schedule, write_schedule,
    ),
}  # fmt: skip
