"""idflow's drop-in ``worker_task``: the SDK's decorator plus the task-definition keywords.

conductor-python's own ``worker_task`` rejects ``retry_count=`` and the other definition fields with a
TypeError; this one accepts them, builds the SDK ``TaskDef`` from them and hands it on as ``task_def=``.
The SDK is imported when a decorator runs, never when idflow is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from idflow.kinds.normal import TASKDEF_KEYWORDS

# Keywords of conductor-python 2.0's ``worker_task`` besides the name. They do not change the definition.
SDK_WORKER_KEYWORDS = (
    "poll_interval_millis",
    "domain",
    "worker_id",
    "thread_count",
    "register_task_def",
    "poll_timeout",
    "lease_extend_enabled",
    "task_def",
    "overwrite_task_def",
    "strict_schema",
    "register_schema",
)
# The legacy ``WorkerTask`` spelling of the poll interval, accepted and translated.
LEGACY_POLL_KEYWORDS = ("poll_interval", "poll_interval_seconds")
RUNTIME_KEYWORDS = frozenset((*SDK_WORKER_KEYWORDS, *LEGACY_POLL_KEYWORDS))

# Keywords of conductor-python 2.0's ``TaskDef(...)``. Fields idflow knows but this TaskDef does not
# (max_retry_delay_seconds, backoff_jitter_ms) can only be given to idflow's decorator.
SDK_TASKDEF_KEYWORDS = frozenset({
    "owner_app", "create_time", "update_time", "created_by", "updated_by", "name", "description",
    "retry_count", "timeout_seconds", "input_keys", "output_keys", "timeout_policy", "retry_logic",
    "retry_delay_seconds", "response_timeout_seconds", "concurrent_exec_limit", "input_template",
    "rate_limit_per_frequency", "rate_limit_frequency_in_seconds", "isolation_group_id",
    "execution_name_space", "owner_email", "poll_timeout_seconds", "backoff_scale_factor", "input_schema",
    "output_schema", "enforce_schema", "base_type", "total_timeout_seconds", "runtime_metadata",
})  # fmt: skip


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def worker_task(task_definition_name: str, **kwargs: Any) -> Decorator:
    """Decorate a worker function.

    Accepts every keyword of ``conductor.client.worker.worker_task.worker_task`` (and the legacy
    ``poll_interval`` / ``poll_interval_seconds``) and, in addition, the task definition's fields in
    snake_case (``retry_count``, ``timeout_seconds``, ...). Those build the SDK ``TaskDef`` passed as
    ``task_def=``; fields that SDK's TaskDef lacks are left out of it (idflow registers definitions
    itself, from the source). The decorated function stays directly callable.
    """
    unknown = sorted(k for k in kwargs if k not in RUNTIME_KEYWORDS and k not in TASKDEF_KEYWORDS)
    if unknown:
        raise TypeError(f"worker_task() got an unexpected keyword argument {unknown[0]!r}")
    definition_fields = {k: kwargs.pop(k) for k in list(kwargs) if k in TASKDEF_KEYWORDS}
    if definition_fields and kwargs.get("task_def") is not None:
        raise TypeError(
            "worker_task(): give the task definition either as task_def=TaskDef(...) or as keywords "
            f"({', '.join(sorted(definition_fields))}), not both"
        )
    poll_interval = kwargs.pop("poll_interval", None)
    poll_interval_seconds = kwargs.pop("poll_interval_seconds", None)
    if poll_interval_seconds or poll_interval is not None:
        if "poll_interval_millis" in kwargs:
            raise TypeError("worker_task(): give one of poll_interval_millis, poll_interval, poll_interval_seconds")
        if poll_interval_seconds:
            kwargs["poll_interval_millis"] = int(1000 * poll_interval_seconds)
        else:
            kwargs["poll_interval_millis"] = poll_interval

    from conductor.client.http.models.task_def import TaskDef
    from conductor.client.worker.worker_task import worker_task as sdk_worker_task

    if definition_fields:
        sdk_fields = {k: v for k, v in definition_fields.items() if k in TaskDef.swagger_types and v is not None}
        kwargs["task_def"] = TaskDef(name=task_definition_name, **sdk_fields)
    return sdk_worker_task(task_definition_name=task_definition_name, **kwargs)
