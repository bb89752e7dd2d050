"""Helpers shared by commands: output of plans, confirmation, option types."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from idflow.cli.context import AppContext
from idflow.errors import ConfirmationRefused, FileWriteError
from idflow.plan.model import Action, Plan

format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="Output format.",
)


def echo(message: str = "", *, lines: bool = False, **kwargs: Any) -> None:
    """click.echo of one line with control characters and line breaks escaped: text that names server
    objects goes through here, and a name holding a newline cannot print a line of its own. ``lines=True``
    keeps the line breaks (JSON documents, whose strings escape their own)."""
    from idflow.render import one_line, terminal_safe

    click.echo(terminal_safe(message) if lines else one_line(message), **kwargs)


def use_color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def interactive() -> bool:
    """Whether a person can answer a prompt. IDFLOW_INTERACTIVE=1 says yes for tests and wrappers."""
    return sys.stdin.isatty() or os.environ.get("IDFLOW_INTERACTIVE") == "1"


def emit_plan(
    app: AppContext,
    plan: Plan,
    fmt: str,
    *,
    max_chars: int = 65_000,
    parts_dir: Path | None = None,
    show_noop: bool = False,
) -> None:
    """Print a plan in the chosen format (markdown parts can also be written to files)."""
    literals = app.config.secrets
    if fmt == "json":
        from idflow.render.json_render import render_json

        click.echo(render_json(plan, literals=literals), nl=False)
    elif fmt == "markdown":
        from idflow.render.markdown import render_markdown

        parts = render_markdown(plan, max_chars=max_chars, literals=literals, show_noop=show_noop)
        if parts_dir is not None:
            _write_parts(parts_dir, parts)
        click.echo("\n".join(parts), nl=False)
    else:
        from idflow.render.text import render_text

        click.echo(
            render_text(plan, color=use_color(), show_noop=show_noop or app.verbose, literals=literals), nl=False
        )


def emit_plans(
    plans: list[Plan],
    fmt: str,
    literals: tuple[str, ...],
    *,
    max_chars: int = 65_000,
    parts_dir: Path | None = None,
    verbose: bool = False,
) -> None:
    """Several environments' plans as one output: markdown one comment (split in parts), JSON one document
    with a plan per environment, text each plan after the other (each names its environment first)."""
    if fmt == "json":
        import json

        from idflow.render.json_render import render_json

        views = [json.loads(render_json(p, literals=literals)) for p in plans]
        document = {"environments": views, "has_changes": any(p.has_changes for p in plans)}
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    elif fmt == "markdown":
        from idflow.render.markdown import render_markdown_environments

        parts = render_markdown_environments(plans, max_chars=max_chars, literals=literals, show_noop=verbose)
        if parts_dir is not None:
            _write_parts(parts_dir, parts)
        click.echo("\n".join(parts), nl=False)
    else:
        from idflow.render.text import render_text

        click.echo(
            "\n".join(render_text(p, color=use_color(), show_noop=verbose, literals=literals) for p in plans), nl=False
        )


def _write_parts(parts_dir: Path, parts: list[str]) -> None:
    target = parts_dir
    try:
        parts_dir.mkdir(parents=True, exist_ok=True)
        for old in parts_dir.glob("plan-part-*.md"):
            target = old
            old.unlink()
        for number, part in enumerate(parts, 1):
            target = parts_dir / f"plan-part-{number}.md"
            target.write_text(part, encoding="utf-8")
    except OSError as exc:
        raise FileWriteError(f"{target}: cannot write the file: {exc.strerror or exc}") from None


def confirm_plan(
    plan: Plan,
    auto_approve: bool,
    question: str = "Apply these changes?",
    used_now: dict[str, list[str]] | None = None,
    allow_conflicts: bool = False,
) -> None:
    """Ask before writing; deletes are named in the question, and a forced plan says so, naming each
    task it deletes that workflows use now (``used_now``). Refuses without a person to ask.

    A conflict (changed locally and on the server since the last apply) overwrites someone's hand edit:
    it needs its own yes, and ``-y`` alone does not give it (``--allow-conflicts`` does), so an automatic
    apply on merge stops instead of silently undoing a fix made on the server."""
    conflicts = [f"{c.kind.value} {c.label}" for c in plan.conflicts]
    if conflicts and not allow_conflicts:
        named = ", ".join(conflicts)
        if auto_approve or not interactive():
            raise ConfirmationRefused(
                f"the plan overwrites {len(conflicts)} conflict(s), changed both locally and on the server since "
                f"the last apply: {named}; nothing was changed. Confirm at a terminal, or pass --allow-conflicts"
            )
        click.echo(f"CONFLICT: {named} changed both locally and on the server since the last apply.", err=True)
        if not click.confirm("Overwrite the server's changes with the local definitions?", default=False, err=True):
            raise ConfirmationRefused("nothing was changed (conflicts not confirmed)")
    if auto_approve:
        return
    from idflow.render import one_line

    deletes = [c.label for c in plan.actionable if c.action is Action.DELETE]
    if not interactive():
        raise ConfirmationRefused("refusing to write without confirmation: no terminal to ask; pass -y")
    if plan.options.force:
        click.echo("FORCE: this plan was made with --force: tasks are deleted even while workflows use them", err=True)
        for name, users in sorted((used_now or {}).items()):
            click.echo(one_line(f"FORCE: task {name} is used NOW by {', '.join(users)} and will be deleted"), err=True)
    if deletes:
        click.echo(one_line(f"This will DELETE {len(deletes)} definition(s): {', '.join(deletes)}"), err=True)
    if not click.confirm(question, default=False, err=True):
        raise ConfirmationRefused("nothing was changed (not confirmed)")


def plan_path_option(default_help: str = "state/plan.json") -> click.Option:
    return click.option(
        "-o",
        "--out",
        "out",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"Where to write the plan file (default: {default_help}).",
    )


def list_scope_options(local_help: str, remote_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--local / --remote / --sync (into ``scope``) and --format text|json, shared by the list views."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(
            (
                click.option("--local", "scope", flag_value="local", help=local_help),
                click.option("--remote", "scope", flag_value="remote", help=remote_help),
                click.option("--sync", "scope", flag_value="sync", help="Synchronisation status in five groups."),
                click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True),
            )
        ):
            func = option(func)
        return func

    return decorate
