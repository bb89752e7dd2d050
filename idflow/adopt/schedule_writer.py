"""A workflow schedule on the server becomes ``<schedules_dir>/<name>.yaml`` (or ``.json``), without the
fields the server sets itself (``createTime``, ``updatedBy``, ``nextRunTime``...), which the schedule reader
(``idflow.repo.schedule_files``) reads back to the same normal form. Its ``paused`` is written as the
server holds it. Like a handler, it becomes this project's when the next apply records it."""

from __future__ import annotations

from typing import Any

from idflow.adopt.onefile import write_one
from idflow.adopt.types import Imported, WriteContext
from idflow.kinds.schedule_normal import normalise_schedule
from idflow.kinds.server_model import WORKFLOW_SCHEDULE


def schedules_dir(config: Any) -> Any:
    return config.schedules_dir or config.root / "idflow" / "schedules"


def write_schedule(raw: dict[str, Any], ctx: WriteContext) -> Imported:
    return write_one("schedule", "schedule", WORKFLOW_SCHEDULE, normalise_schedule, schedules_dir(ctx.config),
                     raw, ctx)  # fmt: skip
