"""The direct path's two transports (the standard library's for plain http, httpx for https):
which one a server gets, and that both keep the deadline, resend only what is safe to resend, never use a
connection the server closed, and name an answer they cannot decode.

The servers here are on loopback: ``tests/hostile_server.py``, and for broken connections a socket
server written out below, which answers one request per connection and then drops or closes it.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from idflow.config import load_config
from idflow.errors import RemoteTimeout, ServerResponseError, ServerUnreachable
from tests.hostile_server import HostileServer

TASKDEFS = "/api/metadata/taskdefs"
TRANSPORTS = ["plain", "httpx"]
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]"


def remote_for(url: str, tmp_path: Path, transport: str | None = None, **settings: object):
    from idflow.server.client import ConductorRemote, _httpx_direct

    remote = ConductorRemote(load_config(cwd=tmp_path, environ={"CONDUCTOR_SERVER_URL": url}), retries=0, **settings)
    if transport == "httpx":
        remote._direct = _httpx_direct(remote._http_client(), remote.url)
    return remote


# -- which transport ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"), [("http://127.0.0.1:9/api", "PlainHttpClient"), ("https://127.0.0.1:9/api", "HttpxDirect")]
)
def test_only_plain_http_gets_the_standard_library_s_client(tmp_path, url, expected):
    assert type(remote_for(url, tmp_path)._direct).__name__ == expected


# -- what both keep ------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_trickling_answer_is_cut_at_the_total_deadline(tmp_path, transport):
    """One byte every 0.2 s: every read arrives within the timeout, the answer would take 60 s."""
    with HostileServer() as server:
        server.answer("GET", TASKDEFS, b"[" + b" " * 300 + b"]", trickle=0.2)
        remote = remote_for(server.api_url, tmp_path, transport, timeout=1.0)
        began = time.monotonic()
        with pytest.raises(RemoteTimeout, match="no answer within 1s"):
            remote.list_task_defs()
        assert time.monotonic() - began < 5


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_broken_gzip_answer_is_named(tmp_path, transport):
    with HostileServer() as server:
        server.answer("GET", TASKDEFS, b"this is not gzip", headers=(("Content-Encoding", "gzip"),))
        with pytest.raises(ServerResponseError, match="cannot decode the answer") as caught:
            remote_for(server.api_url, tmp_path, transport).list_task_defs()
    assert str(caught.value).startswith(f"GET {server.api_url}/metadata/taskdefs: ")


class _OneAnswerServer:
    """Answers the first request of each connection; then ``drop`` reads the next one and closes without
    answering (a connection lost under a request), ``close`` closes at once (a server ending idle keep-alive)."""

    def __init__(self, mode: str):
        self.mode = mode
        self.requests: list[tuple[int, bytes]] = []  # (connection number, request line)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/api"

    def __enter__(self) -> _OneAnswerServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        number = 0
        while not self._stop.is_set():
            try:
                conn, _addr = self._listener.accept()
            except TimeoutError:
                continue
            number += 1
            with conn:
                conn.settimeout(5)
                self.requests.append((number, self._read(conn)))
                conn.sendall(ANSWER)
                if self.mode == "drop":
                    line = self._read(conn)
                    if line:
                        self.requests.append((number, line))

    @staticmethod
    def _read(conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return b""
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lengths = [int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")]
        length = lengths[0] if lengths else 0
        while len(rest) < length:
            rest += conn.recv(65536)
        return head.split(b"\r\n")[0]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_connection_lost_under_a_get_is_sent_again_once_and_under_a_post_is_not(tmp_path, transport):
    with _OneAnswerServer("drop") as server:
        remote = remote_for(server.url, tmp_path, transport)
        assert remote.list_task_defs() == []
        assert remote.list_task_defs() == []  # lost on connection 1, sent again on connection 2
        with pytest.raises(ServerUnreachable):
            remote.create_task_defs([{"name": "t"}])  # lost on connection 2: a create is never sent twice
        time.sleep(0.3)
    lines = [(n, line.split(b" ")[0]) for n, line in server.requests]
    assert lines == [(1, b"GET"), (1, b"GET"), (2, b"GET"), (2, b"POST")]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_kept_alive_connection_the_server_closed_is_not_used(tmp_path, transport):
    """The server ends idle connections: the next write goes on a new one, sent once, with no retries."""
    with _OneAnswerServer("close") as server:
        remote = remote_for(server.url, tmp_path, transport)
        assert remote.list_task_defs() == []
        time.sleep(0.3)  # the server has closed connection 1 by now
        remote.create_task_defs([{"name": "t"}])
    assert [(n, line.split(b" ")[0]) for n, line in server.requests] == [(1, b"GET"), (2, b"POST")]
    assert remote.request_count == 2
