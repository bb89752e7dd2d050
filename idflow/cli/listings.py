"""``idflow events list`` and ``idflow schedules list``: views over the plan, like ``workflows list``; one
command group per further registered kind, built from its ``KindSpec``."""

from __future__ import annotations

import json

import click

from idflow.cli.common import echo, list_scope_options
from idflow.cli.context import AppContext, pass_app
from idflow.cli.tasks import list_from_plan
from idflow.kinds.key import Kind


def kind_group(kind_name: str, command: str, about: str) -> click.Group:
    """``idflow <command> list [--local|--remote|--sync]`` for the kind ``kind_name``."""

    @click.group(command, help=f"List {about}, local and remote.")
    def group() -> None:
        pass

    @group.command("list", help=f"All {about}, local and remote, with their status.")
    @list_scope_options(f"Only local {about} files (no server needed).", f"Only {about} on the server.")
    @pass_app
    def list_kind(app: AppContext, scope: str | None, fmt: str) -> None:
        from idflow.kinds.registry import spec

        kind_spec = spec(kind_name)
        if scope == "local":
            from idflow.repo.workflow_files import read_workflow_tree

            config = app.config
            assert kind_spec.read_local is not None
            tree = read_workflow_tree(config.workflows_dir, variables=config.vars, owner_email=config.owner_email,
                                      root=config.root)  # fmt: skip
            found = kind_spec.read_local(config, tree) or {}
            if fmt == "json":
                rows = [{"name": k.name, "source": o.source, "definition": dict(o.definition)}
                        for k, o in sorted(found.items())]  # fmt: skip
                echo(json.dumps(rows, indent=2, default=str), lines=True)
                return
            for key, local in sorted(found.items()):
                echo(f"{key.name}  {local.source}")
            echo(f"{len(found)} local {kind_spec.plural}.")
        elif scope == "remote":
            from idflow.plan.inputs import read_actual

            actual = read_actual(app.remote)
            objects = kind_spec.remote(actual)
            if fmt == "json":
                echo(json.dumps([dict(objects[k].definition) for k in sorted(objects)], indent=2, default=str),
                     lines=True)  # fmt: skip
                return
            for key in sorted(objects):
                echo(key.name)
            echo(f"{len(objects)} {kind_spec.plural} on {app.config.server_url}.")
        else:
            list_from_plan(app, fmt, grouped=scope == "sync", kind=Kind(kind_name))

    return group


events = kind_group("event", "events", "event handlers")
schedules = kind_group("schedule", "schedules", "schedules")
