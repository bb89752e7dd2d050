"""``idflow worker start``: run the workers of local tasks against the configured server."""

from __future__ import annotations

import click

from idflow.cli.context import AppContext, pass_app


@click.group()
def worker() -> None:
    """Run the workers of local tasks."""


@worker.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_tasks", is_flag=True, help="Every local task.")
@click.option("--threads", is_flag=True, help="Run each worker in a thread of this process, not a process of its own.")
@pass_app
def start(app: AppContext, names: tuple[str, ...], all_tasks: bool, threads: bool) -> None:
    """Poll for and run the tasks NAME... (or --all) until Ctrl-C or SIGTERM.

    Refuses to start when a task's requirements.txt is not met (see `idflow tasks deps`).
    """
    if bool(names) == all_tasks:
        raise click.UsageError("name the tasks whose workers to start, or pass --all (not both)")
    from idflow.run.workers import run_workers

    root = click.get_current_context().find_root().params
    run_workers(
        app.config,
        names,
        all_tasks=all_tasks,
        threads=threads,
        log_format=root.get("log_format") or "text",
        log_level="debug" if app.verbose else "info",
        debug=app.debug,
    )
