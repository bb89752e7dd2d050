"""Renderers: pure functions of a plan (no I/O, no prompts, no API calls).

Every renderer works from ``plan_view(plan)``: the plan file's structure with secret-looking values
masked, so what a person reads, what a bot posts and what ``--format json`` prints agree.
"""

from __future__ import annotations

import re
from typing import Any

from idflow.kinds.key import ObjectKey
from idflow.masking import MASK, is_secret_key, mask_secrets, redact_urls
from idflow.plan.model import Plan

FORMATS = ("text", "json", "markdown")


def _path_is_secret(path: str) -> bool:
    return any(is_secret_key(part) for part in re.split(r"[.\[\]]+", path) if part)


def plan_view(
    plan: Plan, literals: tuple[str, ...] = (), noop_bodies: bool = True, changed_bodies: bool = True
) -> dict[str, Any]:
    """The plan as a JSON-ready dict with secret-looking values masked. Renderers that do not show
    unchanged definitions pass ``noop_bodies=False``: no-op changes then carry no before/after; those that
    show only field diffs pass ``changed_bodies=False`` too (updates and deletes carry none either)."""
    view = plan.to_dict(noop_bodies=noop_bodies, changed_bodies=changed_bodies)
    view["server_url"] = redact_urls(view["server_url"])  # an older plan file may hold a password there
    for change in view["changes"]:
        change["before"] = mask_secrets(change["before"], literals)
        change["after"] = mask_secrets(change["after"], literals)
        since = change.get("since_last_apply") or {}
        for diff in [*change["diff"], *since.get("local", ()), *since.get("server", ())]:
            if _path_is_secret(diff["path"]):
                diff["before"] = MASK if diff["before"] is not None else None
                diff["after"] = MASK if diff["after"] is not None else None
            else:
                diff["before"] = mask_secrets(diff["before"], literals)
                diff["after"] = mask_secrets(diff["after"], literals)
    return view


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """Escape control characters (ESC, BEL, C1, ...) so names from a server cannot drive the terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


_LINE_BREAKS = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\x85"}
_BREAK = re.compile("[\n\r\t\u2028\u2029\x85]")


def one_line(text: str) -> str:
    """``terminal_safe``, and line breaks (and tabs) escaped too: for text that must stay one line, so a
    name from a server cannot print a line of its own (a fake "Plan:" summary)."""
    return terminal_safe(_BREAK.sub(lambda m: _LINE_BREAKS[m.group()], text))


FORCE_LINE = (
    "FORCE: this plan was made with --force: tasks are deleted even while workflows use them "
    "(apply re-checks usage and reports each one)"
)


def forced_deletes(view: dict[str, Any]) -> list[str]:
    """Labels of the task deletes a forced plan executes although workflows used them when planned."""
    if not view["options"]["force"]:
        return []
    return [c["name"] for c in view["changes"] if c["action"] == "delete" and c["blockers"]]


def excerpts(before: str, after: str, limit: int) -> tuple[str, str]:
    """Two texts cut to at most about ``limit`` characters each, around where they first differ.

    A long value whose end changed (an inline script) would otherwise be cut to two identical
    beginnings. When both fit, they are returned as they are; otherwise each is the part around the first
    differing character, with "…" where something was left out and the position
    (``…[at 1234] text…``)."""
    if len(before) <= limit and len(after) <= limit:
        return before, after
    same = min(len(before), len(after))
    first = next((i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b), same)
    lead = max(limit // 3, 1)
    start = max(0, first - lead)
    return _excerpt(before, start, limit), _excerpt(after, start, limit)


def _excerpt(text: str, start: int, limit: int) -> str:
    if start == 0 and len(text) <= limit:
        return text
    end = start + limit
    head = f"…[at {start}] " if start else ""
    return head + text[start:end] + ("…" if end < len(text) else "")


def unmanaged_summary(keys: list[str]) -> str:
    """``184 tasks, 1 workflow version`` for the plan's unmanaged keys."""
    from idflow.kinds.registry import kinds

    found = [ObjectKey.parse(k).kind for k in keys]
    counts = [(spec.count_noun, found.count(spec.kind)) for spec in kinds()]
    return ", ".join(f"{n} {noun}{'s' if n != 1 else ''}" for noun, n in counts if n)


def warnings_summary(warnings: list[str]) -> str:
    """``1 warning`` / ``200 warnings``."""
    return f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''}"


def summary_line(counts: dict[str, int]) -> str:
    if not any(counts[a] for a in ("create", "update", "delete")):
        return "No changes. The server matches the local definitions."
    blocked = f" ({counts['blocked']} blocked)" if counts["blocked"] else ""
    return f"Plan: {counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete{blocked}."


def override_origin(change: dict[str, Any], path: str) -> str | None:
    """Where the environment's config set the field at ``path`` of this change (None: the file did)."""
    overrides = change.get("overrides") or {}
    head = re.split(r"[.\[]", path, maxsplit=1)[0]
    return overrides.get(head)


def created_overrides(change: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """For a create: every field the environment's config set, its value (masked) and where it was set."""
    if change["action"] != "create":
        return []
    after = change.get("after") or {}
    return [(path, after.get(path), origin) for path, origin in sorted((change.get("overrides") or {}).items())]


def environment_line(view: dict[str, Any]) -> str:
    """``Environment: prod (http://prod/api)``: the first thing every rendering of an environment's plan says."""
    return f"Environment: {view['environment']} ({view['server_url']})"
