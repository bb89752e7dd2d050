"""`idflow server start`'s refusals that come before any process starts (the server itself:
tests/integration/test_devserver.py)."""

from __future__ import annotations

import socket

import pytest

from idflow.errors import DevServerError
from idflow.server import local as local_server


def test_port_in_use_is_refused_before_anything_starts(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(DevServerError, match=f"port {port} is already in use"):
            local_server.start(tmp_path, port=port)
    assert not (tmp_path / local_server.PID_FILE).exists()


def test_missing_jar_named_by_env(tmp_path, monkeypatch):
    monkeypatch.setenv("IDFLOW_CONDUCTOR_JAR", str(tmp_path / "missing.jar"))
    with pytest.raises(DevServerError, match="IDFLOW_CONDUCTOR_JAR points to"):
        local_server.find_jar()


def test_nodes_above_one_need_postgres(tmp_path):
    with pytest.raises(DevServerError, match="--nodes above 1 needs --backend postgres"):
        local_server.start(tmp_path, port=local_server.free_port(), nodes=2)
    assert not (tmp_path / local_server.PID_FILE).exists()


def test_postgres_backend_without_postgresql_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(local_server, "find_postgres", _no_postgres)
    # free_port() vouches for one port, and a second node's is the next one, which a full run's other
    # connections can hold: the port check is not what this test is about.
    monkeypatch.setattr(local_server, "port_in_use", lambda _port: False)
    result_error = None
    try:
        local_server.start(tmp_path, port=local_server.free_port(), backend="postgres", nodes=2)
    except DevServerError as exc:
        result_error = str(exc)
    assert result_error is not None and "install Debian's `postgresql` package" in result_error
    assert not (tmp_path / local_server.PID_FILE).exists()


def _no_postgres():
    raise DevServerError("PostgreSQL is not installed (test); install Debian's `postgresql` package")
