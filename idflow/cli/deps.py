"""``idflow tasks deps``: the requirements.txt of local tasks, checked against this interpreter."""

from __future__ import annotations

import subprocess
import sys

import click

from idflow.cli.context import AppContext, pass_app
from idflow.errors import IdflowError


@click.command("deps")
@click.argument("names", nargs=-1)
@click.option("--install", is_flag=True, help="pip-install what is missing into this interpreter.")
@pass_app
def deps(app: AppContext, names: tuple[str, ...], install: bool) -> None:
    """Show the requirements of local tasks (NAME..., default all) and whether they are installed."""
    from idflow.run.workers import check_requirements, select_tasks, unmet

    tasks = select_tasks(app.config, names, all_tasks=not names, allow_none=True)
    statuses = check_requirements(tasks)
    if not statuses:
        click.echo("No task has requirements.")
        return
    _show(statuses, app)
    missing = unmet(statuses)
    if not missing:
        click.echo("All requirements are installed.")
        return
    if not install:
        click.echo(f"{len(missing)} requirement(s) not met. Install them with: idflow tasks deps --install")
        return
    wanted = list(dict.fromkeys(s.requirement for s in missing))
    command = [sys.executable, "-m", "pip", "install", *wanted]
    click.echo(f"Running: {' '.join(command)}", err=True)
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise IdflowError(f"pip install failed (exit {result.returncode})")
    still = unmet(check_requirements(tasks))
    if still:
        raise IdflowError("still not met after installing: " + ", ".join(f"{s.requirement} ({s.state})" for s in still))
    click.echo(f"Installed {len(wanted)} requirement(s); all requirements are met.")


def _show(statuses: list, app: AppContext) -> None:
    by_task: dict[str, list] = {}
    for status in statuses:
        by_task.setdefault(status.task, []).append(status)
    for task, rows in by_task.items():
        source = rows[0].source
        where = f"  ({app.config.relative(source)})" if source is not None else ""
        click.echo(f"{task}{where}")
        width = max(len(r.requirement) for r in rows)
        for row in rows:
            click.echo(f"  {row.requirement:<{width}}  {row.state}")
