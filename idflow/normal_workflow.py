"""The canonical form of workflow definitions: what plans compare.

Same idea as ``idflow.normal`` for task definitions. Both a local file and the server's answer go
through ``normalise_workflowdef``; the result is also fit to send, since every default is explicit.

What conductor-oss 3.32 does with a definition it is given (``PUT /metadata/workflow``, then
``GET /metadata/workflow/{name}?version=N``), found against the real server:

* it adds ``createTime``/``updateTime`` (and may add ``createdBy``, ``updatedBy``, ``ownerApp``):
  dropped here, at the top level and in inline sub-workflows and embedded task definitions;
* every unset top-level field in ``WORKFLOW_DEFAULTS`` comes back with that value;
* every unset WorkflowTask field in ``TASK_DEFAULTS`` comes back with that value, at any depth
  (all task types get the same set; ``type`` defaults to ``SIMPLE``);
* per-structure extras: a SUB_WORKFLOW with an inline ``workflowDefinition`` gets
  ``subWorkflowParam.name`` and ``.version`` from that definition (itself normalised as a workflow,
  its version defaulting to 1); ``rateLimitConfig`` gets ``policy: QUEUE``; an embedded
  ``taskDefinition`` gets the task definition defaults;
* a null field counts as unset here. Send the normal form, never raw files: it holds no nulls, and
  the server turns an explicit null into ``false`` for ``restartable`` and ``enforceSchema``, into
  version 0 for ``version``, and answers a null task ``type`` with a 500. Values inside user maps
  (``inputParameters``, ``variables``...) are kept exactly, nulls included.

Fields this module does not know are kept (they are the user's content and must be sent), except
when null or an empty map or list, so an empty collection a newer server adds does not show as a
change forever.
"""

from __future__ import annotations

import copy
from typing import Any

from idflow.normal import TASKDEF_DEFAULTS

WORKFLOW_SERVER_OWNED = frozenset({"createTime", "updateTime", "createdBy", "updatedBy", "ownerApp"})

#: What the server writes back for a workflow field that was not set.
WORKFLOW_DEFAULTS: dict[str, Any] = {
    "version": 1,
    "inputParameters": [],
    "outputParameters": {},
    "schemaVersion": 2,
    "restartable": True,
    "workflowStatusListenerEnabled": False,
    "timeoutPolicy": "ALERT_ONLY",
    "timeoutSeconds": 0,
    "variables": {},
    "inputTemplate": {},
    "enforceSchema": True,
    "metadata": {},
    "maskedFields": [],
}
#: Workflow fields that are absent unless set (an empty string counts as unset).
WORKFLOW_OPTIONAL_FIELDS = (
    "description",
    "ownerEmail",
    "failureWorkflow",
    "workflowStatusListenerSink",
    "rateLimitConfig",
    "inputSchema",
    "outputSchema",
)

#: What the server writes back for a WorkflowTask field that was not set, whatever the task type.
TASK_DEFAULTS: dict[str, Any] = {
    "type": "SIMPLE",
    "inputParameters": {},
    "decisionCases": {},
    "defaultCase": [],
    "forkTasks": [],
    "startDelay": 0,
    "joinOn": [],
    "optional": False,
    "defaultExclusiveJoinTask": [],
    "asyncComplete": False,
    "loopOver": [],
    "onStateChange": {},
    "permissive": False,
    "metadata": {},
}
#: Defaults inside nested objects: ``{field: {subfield: default}}``.
RATE_LIMIT_CONFIG_DEFAULTS: dict[str, Any] = {"policy": "QUEUE"}
#: An embedded ``WorkflowTask.taskDefinition`` gets the task def defaults plus these.
EMBEDDED_TASKDEF_DEFAULTS: dict[str, Any] = {
    **TASKDEF_DEFAULTS,
    "runtimeMetadata": [],
    "taskStatusListenerEnabled": True,
}
# Fields holding nested task lists, normalised recursively.
_TASK_LIST_FIELDS = ("defaultCase", "loopOver")
_EMPTY = (None, {}, [])


def normalise_workflowdef(definition: dict[str, Any]) -> dict[str, Any]:
    """Return the canonical form of one workflow definition (server JSON shape, camelCase)."""
    if not isinstance(definition, dict):
        return copy.deepcopy(definition)
    result: dict[str, Any] = {}
    for key, value in definition.items():
        if key in WORKFLOW_SERVER_OWNED or key in WORKFLOW_DEFAULTS or key == "tasks":
            continue
        if key in WORKFLOW_OPTIONAL_FIELDS:
            if value is not None and value != "":
                result[key] = copy.deepcopy(value)
        elif value not in _EMPTY:
            result[key] = copy.deepcopy(value)
    _fill(result, definition, WORKFLOW_DEFAULTS)
    if "tasks" in definition:
        tasks = definition["tasks"]
        result["tasks"] = _tasks(tasks) if isinstance(tasks, list) else copy.deepcopy(tasks)
    if isinstance(result.get("rateLimitConfig"), dict):
        _fill(result["rateLimitConfig"], result["rateLimitConfig"], RATE_LIMIT_CONFIG_DEFAULTS)
    return result


def _fill(result: dict[str, Any], source: dict[str, Any], defaults: dict[str, Any]) -> None:
    for key, default in defaults.items():
        value = source.get(key)
        result[key] = copy.deepcopy(default if value is None else value)


def _tasks(tasks: list[Any]) -> list[Any]:
    return [normalise_workflow_task(t) for t in tasks]


def normalise_workflow_task(task: Any) -> Any:
    """Canonical form of one WorkflowTask and everything nested in it (non-dicts are left as they are)."""
    if not isinstance(task, dict):
        return copy.deepcopy(task)
    result: dict[str, Any] = {}
    for key, value in task.items():
        if key not in TASK_DEFAULTS and value not in _EMPTY:
            result[key] = copy.deepcopy(value)
    _fill(result, task, TASK_DEFAULTS)

    for key in _TASK_LIST_FIELDS:
        if isinstance(result[key], list):
            result[key] = _tasks(result[key])
    if isinstance(result["decisionCases"], dict):
        result["decisionCases"] = {
            case: _tasks(tasks) if isinstance(tasks, list) else tasks
            for case, tasks in result["decisionCases"].items()
        }
    if isinstance(result["forkTasks"], list):
        result["forkTasks"] = [
            _tasks(branch) if isinstance(branch, list) else branch for branch in result["forkTasks"]
        ]

    param = result.get("subWorkflowParam")
    if isinstance(param, dict):
        param = {k: v for k, v in param.items() if v is not None}
        inline = param.get("workflowDefinition")
        if isinstance(inline, dict):
            param["workflowDefinition"] = inline = normalise_workflowdef(inline)
            param.setdefault("name", inline.get("name"))
            param.setdefault("version", inline.get("version"))
        result["subWorkflowParam"] = param
    embedded = result.get("taskDefinition")
    if isinstance(embedded, dict):
        result["taskDefinition"] = _embedded_taskdef(embedded)
    return result


def _embedded_taskdef(definition: dict[str, Any]) -> dict[str, Any]:
    result = {
        key: copy.deepcopy(value)
        for key, value in definition.items()
        if key not in WORKFLOW_SERVER_OWNED and value is not None and value != ""
    }
    _fill(result, definition, EMBEDDED_TASKDEF_DEFAULTS)
    return result
