"""``idflow schema``: the JSON Schemas of the files idflow reads, for editors (see README "Editors")."""

from __future__ import annotations

from pathlib import Path

import click

from idflow.errors import IdflowError
from idflow.repo.schema import KINDS  # light: the server model only


@click.command()
@click.option("--kind", type=click.Choice(list(KINDS)), help="Print (or write) the schema of this kind of file only.")
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the schemas into this folder (created if missing) instead of printing.",
)
def schema(kind: str | None, output: Path | None) -> None:
    """JSON Schemas (draft 2020-12) of workflow, stage and config files, for editors.

    \b
    idflow schema --kind workflow       print one schema
    idflow schema -o schemas            write all into schemas/
    idflow schema                       list the kinds and their file names

    Generated from the checks `idflow validate` makes, so an editor flags nothing validate accepts.
    Event handlers and schedules have none: idflow does not manage them yet.
    """
    from idflow.repo.schema import dumps
    from idflow.repo.schema import schema as build

    if output is None and kind is not None:
        click.echo(dumps(build(kind)), nl=False)
        return
    if output is None:
        for name, (what, filename) in KINDS.items():
            click.echo(f"{name:<9} {filename:<28} {what}")
        click.echo("Print one with --kind KIND, or write them all with -o DIR.")
        return
    try:
        output.mkdir(parents=True, exist_ok=True)
        for name in (kind,) if kind else KINDS:
            path = output / KINDS[name][1]
            path.write_text(dumps(build(name)), encoding="utf-8")
            click.echo(f"wrote {path}")
    except OSError as exc:
        raise IdflowError(f"{output}: cannot write the schemas: {exc.strerror or exc}") from None
