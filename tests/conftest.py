"""Shared fixtures. The real Conductor server is one per test session.

``IDFLOW_BACKEND`` picks what the session runs against: ``sqlite`` (the default: one node) or
``postgres`` (a cluster of two nodes sharing one PostgreSQL, as production runs; ``scripts/test`` runs the
server tests a second time this way). Tests write through node A (``conductor_url``) and read through
node B (``reader_url``) where that is the interesting case; on SQLite both are the one node.

``CONDUCTOR_SERVER_URL`` set: that server is used (``CONDUCTOR_SERVER_URL_B`` names a second node of the
same cluster). Otherwise ``idflow server start`` starts one on free ports with its data in a temporary
folder, and stops it at the end. Where no server can be had, the integration tests fail when ``CI`` or
``IDFLOW_REQUIRE_SERVER`` is set, and are skipped with a loud reason at the end of the run otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BACKEND = os.environ.get("IDFLOW_BACKEND") or "sqlite"
_server_problem: list[str] = []
started_server: dict[str, Path] = {}


def pytest_configure(config: pytest.Config) -> None:
    if BACKEND not in ("sqlite", "postgres"):
        raise pytest.UsageError(f"IDFLOW_BACKEND must be sqlite or postgres, not {BACKEND!r}")
    config.addinivalue_line("markers", "cluster: needs a cluster of nodes (runs with IDFLOW_BACKEND=postgres)")


def pytest_report_header(config: pytest.Config) -> str:
    return f"idflow real-server backend: {BACKEND}" + (" (2 nodes)" if BACKEND == "postgres" else "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each pass runs only what it can: tests of a cluster (marker ``cluster``) in the postgres pass, tests
    that start and kill a one-node SQLite server of their own (fixture ``own_server``) in the sqlite pass.
    The others are deselected, not skipped, so a skip always means something went wrong."""

    def elsewhere(item: pytest.Item) -> bool:
        if BACKEND == "postgres":
            return "own_server" in getattr(item, "fixturenames", ())
        return item.get_closest_marker("cluster") is not None

    deselected = [item for item in items if elsewhere(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not elsewhere(item)]


def _require_server() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("IDFLOW_REQUIRE_SERVER"))


