"""Terraform-like text: ``+`` create, ``~`` update (one line per field), ``-`` delete, ``!`` blocked."""

from __future__ import annotations

import json
from dataclasses import astuple
from typing import Any

import click

from idflow.plan.model import Plan, Shown
from idflow.render import (
    FORCE_LINE,
    created_overrides,
    environment_line,
    excerpts,
    forced_deletes,
    one_line,
    override_origin,
    plan_view,
    summary_line,
    unmanaged_summary,
    warnings_summary,
)

_COLOURS = {"+": "green", "~": "yellow", "-": "red", "!": "magenta", " ": None}


def value_text(value: Any, limit: int = 120) -> str:
    text = "(absent)" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def change_texts(before: Any, after: Any, limit: int = 120) -> tuple[str, str]:
    """Both sides of a changed field; two long values are cut around where they differ."""
    if before is None or after is None:
        return value_text(before, limit), value_text(after, limit)
    return excerpts(
        json.dumps(before, ensure_ascii=False, sort_keys=True),
        json.dumps(after, ensure_ascii=False, sort_keys=True),
        limit,
    )


def render_text(plan: Plan, *, color: bool = False, show_noop: bool = False, literals: tuple[str, ...] = ()) -> str:
    view = plan_view(plan, literals, noop_bodies=show_noop, changed_bodies=False)
    force = view["options"]["force"]
    lines: list[str] = [one_line(environment_line(view))] if view.get("environment") else []

    def style(text: str, glyph: str) -> str:
        text = one_line(text)
        colour = _COLOURS.get(glyph)
        return click.style(text, fg=colour) if color and colour else text

    if force:
        lines.append(style(FORCE_LINE, "!"))
        for name in forced_deletes(view):
            lines.append(style(f"FORCE: task {name} is used by workflows and will be deleted", "!"))
    for change in view["changes"]:
        action = change["action"]
        if action == "no-op" and not show_noop:
            continue
        glyph, label, blocked = astuple(Shown.of(change, force))
        notes = [change["reason"]]
        if blocked:
            notes.append("FORCED although in use" if force else "blocked: in use, will not be deleted")
        source = f"  {change['source']}" if change["source"] and action != "delete" else ""
        lines.append(
            style(f"  {glyph} {change['kind']} {label}", glyph) + style(f"  ({', '.join(notes)}){source}", " ")
        )
        for diff in change["diff"]:
            old, new = change_texts(diff["before"], diff["after"])
            origin = override_origin(change, diff["path"])
            by = f"  (set by environment {view['environment']}: {origin})" if origin else ""
            lines.append(style(f"      {diff['path']}: {old} -> {new}{by}", " "))
        for path, value, origin in created_overrides(change):
            by = f"  (set by environment {view['environment']}: {origin})"
            lines.append(style(f"      {path} = {value_text(value)}{by}", " "))
        since = change.get("since_last_apply") or {}
        for side, title in (("local", "locally"), ("server", "on the server")):
            if since.get(side):
                lines.append(style(f"      changed {title} since the last apply:", " "))
                for diff in since[side]:
                    was, now = value_text(diff["before"]), value_text(diff["after"])
                    lines.append(style(f"        {diff['path']}: {was} -> {now}", " "))
        for blocker in change["blockers"]:
            lines.append(style(f"      used by {blocker['user']} at {blocker['location']}", " "))
        for warning in change["warnings"]:
            lines.append(style(f"      warning: {warning}", " "))
    if show_noop:
        for key in view["unmanaged"]:
            lines.append(style(f"  ? {key.replace(':', ' ', 1)}  (on the server only, not managed: left alone)", " "))
    elif view["unmanaged"]:
        lines.append(
            f"  ? {unmanaged_summary(view['unmanaged'])} on the server only, not managed here: left alone "
            "(-v lists them)"
        )
    for warning in view["warnings"]:
        lines.append(style(f"Warning: {warning}", "!"))
    others = view.get("unmanaged_warnings") or []
    if show_noop:
        for warning in others:
            lines.append(style(f"Note (not managed here): {warning}", " "))
    elif others:
        lines.append(f"Note: {warnings_summary(others)} about workflows not managed here (-v lists them)")
    for note in view["notes"]:
        lines.append(style(f"Note: {note}", " "))
    if lines:
        lines.append("")
    lines.append(summary_line(view["summary"]))
    return "\n".join(lines) + "\n"
