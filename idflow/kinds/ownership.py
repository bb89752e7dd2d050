"""Who owns what idflow writes: the one rule that plan, apply, prune and purge follow.

With ``owner_email`` configured, idflow writes exactly that ``ownerEmail`` on every task and workflow
it applies, and manages (updates, deletes as orphaned, prunes) only server objects that carry it. A
file that sets a different ``ownerEmail`` is a problem at its line: applied as written, the object
would belong to another owner and the project could never delete it again. The same address as the
configured one is redundant, and fine.

Without ``owner_email`` a file's own ``ownerEmail`` is written as it is, and a server object is this
project's only when this project's apply record (``idflow.apply.record``) says idflow applied it: an empty
folder pointed at a shared server deletes nothing of another team's, and a project whose objects idflow
created can still prune and purge them. Objects on the server that the record does not name are left
alone (unmanaged); setting ``owner_email`` manages by owner instead.

Event handlers and schedules have no owner field, so for them the apply record is the only proof,
with or without ``owner_email`` (``manages(None, ...)``): idflow deletes a handler or schedule only when
this project's record says idflow applied it here. Another team's, one made by hand, or any when the
record cannot be read, is left alone.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from typing import Any


class ForeignOwner(ValueError):
    """A local definition names an owner other than the configured one."""


def owner_to_write(configured: str | None, written: Any) -> Any:
    """The ``ownerEmail`` idflow writes for a local definition whose file sets ``written`` (None: unset).

    Raises ``ForeignOwner`` (its message is for the user) when the file names another owner."""
    if not configured:
        return written
    if written is None or written == "" or written == configured:
        return configured
    raise ForeignOwner(
        f"ownerEmail {written!r} is not the configured owner_email {configured!r}: idflow writes "
        f"{configured!r} on everything it applies (an object of another owner could not be pruned or "
        "purged by this project); remove the line, or change owner_email"
    )


def manages(configured: str | None, definition: Mapping[str, Any], key: str = "", applied: Container[str] = ()) -> bool:
    """Whether a definition on the server (``key`` like ``task:name``) is this project's to delete or prune.
    ``applied``: the keys of this project's apply record (what idflow applied here)."""
    if configured:
        return definition.get("ownerEmail") == configured
    return bool(key) and key in applied
