"""``idflow server start|stop|status|logs``: a local conductor-oss for development and tests."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from idflow.cli.context import AppContext, pass_app

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the server keeps its pid file, logs and database (default: <state_dir>/server).",
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
    """Run a local Conductor server (conductor-oss on SQLite, or a PostgreSQL cluster) in the background."""


@server.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=240,
    show_default=True,
    help="Seconds to wait for the server to become healthy.",
)
@click.option(
    "--backend",
    type=click.Choice(["sqlite", "postgres"]),
    default="sqlite",
    show_default=True,
    help="sqlite: one node on a SQLite file. postgres: a PostgreSQL of its own in the data dir "
    "(Debian's `postgresql` package) holding metadata, queues and indexing, shared by every node.",
)
@click.option(
    "--nodes",
    type=click.IntRange(1, 9),
    default=1,
    show_default=True,
    help="Conductor nodes on consecutive ports from --port (more than 1 needs --backend postgres).",
)
@data_dir_option
@pass_app
def start(app: AppContext, port: int, timeout: float, backend: str, nodes: int, data_dir: Path | None) -> None:
    """Fetch the server jar if needed, start it and wait until it is healthy."""
    import time

    from idflow.server import local as local_server

    began = time.monotonic()
    info = local_server.start(
        _data_dir(app, data_dir), port=port, timeout=timeout, progress=_progress, backend=backend, nodes=nodes
    )
    if sys.stderr.isatty():
        click.echo("", err=True)
    ready = f"ready in {time.monotonic() - began:.1f}s"
    if len(info.nodes) == 1:
        click.echo(f"Conductor ({info.backend}) is running at {info.url} (pid {info.pid}, {ready})")
    else:
        click.echo(f"Conductor ({info.backend}, {len(info.nodes)} nodes sharing one database, {ready}):")
        for node in info.nodes:
            click.echo(f"  node {node.number}: {node.url} (pid {node.pid})")
    click.echo(f"Use it with: export CONDUCTOR_SERVER_URL={info.url}")


@server.command()
@data_dir_option
@pass_app
def stop(app: AppContext, data_dir: Path | None) -> None:
    """Stop the server that `idflow server start` started (and nothing else)."""
    from idflow.server import local as local_server

    info = local_server.stop(_data_dir(app, data_dir))
    if info is None:
        click.echo("No server was running.")
    elif len(info.nodes) == 1 and info.backend == "sqlite":
        click.echo(f"Stopped the server on port {info.port} (pid {info.pid}).")
    else:
        ports = ", ".join(str(n.port) for n in info.nodes)
        pids = ", ".join(str(n.pid) for n in info.nodes)
        database = " and its PostgreSQL" if info.backend == "postgres" else ""
        click.echo(f"Stopped the server on port{'s' if len(info.nodes) > 1 else ''} {ports} (pid {pids}){database}.")


@server.command()
@data_dir_option
@pass_app
def status(app: AppContext, data_dir: Path | None) -> None:
    """Say whether the local server runs, and where (every node). Exit 0 when all is healthy, 1 otherwise."""
    from idflow.server import local as local_server

    info, state = local_server.status(_data_dir(app, data_dir))
    if info is None:
        click.echo("stopped")
        click.get_current_context().exit(1)
    if len(info.nodes) == 1 and info.backend == "sqlite":
        messages = {
            "running": f"running at {info.url} (pid {info.pid})",
            "starting": f"starting at {info.url} (pid {info.pid}), not healthy yet",
            "dead": f"not running: pid {info.pid} from {info.data_dir} is gone (see `idflow server logs`)",
        }
        click.echo(messages[state])
    else:
        click.echo(f"{state} ({info.backend}, {len(info.nodes)} node{'s' if len(info.nodes) > 1 else ''})")
        node_messages = {
            "running": "running at {url} (pid {pid})",
            "starting": "starting at {url} (pid {pid}), not healthy yet",
            "dead": "not running: pid {pid} is gone (see `idflow server logs --node {number}`)",
        }
        for node in info.nodes:
            line = node_messages[local_server.node_state(node)].format(url=node.url, pid=node.pid, number=node.number)
            click.echo(f"  node {node.number}: {line}")
        if info.backend == "postgres":
            pg = local_server.postgres_state(info.data_dir)
            where = f"127.0.0.1:{info.postgres_port}" if info.postgres_port else "?"
            click.echo(f"  postgres: {'running on ' + where if pg == 'running' else 'not running'}")
    if state != "running":
        click.get_current_context().exit(1)


@server.command()
@click.option("-n", "--lines", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--node", type=click.IntRange(min=1), default=1, show_default=True, help="Which node's log.")
@data_dir_option
@pass_app
def logs(app: AppContext, lines: int, node: int, data_dir: Path | None) -> None:
    """Print the end of the server's log."""
    from idflow.server import local as local_server

    name = local_server.NodeInfo(node, 0, 0, "").log_name
    click.echo(local_server.tail(_data_dir(app, data_dir) / name, lines))
