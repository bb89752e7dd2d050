"""``idflow import`` and ``idflow export``: adopting a server, and backing it up."""

from __future__ import annotations

from pathlib import Path

import click

from idflow.cli.common import echo
from idflow.cli.context import AppContext, pass_app


@click.command("import")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--kind", type=click.Choice(["task", "workflow", "event", "schedule"]), help="Only objects of this kind.")
@click.option("--all", "everything", is_flag=True, help="Every object this project manages (owner_email, ignore).")
@click.option("--force", is_flag=True, help="Replace files that exist (never through a symbolic link).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="Format of workflow, event handler and schedule files.",
)
@pass_app
def import_(app: AppContext, names: tuple[str, ...], kind: str | None, everything: bool, force: bool, fmt: str) -> None:
    """Write project files for definitions on the server (tasks as worker stubs; workflows, event handlers and
    schedules as files).

    \b
    idflow import --all               everything of this project's owner_email (minus ignore)
    idflow import send_email order    those names (of any kind; every version of a workflow)

    Files read back to exactly what the server holds, so the next `idflow plan` shows no change for them.
    """
    from idflow.adopt.importer import import_objects
    from idflow.errors import IdflowError

    if names and everything:
        raise click.UsageError("give NAMEs or --all, not both")
    outcome = import_objects(app.config, app.remote, names, kind=kind, everything=everything, force=force, fmt=fmt)
    for item in outcome.written:
        echo(f"wrote {app.config.relative(item.path)}  ({item.kind} {item.label})")
    for note in outcome.notes:
        echo(f"note: {note}", err=True)
    for why in outcome.skipped:
        echo(f"skipped: {why}", err=True)
    for problem in outcome.readback:
        echo(f"problem: {problem}", err=True)
    echo(f"Imported {len(outcome.written)} object(s), skipped {len(outcome.skipped)}.", err=True)
    if outcome.readback:
        raise IdflowError("some imported files do not read back to what the server holds (above)")
    if outcome.named_skipped:
        raise IdflowError("some of the objects named were not imported (above)")
    if outcome.written:
        echo("Next: idflow plan (it shows no change for what was imported).", err=True)


@click.command("export")
@click.argument("folder", type=click.Path(file_okay=True, path_type=Path))
@pass_app
def export(app: AppContext, folder: Path) -> None:
    """Back up every definition on the server (any owner) into FOLDER: JSON files and a manifest.

    Restore with `idflow plan --from FOLDER`, then `idflow apply`.
    """
    from idflow.adopt.export import export as run

    outcome = run(app.config, app.remote, folder)
    counts = ", ".join(f"{n} {kind}(s)" for kind, n in outcome.counts.items())
    echo(f"Exported {counts} to {folder} (manifest: {folder / 'manifest.json'}).")
