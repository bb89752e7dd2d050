"""The workflow definition kind: ``/api/metadata/workflow``, by name and version, read from the
workflows folder. Its objects use task definitions (and sub-workflows, applied in the same bulk request)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from idflow.kinds.key import Kind, ObjectKey
from idflow.kinds.registry import KindSpec
from idflow.kinds.usage import UsageIndex
from idflow.kinds.workflow_normal import normalise_workflowdef

if TYPE_CHECKING:
    from idflow.server.client import Remote


def _read_back(remote: Remote, key: ObjectKey) -> Any:
    return remote.get_workflow_def(key.name, int(key.version or 1))


def _by_key(objects: Mapping[tuple[str, int], Any]) -> Mapping[ObjectKey, Any]:
    return MappingProxyType({ObjectKey(Kind.WORKFLOW, n, v): o for (n, v), o in objects.items()})


SPEC = KindSpec(
    kind=Kind.WORKFLOW,
    plural="workflows",
    count_noun="workflow version",
    list_groups=("Local Workflows", "Remote Workflows", "Common Workflows", "Local Only", "Remote Only"),
    normalise=normalise_workflowdef,
    list_call="list_workflow_defs",
    upsert_call="put_workflow_defs",
    delete_call="delete_workflow_def",
    requests=MappingProxyType(
        {
            "upsert": "PUT /metadata/workflow (one request, {count} definitions): {names}",
            "delete": "DELETE /metadata/workflow/{{name}}/{{version}}, one each: {names}",
        }
    ),
    local=lambda desired: _by_key(desired.workflows),
    remote=lambda actual: _by_key(actual.workflows),
    declared=lambda desired: desired.manages_workflows,
    read_back=_read_back,
    uses=(Kind.TASK, Kind.WORKFLOW),
    usage=UsageIndex.of,
    prune_option="prune_workflows",
)
