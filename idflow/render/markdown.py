"""Markdown for pull-request comments, from the jinja2 templates shipped in the package.

GitHub rejects comments over 65,536 characters, so the output is a list of parts, each under
``max_chars``: the summary is always in part 1, the table of changes and then one collapsible block per
change follow in order, and a block too large for any part is cut with a visible note. Nothing is
dropped silently.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jinja2

from idflow.plan.model import Plan, Shown
from idflow.render import (
    FORCE_LINE,
    excerpts,
    forced_deletes,
    one_line,
    plan_view,
    summary_line,
    unmanaged_summary,
    warnings_summary,
)

DEFAULT_MAX_CHARS = 65_000
_PART_HEADER_RESERVE = 80
_CONTINUED_RESERVE = 160  # "### Environment <name> (continued)" at the top of a part


# The characters that let text act on markdown, GitHub's tables or HTML, as numeric entities: text from
# the plan (names, paths, values, warnings) then renders as itself and cannot open a comment (``<!--``),
# a tag, a code span, a link, math or emphasis, end a table cell, or forge the part marker.
_ENTITIES = {c: f"&#{ord(c)};" for c in "&<>`|[]\\$*~"}
_CELL_LIMIT = 300


def _md(text: Any) -> str:
    """Plain text for markdown prose and table cells: escaped, on one line (breaks shown as ``\\n``)."""
    return "".join(_ENTITIES.get(c, c) for c in one_line(str(text)))


def _code(text: Any) -> str:
    """Inline code that stays code whatever it holds (an HTML element: markdown code spans cannot escape)."""
    return f"<code>{_md(text)}</code>"


def _cell(value: Any) -> str:
    if value is None:
        return "_(absent)_"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if len(text) > _CELL_LIMIT:
        text = text[: _CELL_LIMIT - 3] + "..."
    return _code(text)


def _cells(before: Any, after: Any) -> tuple[str, str]:
    """Before and after cells of a changed field; two long values are cut around where they differ."""
    if before is None or after is None:
        return _cell(before), _cell(after)
    old, new = excerpts(
        json.dumps(before, ensure_ascii=False, sort_keys=True),
        json.dumps(after, ensure_ascii=False, sort_keys=True),
        _CELL_LIMIT,
    )
    return _code(old), _code(new)


def _pretty(value: Any) -> str:
    """Indented JSON for a fenced block; ``<``, ``>``, ``&`` as JSON escapes so no value can hold a
    part marker or HTML (every line starts with JSON punctuation, so no value can close the fence)."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("`", "\\u0060")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("idflow", "render/templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["md"] = _md
    env.filters["code"] = _code
    env.filters["cell"] = _cell
    env.filters["pretty"] = _pretty
    env.globals["cells"] = _cells
    return env


def render_markdown(
    plan: Plan, *, max_chars: int = DEFAULT_MAX_CHARS, literals: tuple[str, ...] = (), show_noop: bool = False
) -> list[str]:
    """The plan as one or more markdown parts, each at most ``max_chars`` characters long."""
    if max_chars < 1000:
        raise ValueError("max_chars must be at least 1000")
    heading = "## idflow plan"
    if plan.environment:
        heading += f" · environment {_code(plan.environment)}"
    units = _plan_units(plan, literals, show_noop, heading)
    return _parts(units, max_chars)


def render_markdown_environments(
    plans: list[Plan], *, max_chars: int = DEFAULT_MAX_CHARS, literals: tuple[str, ...] = (), show_noop: bool = False
) -> list[str]:
    """One comment for several environments' plans: a summary of every environment first, then a section
    per environment (its own summary, table and changes) in the order given, split like one plan's; a part
    that starts inside an environment's section says which one it continues."""
    if max_chars < 1000:
        raise ValueError("max_chars must be at least 1000")
    env = _environment()
    rows = [
        {
            "name": p.environment or "(none)",
            "server": plan_view(p, literals, noop_bodies=False)["server_url"],
            "counts": p.counts(),
            "has_changes": p.has_changes,
        }
        for p in plans
    ]
    summary = env.get_template("environments.md.j2").render(
        rows=rows, changed=sum(1 for r in rows if r["has_changes"]), total=len(rows)
    )
    units: list[tuple[str, str, str | None]] = [("summary", summary, None)]
    for plan in plans:
        name = plan.environment or "(none)"
        heading = f"\n### Environment {_code(name)}"  # a blank line after the previous section's last block
        units += [(section, text, name) for section, text, _owner in _plan_units(plan, literals, show_noop, heading)]
    return _parts(units, max_chars)


def _plan_units(
    plan: Plan, literals: tuple[str, ...], show_noop: bool, heading: str
) -> list[tuple[str, str, str | None]]:
    env = _environment()
    view = plan_view(plan, literals, noop_bodies=show_noop, changed_bodies=False)
    forced = view["options"]["force"]
    summary = env.get_template("summary.md.j2").render(
        view=view,
        heading=heading,
        summary_line=summary_line(view["summary"]),
        unmanaged=unmanaged_summary(view["unmanaged"]),
        other_warnings=view.get("unmanaged_warnings") or [],
        other_warnings_summary=warnings_summary(view.get("unmanaged_warnings") or []),
        force_line=FORCE_LINE if forced else "",
        forced_deletes=forced_deletes(view),
    )
    rows: list[str] = []
    blocks: list[str] = []
    for change in view["changes"]:
        if change["action"] == "no-op" and not show_noop:
            continue
        shown = Shown.of(change, forced)
        context = {"change": change, "glyph": shown.glyph, "label": shown.label, "blocked": shown.blocked,
                   "forced": forced, "environment": view.get("environment") or ""}  # fmt: skip
        rows.append(env.get_template("table_row.md.j2").render(**context))
        blocks.append(env.get_template("change.md.j2").render(**context))
    owner = view.get("environment")
    return [("summary", summary, owner)] + [("row", r, owner) for r in rows] + [("details", b, owner) for b in blocks]


def _parts(units: list[tuple[str, str, str | None]], max_chars: int) -> list[str]:
    table_header = _environment().get_template("table_header.md.j2").render()
    budget = max_chars - _PART_HEADER_RESERVE
    fitted = [
        (
            section,
            _fit(text, budget - (len(table_header) if section == "row" else 0) - (_CONTINUED_RESERVE if owner else 0)),
            owner,
        )
        for section, text, owner in units
    ]
    parts = _pack(fitted, budget, table_header)
    total = len(parts)
    # Every part carries the marker, so a bot can find and update its earlier comments.
    return [
        f"<!-- idflow-plan part {i} of {total} -->\n" + (f"**Part {i} of {total}**\n\n" if total > 1 else "") + p
        for i, p in enumerate(parts, 1)
    ]


def _fit(text: str, budget: int) -> str:
    if len(text) <= budget:
        return text
    closing = "</details>\n" if "<details>" in text else ""
    note = "\n\n_(cut here: {} more characters; the whole change is in the plan file)_\n" + closing
    keep = budget - len(note) - 10
    return text[:keep] + note.format(len(text) - keep)


def _pack(units: list[tuple[str, str, str | None]], budget: int, table_header: str) -> list[str]:
    """Units in order into parts under ``budget``. A summary unit opens a section (of one environment when
    it has an owner); a part that starts inside a section of an environment first says which one."""
    parts: list[str] = []
    current = ""
    previous = ""
    for section, text, owner in units:
        needs_header = section == "row" and (previous != "row" or not current)
        piece = (table_header + text) if needs_header else text
        if current and len(current) + len(piece) > budget:
            parts.append(current)
            current = ""
            piece = (table_header + text) if section == "row" else text
            if owner is not None and section != "summary":
                piece = f"### Environment {_code(owner)} (continued)\n" + piece
        if owner is not None and not current:
            piece = piece.lstrip("\n")
        current += piece
        previous = section
    if current:
        parts.append(current)
    return parts
