"""idflow's drop-in ``worker_task``: the SDK's decorator plus the task-definition keywords."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from idflow.normal import TASKDEF_KEYWORDS


def worker_task(task_definition_name: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a worker function.

    Accepts every keyword of ``conductor.client.worker.worker_task.worker_task`` and, in addition, the
    task definition's fields in snake_case (``retry_count``, ``timeout_seconds``, ...). Those build the
    SDK ``TaskDef`` passed as ``task_def=``. The decorated function stays directly callable.
    """
    from conductor.client.http.models.task_def import TaskDef
    from conductor.client.worker.worker_task import worker_task as sdk_worker_task

    definition_fields = {k: kwargs.pop(k) for k in list(kwargs) if k in TASKDEF_KEYWORDS}
    if definition_fields and "task_def" not in kwargs:
        sdk_fields = {k: v for k, v in definition_fields.items() if k in TaskDef.swagger_types}
        kwargs["task_def"] = TaskDef(name=task_definition_name, **sdk_fields)
    return sdk_worker_task(task_definition_name=task_definition_name, **kwargs)
