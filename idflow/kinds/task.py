"""The task definition kind: ``/api/metadata/taskdefs``, read from the tasks folder (ast only)."""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from idflow.kinds.key import Kind, ObjectKey
from idflow.kinds.normal import normalise_taskdef
from idflow.kinds.registry import KindSpec

if TYPE_CHECKING:
    from idflow.server.client import Remote


def _read_back(remote: Remote, key: ObjectKey) -> Any:
    # The list call, not GET /taskdefs/{name}: on PostgreSQL each node answers the single read from a
    # task-def cache refreshed every 60 s, so another node may still show the old definition (or one
    # just deleted); the list reads the database.
    return next((d for d in remote.list_task_defs() if d.get("name") == key.name), None)


SPEC = KindSpec(
    kind=Kind.TASK,
    plural="tasks",
    count_noun="task",
    list_groups=("Local Tasks", "Remote Tasks", "Common Tasks", "Local Only", "Remote Only"),
    normalise=normalise_taskdef,
    list_call="list_task_defs",
    create_call="create_task_defs",
    update_call="update_task_def",
    delete_call="delete_task_def",
    requests=MappingProxyType(
        {
            "create": "POST /metadata/taskdefs (one request, {count} definitions): {names}",
            "update": "PUT /metadata/taskdefs, one request each, in parallel: {names}",
            "delete": "DELETE /metadata/taskdefs/{{name}}, one each{check}: {names}",
        }
    ),
    local=lambda desired: MappingProxyType({ObjectKey(Kind.TASK, n): o for n, o in desired.tasks.items()}),
    remote=lambda actual: MappingProxyType({ObjectKey(Kind.TASK, n): o for n, o in actual.tasks.items()}),
    declared=lambda _desired: True,
    read_back=_read_back,
)