def _api(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/api") else url + "/api"


@dataclass(frozen=True)
class Cluster:
    """The session's server: its backend and node URLs (``/api``), node A first."""

    backend: str
    urls: tuple[str, ...]
    data_dir: Path | None = None

    @property
    def a(self) -> str:
        return self.urls[0]

    @property
    def b(self) -> str:
        """Node B: another node of the cluster, or node A itself on a one-node server."""
        return self.urls[-1]

    @property
    def clustered(self) -> bool:
        return len(self.urls) > 1


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    explicit = os.environ.get("CONDUCTOR_SERVER_URL")
    if explicit:
        second = os.environ.get("CONDUCTOR_SERVER_URL_B")
        yield Cluster(BACKEND, (_api(explicit), _api(second)) if second else (_api(explicit),))
        return
    if _server_problem:
        _no_server(_server_problem[0])
    from idflow.server.local import free_port, port_in_use

    nodes = 2 if BACKEND == "postgres" else 1
    if BACKEND == "postgres":
        # PostgreSQL runs as the `postgres` user under root, and pytest's temporary folders are private to
        # their owner: the cluster's data lives in a folder of its own that others may traverse (not read).
        data_dir = Path(tempfile.mkdtemp(prefix="idflow-cluster-"))
        data_dir.chmod(0o711)
    else:
        data_dir = tmp_path_factory.mktemp("conductor")
    port = free_port()
    while nodes > 1 and any(port_in_use(p) for p in range(port, port + nodes)):
        port = free_port()
    command = [
        sys.executable,
        "-m",
        "idflow.cli",
        "server",
        "start",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--backend",
        BACKEND,
        "--nodes",
        str(nodes),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=data_dir)
    if result.returncode != 0:
        _server_problem.append(f"`idflow server start --backend {BACKEND}` failed:\n{result.stdout}{result.stderr}")
        _no_server(_server_problem[0])
    started_server["data_dir"] = data_dir
    try:
        yield Cluster(BACKEND, tuple(f"http://127.0.0.1:{p}/api" for p in range(port, port + nodes)), data_dir)
    finally:
        subprocess.run(
            [sys.executable, "-m", "idflow.cli", "server", "stop", "--data-dir", str(data_dir)],
            capture_output=True,
            check=False,
            cwd=data_dir,
        )
        if BACKEND == "postgres":
            shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def second_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Another Conductor, independent of the session's (its own port and data folder; SQLite, one node):
    for tests of two environments at once (dev on the session's server, prod on this one). Started on the
    first test that asks for it, once per session, by the project's own ``idflow server start``.
    ``CONDUCTOR_SERVER_URL_2`` names one to use instead."""
    explicit = os.environ.get("CONDUCTOR_SERVER_URL_2")
    if explicit:
        yield _api(explicit)
        return
    from idflow.server.local import free_port

    data_dir = tmp_path_factory.mktemp("conductor-second")
    port = free_port()
    command = [sys.executable, "-m", "idflow.cli", "server", "start", "--port", str(port), "--data-dir",
               str(data_dir), "--backend", "sqlite", "--nodes", "1"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=data_dir)
    if result.returncode != 0:
        _no_server(f"the second server (`idflow server start --port {port}`) failed:\n{result.stdout}{result.stderr}")
    try:
        yield f"http://127.0.0.1:{port}/api"
    finally:
        subprocess.run(
            [sys.executable, "-m", "idflow.cli", "server", "stop", "--data-dir", str(data_dir)],
            capture_output=True,
            check=False,
            cwd=data_dir,
        )


@pytest.fixture(scope="session")
def conductor_url(cluster: Cluster) -> str:
    """Node A: where tests (and the CLI runs of ``cli_project``) send their writes."""
    return cluster.a


@pytest.fixture(scope="session")
def reader_url(cluster: Cluster) -> str:
    """Node B: where tests read back what was written through node A (node A itself on SQLite)."""
    return cluster.b


def _no_server(reason: str) -> None:
    if _require_server():
        pytest.fail(f"no real Conductor server (required in CI): {reason}", pytrace=False)
    pytest.skip(f"NO REAL CONDUCTOR SERVER: {reason}")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _server_problem:
        terminalreporter.section("REAL-SERVER TESTS DID NOT RUN", sep="!", red=True, bold=True)
        terminalreporter.write_line(_server_problem[0])


@pytest.fixture
def unique() -> str:
    """A short unique prefix for names on the shared server."""
    return "t" + uuid.uuid4().hex[:8]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty idflow project folder with a config file; tests add tasks and settings."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "idflow.yml").write_text("{}\n")
    (tmp_path / "idflow" / "tasks").mkdir(parents=True)
    return tmp_path


class Cli:
    """Runs idflow in-process (click's CliRunner) against a project folder and a server (node A);
    ``on_b(...)`` runs it against node B (the same node on a one-node server)."""

    def __init__(self, root: Path, env: dict[str, str], reader_url: str | None = None):
        self.root = root
        self.env = env
        self.reader_url = reader_url or env.get("CONDUCTOR_SERVER_URL", "")

    def on_b(self, *args: str, input: str | None = None, env: dict[str, str] | None = None):
        return self(*args, input=input, env={"CONDUCTOR_SERVER_URL": self.reader_url, **(env or {})})

    @property
    def config_path(self) -> Path:
        return self.root / "config" / "idflow.yml"

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None):
        from click.testing import CliRunner

        from idflow.cli import cli

        runner = CliRunner()
        return runner.invoke(
            cli,
            ["--config", str(self.config_path), *args],
            input=input,
            env={**self.env, **(env or {})},
            catch_exceptions=False,
        )

    def write_config(self, text: str) -> None:
        self.config_path.write_text(text)

    def write_task(self, name: str, **settings: object) -> Path:
        from tests.factories import write_task_file

        return write_task_file(self.root, name, package=True, **settings)

    def remove_task(self, name: str) -> None:
        import shutil

        shutil.rmtree(self.root / "idflow" / "tasks" / name)


@pytest.fixture
def cli_project(project: Path, conductor_url: str, reader_url: str, unique: str) -> Cli:
    """A project whose config owns only its own tasks on the shared server (owner_email is unique)."""
    (project / "config" / "idflow.yml").write_text(f"owner_email: {unique}@test.idflow\n")
    return Cli(project, {"CONDUCTOR_SERVER_URL": conductor_url, "NO_COLOR": "1"}, reader_url)


def remote_for(url: str, cwd: Path):
    from idflow.config import load_config
    from idflow.server.client import ConductorRemote

    return ConductorRemote(load_config(cwd=cwd, environ={"CONDUCTOR_SERVER_URL": url}))


@pytest.fixture
def remote(conductor_url: str, tmp_path: Path):
    return remote_for(conductor_url, tmp_path)


@pytest.fixture
def remote_b(reader_url: str, tmp_path: Path):
    """A remote straight to node B (node A on a one-node server)."""
    return remote_for(reader_url, tmp_path)


@pytest.fixture
def session_server_dir(conductor_url: str) -> Path | None:
    """The data folder of the server this session started (None when CONDUCTOR_SERVER_URL named one)."""
    return started_server.get("data_dir")
