"""``idflow history``: the last applies to this server, from this project's apply record."""

from __future__ import annotations

import json

import click

from idflow.cli.common import echo, format_option
from idflow.cli.context import AppContext, pass_app


@click.command()
@format_option
@pass_app
def history(app: AppContext, fmt: str) -> None:
    """List the last applies of this project to the server (when, who, commit, counts)."""
    from idflow.apply.record import RECORD_WORKFLOW, parse_record, project_key, record_version
    from idflow.reconcile import environment_name

    project = project_key(app.config)
    environment = environment_name(app.config)
    raw = app.remote.get_workflow_def(RECORD_WORKFLOW, record_version(project, environment))
    record, note = parse_record(raw, project, environment)
    entries = list(reversed(record.history)) if record is not None else []
    if fmt == "json":
        click.echo(json.dumps({"project": project, "applies": entries, "note": note or None}, indent=2))
        return
    if fmt == "markdown":
        echo("| when | who | commit | applied | failed | skipped | idflow |\n|---|---|---|---|---|---|---|")
    elif app.config.environment:
        echo(f"Environment: {app.config.environment} ({app.config.server_url})")
    if fmt == "text" and not entries:
        echo(f"No applies recorded ({note}).")
    for entry in entries:
        counts = entry.get("counts") or {}
        commit = str(entry.get("commit") or "-")[:12]
        cells = [str(entry.get("at", "?")), str(entry.get("by", "?")), commit]
        cells += [str(counts.get(k, 0)) for k in ("applied", "failed", "skipped")]
        cells.append(str(entry.get("idflow_version")))
        if fmt == "markdown":
            echo("| " + " | ".join(cells) + " |")
        else:
            echo(f"{cells[0]}  {cells[1]}  commit {cells[2]}  {cells[3]} applied, {cells[4]} failed, "
                 f"{cells[5]} skipped  (idflow {cells[6]})")  # fmt: skip
