"""A forwarding HTTP proxy that adds a fixed delay to every request: a server farther away.

Run: ``python bench/delayproxy.py UPSTREAM_URL DELAY_MS`` (standard library only). It listens on a free
loopback port, prints ``http://127.0.0.1:PORT`` on its first line, and forwards every request (method,
path, headers, body) to UPSTREAM_URL over keep-alive connections, one per client connection, after
sleeping DELAY_MS. It stops on SIGTERM or when its stdin closes.
"""

from __future__ import annotations

import http.client
import http.server
import sys
import threading
import time
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


def make_handler(host: str, port: int, delay: float) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        upstream: http.client.HTTPConnection | None = None

        def log_message(self, *_args: object) -> None:  # quiet
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
            time.sleep(delay)
            for attempt in (1, 2):
                if self.upstream is None:
                    self.upstream = http.client.HTTPConnection(host, port, timeout=120)
                try:
                    self.upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = self.upstream.getresponse()
                    data = answer.read()
                    break
                except (OSError, http.client.HTTPException):
                    self.upstream.close()
                    self.upstream = None
                    if attempt == 2:
                        self.send_error(502)
                        return
            self.send_response(answer.status, answer.reason)
            for key, value in answer.getheaders():
                if key.lower() not in _HOP_BY_HOP | {"content-length"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward

    return Handler


def main() -> None:
    upstream, delay_ms = sys.argv[1], float(sys.argv[2])
    parts = urlsplit(upstream)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), make_handler(parts.hostname or "127.0.0.1", parts.port or 80, delay_ms / 1000)
    )
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
