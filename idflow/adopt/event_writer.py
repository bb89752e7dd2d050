"""An event handler on the server becomes ``<events_dir>/<name>.yaml`` (or ``.json``), which the handler
reader (``idflow.repo.event_files``) reads back to the same normal form. A handler has no owner field: it
becomes this project's when the next apply records it (``idflow.kinds.ownership``)."""

from __future__ import annotations

from typing import Any

from idflow.adopt.onefile import write_one
from idflow.adopt.types import Imported, WriteContext
from idflow.kinds.event_normal import normalise_event_handler
from idflow.kinds.server_model import EVENT_HANDLER


def events_dir(config: Any) -> Any:
    return config.events_dir or config.root / "idflow" / "events"


def write_event(raw: dict[str, Any], ctx: WriteContext) -> Imported:
    return write_one("event", "event handler", EVENT_HANDLER, normalise_event_handler, events_dir(ctx.config),
                     raw, ctx)  # fmt: skip
