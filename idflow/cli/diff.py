"""``idflow diff --env A --env B``: the managed objects of two environments' servers, side by side."""

from __future__ import annotations

import click

from idflow.cli.context import AppContext, env_option, pass_app

EXIT_DIFFERENCES = 2


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when the servers agree, 2 when they differ.")
@pass_app
def diff(app: AppContext, fmt: str, detailed_exitcode: bool) -> None:
    """Compare two environments' servers (what promotion would change, what was edited by hand): objects
    either manages that the other lacks or holds differently, field by field. Reads no local files."""
    from idflow.plan.compare import Environment, compare
    from idflow.plan.inputs import read_actual
    from idflow.reconcile import read_record
    from idflow.render.compare import render_comparison_json, render_comparison_text
    from idflow.server.client import ConductorRemote

    names = tuple(dict.fromkeys(app.envs))
    if len(names) != 2:
        raise click.UsageError("name two environments: idflow diff --env A --env B")
    sides = []
    literals: list[str] = []
    for name in names:
        config = app.config_for(name)
        literals += config.secrets
        actual = read_actual(ConductorRemote(config))
        record, _note = read_record(config, actual)
        applied = frozenset(record.objects) if record is not None else frozenset()
        sides.append((Environment(name, config.server_url, config.owner_email, config.overrides, applied), actual))
    comparison = compare(sides[0][0], sides[0][1], sides[1][0], sides[1][1])
    render = render_comparison_json if fmt == "json" else render_comparison_text
    click.echo(render(comparison, literals=tuple(literals)), nl=False)
    if detailed_exitcode and comparison.has_differences:
        click.get_current_context().exit(EXIT_DIFFERENCES)


diff.params.append(env_option(multiple=True))
