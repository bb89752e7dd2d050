"""Shared fixtures. The real Conductor server is one per test session.

``CONDUCTOR_SERVER_URL`` set: that server is used. Otherwise ``idflow server start`` starts one on a free
port with its data in a temporary folder, and stops it at the end. Where no server can be had, the
integration tests fail when ``CI`` or ``IDFLOW_REQUIRE_SERVER`` is set, and are skipped with a loud
reason at the end of the run otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_server_problem: list[str] = []
started_server: dict[str, Path] = {}


def _require_server() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("IDFLOW_REQUIRE_SERVER"))


@pytest.fixture(scope="session")
def conductor_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    explicit = os.environ.get("CONDUCTOR_SERVER_URL")
    if explicit:
        yield explicit.rstrip("/") if explicit.rstrip("/").endswith("/api") else explicit.rstrip("/") + "/api"
        return
    if _server_problem:
        _no_server(_server_problem[0])
    from idflow.devserver import free_port

    data_dir = tmp_path_factory.mktemp("conductor")
    port = free_port()
    command = [sys.executable, "-m", "idflow.cli", "server", "start", "--port", str(port), "--data-dir", str(data_dir)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=data_dir)
    if result.returncode != 0:
        _server_problem.append(f"`idflow server start` failed:\n{result.stdout}{result.stderr}")
        _no_server(_server_problem[0])
    started_server["data_dir"] = data_dir
    try:
        yield f"http://127.0.0.1:{port}/api"
    finally:
        subprocess.run(
            [sys.executable, "-m", "idflow.cli", "server", "stop", "--data-dir", str(data_dir)],
            capture_output=True,
            check=False,
            cwd=data_dir,
        )


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
    """Runs idflow in-process (click's CliRunner) against a project folder and a server."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root = root
        self.env = env

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
def cli_project(project: Path, conductor_url: str, unique: str) -> Cli:
    """A project whose config owns only its own tasks on the shared server (owner_email is unique)."""
    (project / "config" / "idflow.yml").write_text(f"owner_email: {unique}@test.idflow\n")
    return Cli(project, {"CONDUCTOR_SERVER_URL": conductor_url, "NO_COLOR": "1"})


@pytest.fixture
def remote(conductor_url: str, tmp_path: Path):
    from idflow.config import load_config
    from idflow.remote import ConductorRemote

    return ConductorRemote(load_config(cwd=tmp_path, environ={"CONDUCTOR_SERVER_URL": conductor_url}))


@pytest.fixture
def session_server_dir(conductor_url: str) -> Path | None:
    """The data folder of the server this session started (None when CONDUCTOR_SERVER_URL named one)."""
    return started_server.get("data_dir")
