"""``idflow server start|stop|status|logs``: a local conductor-oss for development and tests."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from idflow.cli.context import AppContext, pass_app

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the server keeps its pid file, log and SQLite database (default: <state_dir>/server).",
)


def _data_dir(app: AppContext, data_dir: Path | None) -> Path:
    return data_dir if data_dir is not None else app.config.state_dir / "server"


def _progress(message: str) -> None:
    if message == ".":
        if sys.stderr.isatty():
            click.echo(".", nl=False, err=True)
        return
    click.echo(message, err=True)


@click.group()
def server() -> None:
    """Run a local Conductor server (conductor-oss, SQLite) in the background."""


@server.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=240,
    show_default=True,
    help="Seconds to wait for the server to become healthy.",
)
@data_dir_option
@pass_app
def start(app: AppContext, port: int, timeout: float, data_dir: Path | None) -> None:
    """Fetch the server jar if needed, start it and wait until it is healthy."""
    import time

    from idflow import devserver

    began = time.monotonic()
    info = devserver.start(_data_dir(app, data_dir), port=port, timeout=timeout, progress=_progress)
    if sys.stderr.isatty():
        click.echo("", err=True)
    click.echo(f"Conductor is running at {info.url} (pid {info.pid}, ready in {time.monotonic() - began:.1f}s)")
    click.echo(f"Use it with: export CONDUCTOR_SERVER_URL={info.url}")


@server.command()
@data_dir_option
@pass_app
def stop(app: AppContext, data_dir: Path | None) -> None:
    """Stop the server that `idflow server start` started (and nothing else)."""
    from idflow import devserver

    info = devserver.stop(_data_dir(app, data_dir))
    click.echo(
        "No server was running." if info is None else f"Stopped the server on port {info.port} (pid {info.pid})."
    )


@server.command()
@data_dir_option
@pass_app
def status(app: AppContext, data_dir: Path | None) -> None:
    """Say whether the local server runs, and where. Exit 0 when healthy, 1 otherwise."""
    from idflow import devserver

    info, state = devserver.status(_data_dir(app, data_dir))
    if info is None:
        click.echo("stopped")
        click.get_current_context().exit(1)
    messages = {
        "running": f"running at {info.url} (pid {info.pid})",
        "starting": f"starting at {info.url} (pid {info.pid}), not healthy yet",
        "dead": f"not running: pid {info.pid} from {info.data_dir} is gone (see `idflow server logs`)",
    }
    click.echo(messages[state])
    if state != "running":
        click.get_current_context().exit(1)


@server.command()
@click.option("-n", "--lines", type=click.IntRange(min=1), default=50, show_default=True)
@data_dir_option
@pass_app
def logs(app: AppContext, lines: int, data_dir: Path | None) -> None:
    """Print the end of the server's log."""
    from idflow import devserver

    click.echo(devserver.tail(_data_dir(app, data_dir) / devserver.LOG_FILE, lines))
