"""The canonical form of workflow definitions: what plans compare.

Same idea as ``idflow.kinds.normal`` for task definitions. Both a local file and the server's answer go
through ``normalise_workflowdef``; the result is also fit to send, since every default is explicit.

What conductor-oss 3.32 does with a definition it is given (``PUT /metadata/workflow``, then
``GET /metadata/workflow/{name}?version=N``), found against the real server:

* it adds ``createTime``/``updateTime`` (and may add ``createdBy``, ``updatedBy``, ``ownerApp``):
  dropped here, at the top level and in inline sub-workflows and embedded task definitions;
* every unset field with a default in the model comes back with that value, at any depth
  (all task types get the same set; ``type`` defaults to ``SIMPLE``);
* per-structure extras: a SUB_WORKFLOW with an inline ``workflowDefinition`` gets
  ``subWorkflowParam.name`` and ``.version`` from that definition, whatever was written there
  (itself normalised as a workflow, its version defaulting to 1);
* a null field counts as unset here. Send the normal form, never raw files: it holds no nulls, and
  the server turns an explicit null into ``false`` for ``restartable`` and ``enforceSchema``, into
  version 0 for ``version``, and answers a null task ``type`` with a 500. Values inside user maps
  (``inputParameters``, ``variables``...) are kept exactly, nulls included.

Which fields exist, and their defaults, come from ``idflow.kinds.server_model``. A field the server does
not keep (``callbackFromWorker``, ``taskDefinition.version``, ``retryCount`` at a workflow's top
level) is left out, since the server drops it; ``normalise_workflowdef(d, ignored=[...])`` lists where
each one was, for the file reader to report.
"""

from __future__ import annotations

import copy
from typing import Any

from idflow.kinds.normal import Ignored, normalise_struct
from idflow.kinds.server_model import WORKFLOW_DEF, WORKFLOW_TASK
from idflow.kinds.usage import child_task_lists, nests


def normalise_workflowdef(definition: Any, ignored: list[Ignored] | None = None) -> Any:
    """Return the canonical form of one workflow definition (server JSON shape, camelCase).

    ``ignored`` (when given) gets every field the server would drop, as ``(path, structure)``."""
    if not isinstance(definition, dict):
        return copy.deepcopy(definition)
    result = normalise_struct(WORKFLOW_DEF, definition, ignored=ignored)
    for tasks in _task_lists(result):
        for task in tasks:
            _sub_workflow_names(task)
    return result


def normalise_workflow_task(task: Any) -> Any:
    """Canonical form of one WorkflowTask and everything nested in it (non-dicts are left as they are)."""
    result = normalise_struct(WORKFLOW_TASK, task)
    _sub_workflow_names(result)
    return result


def _sub_workflow_names(task: Any) -> None:
    """A SUB_WORKFLOW with an inline definition gets ``subWorkflowParam.name``/``.version`` from it, at
    any depth, as the server does (it overrides the ones written next to it)."""
    if not isinstance(task, dict) or not nests(task):
        return
    param = task.get("subWorkflowParam")
    if isinstance(param, dict):
        inline = param.get("workflowDefinition")
        if isinstance(inline, dict):
            param["name"] = inline.get("name")  # the server takes both from the inline definition,
            param["version"] = inline.get("version")  # even where the file sets others
            for tasks in _task_lists(inline):
                for child in tasks:
                    _sub_workflow_names(child)
    for _step, tasks in child_task_lists(task):
        for child in tasks:
            _sub_workflow_names(child)


def _task_lists(definition: dict[str, Any]) -> list[list[Any]]:
    tasks = definition.get("tasks")
    return [tasks] if isinstance(tasks, list) else []
