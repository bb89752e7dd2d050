"""`idflow server ...`: the local Conductor the tests themselves run on, and its failure modes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from idflow.errors import DevServerError
from idflow.server import local as local_server


def idflow(*args, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "idflow.cli", *args], capture_output=True, text=True, env=env, cwd=cwd, check=False
    )


@pytest.mark.processes
@pytest.mark.integration
def test_status_of_the_session_server(conductor_url, session_server_dir, cluster):
    if session_server_dir is None:
        pytest.skip("the session uses an external server (CONDUCTOR_SERVER_URL); nothing started to inspect")
    result = idflow("server", "status", "--data-dir", str(session_server_dir))
    assert result.returncode == 0 and f"running at {conductor_url}" in result.stdout
    assert local_server.healthy(conductor_url.removesuffix("/api"))
    if cluster.clustered:  # every node listed, and the database
        assert result.stdout.splitlines()[0] == f"running ({cluster.backend}, {len(cluster.urls)} nodes)"
        for number, url in enumerate(cluster.urls, start=1):
            assert f"node {number}: running at {url} (pid " in result.stdout, result.stdout
        assert "postgres: running on 127.0.0.1:" in result.stdout


@pytest.mark.processes
def test_server_dying_during_start_reports_its_log(tmp_path, monkeypatch):
    bogus = tmp_path / "not-a.jar"
    bogus.write_text("this is not a jar")
    monkeypatch.setenv("IDFLOW_CONDUCTOR_JAR", str(bogus))
    with pytest.raises(DevServerError, match="the server exited during start") as caught:
        local_server.start(tmp_path / "data", port=local_server.free_port(), timeout=60)
    assert "last lines of" in str(caught.value)
    assert not (tmp_path / "data" / local_server.PID_FILE).exists()


def identity(pid: int) -> dict[str, object]:
    """What `start` records about a node's process (so `stop` knows it is still the one it started)."""
    found = local_server.process_identity(pid)
    assert found is not None
    return {"starttime": found[0], "cmdline": list(found[1])}


@pytest.mark.processes
def test_stop_stops_only_the_recorded_process(tmp_path):
    recorded = subprocess.Popen(["sleep", "60"], start_new_session=True)
    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        node = {"number": 1, "pid": recorded.pid, "port": 1, "url": "http://127.0.0.1:1/api", **identity(recorded.pid)}
        (tmp_path / local_server.PID_FILE).write_text(json.dumps({**node, "started_at": 0, "nodes": [node]}))
        result = idflow("server", "stop", "--data-dir", str(tmp_path))
        assert result.returncode == 0 and f"pid {recorded.pid}" in result.stdout
        assert recorded.wait(timeout=10) is not None
        assert bystander.poll() is None
        again = idflow("server", "stop", "--data-dir", str(tmp_path))
        assert "No server was running." in again.stdout
        status = idflow("server", "status", "--data-dir", str(tmp_path))
        assert status.returncode == 1 and "stopped" in status.stdout
    finally:
        bystander.kill()
        recorded.kill()


@pytest.mark.processes
def test_java_21_or_later_is_found():
    java = local_server.find_java()
    assert (local_server.java_major_version(java) or 0) >= 21


@pytest.mark.processes
def test_status_lists_every_node_and_says_which_is_gone(tmp_path):
    alive = subprocess.Popen(["sleep", "60"], start_new_session=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    try:
        nodes = [
            {"number": 1, "pid": alive.pid, "port": 1, "url": "http://127.0.0.1:1/api", **identity(alive.pid)},
            {"number": 2, "pid": gone.pid, "port": 2, "url": "http://127.0.0.1:2/api"},
        ]
        (tmp_path / local_server.PID_FILE).write_text(
            json.dumps(
                {
                    "pid": alive.pid,
                    "port": 1,
                    "url": "http://127.0.0.1:1/api",
                    "started_at": 0,
                    "backend": "postgres",
                    "nodes": nodes,
                    "postgres": {"port": 3},
                }
            )
        )
        status = idflow("server", "status", "--data-dir", str(tmp_path))
        assert status.returncode == 1
        assert status.stdout.splitlines() == [
            "dead (postgres, 2 nodes)",
            f"  node 1: starting at http://127.0.0.1:1/api (pid {alive.pid}), not healthy yet",
            f"  node 2: not running: pid {gone.pid} is gone (see `idflow server logs --node 2`)",
            "  postgres: not running",
        ]
        stopped = idflow("server", "stop", "--data-dir", str(tmp_path))
        assert stopped.returncode == 0 and f"pid {alive.pid}, {gone.pid}" in stopped.stdout
        assert alive.wait(timeout=10) is not None
    finally:
        alive.kill()
