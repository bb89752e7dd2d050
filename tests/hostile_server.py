"""A tiny loopback HTTP server that answers what a test tells it to, however badly (standard library only).

    with HostileServer() as server:
        server.answer("GET", "/api/metadata/taskdefs", b"<html>login</html>", content_type="text/html")
        server.answer("GET", "/api/metadata/workflow", b"[]", trickle=0.8)  # one byte every 0.8 s
        ... point idflow at server.api_url (or server.url_with("user:pass") for userinfo) ...
        server.requests  # (method, path, headers) of every request; server.bodies: their bodies

Unanswered paths get 404. Every wait is bounded: the server stops trickling when it is stopped.
"""

from __future__ import annotations

import gzip
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str
    trickle: float  # seconds between single bytes (0: all at once)
    gzip: bool
    headers: tuple[tuple[str, str], ...]
    length: bool  # send Content-Length (else: the body ends when the connection closes)


class _QuietServer(ThreadingHTTPServer):
    """Says nothing when a client hangs up mid-answer: the tests make idflow do exactly that.

    socketserver prints such errors to stderr, which the in-process CLI run captures as its own output.
    """

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class HostileServer:
    def __init__(self) -> None:
        self._answers: dict[tuple[str, str], Answer] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.bodies: list[bytes] = []  # the body of every request, in order
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                server.requests.append((self.command, path, dict(self.headers.items())))
                server.bodies.append(data)
                found = server._answers.get((self.command, path))
                if found is None:
                    found = Answer(404, b'{"status":404,"message":"not here"}', "application/json", 0, False, (), True)
                body = gzip.compress(found.body) if found.gzip else found.body
                self.send_response(found.status)
                self.send_header("Content-Type", found.content_type)
                if found.gzip:
                    self.send_header("Content-Encoding", "gzip")
                for name, value in found.headers:
                    self.send_header(name, value)
                if found.length:
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                try:
                    if not found.trickle:
                        self.wfile.write(body)
                        return
                    for index in range(len(body)):
                        if server._stop.wait(found.trickle):
                            return
                        self.wfile.write(body[index : index + 1])
                        self.wfile.flush()
                except OSError:  # the client gave up: that is what these tests want
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def answer(
        self,
        method: str,
        path: str,
        body: bytes | str,
        *,
        status: int = 200,
        content_type: str = "application/json",
        trickle: float = 0.0,
        gzip: bool = False,
        headers: tuple[tuple[str, str], ...] = (),
        length: bool = True,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self._answers[(method, path)] = Answer(status, data, content_type, trickle, gzip, headers, length)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def url_with(self, userinfo: str) -> str:
        return f"http://{userinfo}@127.0.0.1:{self.port}/api"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        began = time.monotonic()
        self._thread.join(timeout=5)
        assert time.monotonic() - began < 6
