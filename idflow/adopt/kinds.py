"""The kinds import and export know, one entry each: how to list the server's objects of the kind, how to
name one, its normal form (what restore plans with), and its import writer. Event handlers and schedules
(issue 15) add an entry here with a writer module of their own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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


KINDS: dict[str, AdoptKind] = {
    Kind.TASK.value: AdoptKind(
        Kind.TASK.value, "tasks", lambda remote: remote.list_task_defs(), lambda raw: str(raw.get("name")),
        lambda _raw: None, _normalise_task, write_task,
    ),
    Kind.WORKFLOW.value: AdoptKind(
        Kind.WORKFLOW.value, "workflows", _workflows, lambda raw: str(raw.get("name")),
        lambda raw: int(raw.get("version") or 1), _normalise_workflow, write_workflow,
    ),
}  # fmt: skip
