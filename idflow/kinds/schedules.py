"""Schedules on the server, as the planner reads them.

A server without a scheduler (conductor-oss started with ``conductor.scheduler.enabled=false``) answers
the list with 404, which the client raises as ``NoScheduler``. Only a project that has schedule files
needs a scheduler: for it that is one clear error before anything is planned; a project without any is
not bothered, and sees no schedules on such a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from idflow.errors import NoScheduler


class _Lists(Protocol):
    def list_schedules(self) -> list[dict[str, Any]]: ...


def remote_schedules(remote: _Lists, schedule_files: Sequence[Path]) -> list[dict[str, Any]]:
    """Every schedule on the server; ``[]`` from a server without a scheduler when the project has no
    ``schedule_files``, else ``NoScheduler`` naming them."""
    try:
        return remote.list_schedules()
    except NoScheduler as exc:
        if not schedule_files:
            return []
        raise needs_scheduler(exc, schedule_files) from None


def needs_scheduler(exc: NoScheduler, schedule_files: Sequence[Path | str]) -> NoScheduler:
    """The one error for a project with ``schedule_files`` on a server without a scheduler."""
    count = len(schedule_files)
    shown = ", ".join(str(p) for p in schedule_files[:3]) + (", ..." if count > 3 else "")
    return NoScheduler(
        f"{exc}; this project has {count} schedule file(s) ({shown}): use a server with a scheduler, "
        "or remove the files",
        exc.status,
    )
