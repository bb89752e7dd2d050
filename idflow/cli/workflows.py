"""``idflow workflows list``: a view over the plan, like the task commands."""

from __future__ import annotations

import json

import click

from idflow.cli.common import echo, list_scope_options
from idflow.cli.context import AppContext, pass_app
from idflow.cli.tasks import list_from_plan
from idflow.plan.model import Kind


@click.group()
def workflows() -> None:
    """List workflow definitions, local and remote."""


@workflows.command("list")
@list_scope_options("Only local workflow files (no server needed).", "Only workflow versions on the server.")
@pass_app
def list_workflows(app: AppContext, scope: str | None, fmt: str) -> None:
    """All workflows (every version), local and remote, with their status."""
    if scope == "local":
        from idflow.repo.workflow_files import load_workflows

        found = load_workflows(
            app.config.workflows_dir,
            variables=app.config.vars,
            owner_email=app.config.owner_email,
            root=app.config.root,
        )
        if fmt == "json":
            echo(
                json.dumps(
                    [
                        {
                            "name": w.name,
                            "version": w.version,
                            "source": f"{w.path}:{w.line}",
                            "definition": w.definition,
                        }
                        for w in found
                    ],
                    indent=2,
                ),
                lines=True,
            )
            return
        for wf in found:
            echo(f"{wf.name} v{wf.version}  {wf.path}  ({len(wf.definition.get('tasks') or [])} top-level tasks)")
        echo(f"{len(found)} local workflow(s).")
    elif scope == "remote":
        from idflow.plan.inputs import read_actual

        actual = read_actual(app.remote, ())
        keys = sorted(actual.workflows)
        if fmt == "json":
            echo(json.dumps([dict(actual.workflows[k].definition) for k in keys], indent=2, default=str), lines=True)
            return
        for name, version in keys:
            echo(f"{name} v{version}")
        echo(f"{len(keys)} workflow version(s) on {app.config.server_url}.")
    else:
        list_from_plan(app, fmt, grouped=scope == "sync", kind=Kind.WORKFLOW)
