"""``idflow validate``: every check of the local files that needs no server (for pre-commit and CI)."""

from __future__ import annotations

from pathlib import Path

import click

from idflow.cli.context import AppContext, pass_app
from idflow.errors import IdflowError


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "github"]),
    default="text",
    show_default=True,
    help="github: problems also as GitHub Actions annotations (::error file=...,line=...).",
)
@pass_app
def validate(app: AppContext, fmt: str) -> None:
    """Check config, task, workflow and stage files without asking the server (exit 1 on any problem).

    The checks are plan's own, minus those that need the server: whether a workflow's task definitions
    and sub-workflows exist is left to `idflow plan`.
    """
    from idflow.repo.validate import validate_local

    base = Path.cwd()
    try:
        config = app.config
        base = config.root
        checked = validate_local(config)
    except IdflowError as exc:
        if fmt == "github":
            from idflow.cli.annotate import echo_error_annotations

            echo_error_annotations(exc, base)
        raise
    where = config.relative(config.source) if config.source else "no config file"
    click.echo(f"OK: {checked.summary()} ({where})")
