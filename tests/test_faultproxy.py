"""Tests of the fault-injecting proxy against a tiny loopback upstream (no Conductor needed)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from faultproxy import FaultProxy


class _Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.hits: list[tuple[str, str, bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, method: str | None = None) -> int:
        with self.lock:
            return sum(1 for m, _p, _b in self.hits if method is None or m == method)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Upstream

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _record(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.server.lock:
            self.server.hits.append((self.command, self.path, body))
        return body

    def do_GET(self) -> None:
        self._record()
        if self.path.startswith("/api/chunked"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b'{"chunked": ', b"true}"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path.startswith("/api/x"):
            payload = {"ok": True, "path": self.path, "host": self.headers.get("Host")}
            self._answer(200, json.dumps(payload).encode())
            return
        self._answer(404, b'{"status": 404}')

    def do_POST(self) -> None:
        body = self._record()
        self._answer(200, body, self.headers.get("Content-Type") or "application/octet-stream")

    do_PUT = do_POST

    def do_DELETE(self) -> None:
        self._record()
        self.send_response(204)
        self.end_headers()


@pytest.fixture(scope="module")
def upstream_server() -> Iterator[_Upstream]:
    server = _Upstream()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def upstream(upstream_server: _Upstream) -> _Upstream:
    with upstream_server.lock:
        upstream_server.hits.clear()
    return upstream_server


@pytest.fixture
def proxy(upstream: _Upstream) -> Iterator[FaultProxy]:
    with FaultProxy(upstream.url, max_lifetime=60) as p:
        yield p
    assert p.errors == []


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as c:
        yield c


def test_pass_through_keep_alive(proxy: FaultProxy, upstream: _Upstream, client: httpx.Client) -> None:
    r = client.get(proxy.api_url + "/x", params={"a": "1"})
    assert r.status_code == 200
    assert r.json()["path"] == "/api/x?a=1"
    assert r.json()["host"] == upstream.url.removeprefix("http://")  # Host rewritten

    r = client.post(proxy.api_url + "/echo", json={"name": "t1", "n": [1, 2]})
    assert r.status_code == 200
    assert r.json() == {"name": "t1", "n": [1, 2]}
    assert r.headers["content-type"] == "application/json"

    r = client.put(proxy.api_url + "/echo", content=b"")
    assert r.status_code == 200
    assert r.content == b""

    r = client.get(proxy.api_url + "/chunked")  # chunked upstream answer, re-sent with a length
    assert r.json() == {"chunked": True}
    assert r.headers["content-length"] == str(len(r.content))

    assert client.delete(proxy.api_url + "/echo/t1").status_code == 204
    assert client.get(proxy.api_url + "/missing").status_code == 404

    assert proxy.connections_accepted == 1  # one kept-alive connection for all requests
    assert upstream.count() == 6
    assert [(m, p) for m, p, _a, _f in proxy.requests][:2] == [("GET", "/api/x?a=1"), ("POST", "/api/echo")]
    assert all(rec.action == "pass" and rec.forwarded for rec in proxy.requests)


def test_status_injection_times(proxy: FaultProxy, upstream: _Upstream, client: httpx.Client) -> None:
    rule = proxy.add_rule("GET", r"/api/x$", "status", times=2, status=503)
    for _ in range(2):
        r = client.get(proxy.api_url + "/x")
        assert r.status_code == 503
        assert r.json() == {"status": 503, "message": "injected"}
    assert client.get(proxy.api_url + "/x").status_code == 200
    assert rule.hits == 2 and rule.exhausted
    assert upstream.count() == 1
    assert proxy.count("GET", forwarded=False) == 2
    assert proxy.connections_accepted == 1  # an injected status keeps the connection alive


def test_method_filter_and_clear_rules(proxy: FaultProxy, client: httpx.Client) -> None:
    proxy.add_rule("post", r"/echo", "status", status=500)
    assert client.get(proxy.api_url + "/x").status_code == 200
    assert client.post(proxy.api_url + "/echo", content=b"x").status_code == 500
    proxy.clear_rules()
    assert client.post(proxy.api_url + "/echo", content=b"x").status_code == 200


def test_refuse(proxy: FaultProxy, upstream: _Upstream, client: httpx.Client) -> None:
    proxy.add_rule(None, r"/api/x", "refuse", times=1)
    with pytest.raises(httpx.TransportError):
        client.get(proxy.api_url + "/x")
    assert upstream.count() == 0
    assert client.get(proxy.api_url + "/x").status_code == 200
    assert proxy.requests[0].action == "refuse" and not proxy.requests[0].forwarded


def test_set_down_and_up_on_same_port(proxy: FaultProxy, client: httpx.Client) -> None:
    url = proxy.url
    assert client.get(proxy.api_url + "/x").status_code == 200
    proxy.set_down(True)
    with pytest.raises(httpx.ConnectError):
        client.get(proxy.api_url + "/x")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=2).close()
    proxy.set_down(False)
    assert proxy.url == url
    assert client.get(proxy.api_url + "/x").status_code == 200


def test_reset_after_forwarding(proxy: FaultProxy, upstream: _Upstream, client: httpx.Client) -> None:
    proxy.add_rule("POST", r"/api/echo", "reset", times=1)
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        client.post(proxy.api_url + "/echo", json={"a": 1})
    assert upstream.count("POST") == 1  # the server did get it
    assert proxy.count("POST", forwarded=True) == 1
    assert proxy.forwarded_writes() == 1
    assert client.post(proxy.api_url + "/echo", json={"a": 2}).json() == {"a": 2}


def test_reset_before_forwarding(proxy: FaultProxy, upstream: _Upstream, client: httpx.Client) -> None:
    proxy.add_rule("POST", r"/api/echo", "reset_before")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        client.post(proxy.api_url + "/echo", json={"a": 1})
    assert upstream.count() == 0
    assert proxy.forwarded_writes() == 0
    assert proxy.count("POST", r"/echo$", forwarded=False) == 1


def test_delay_beyond_client_timeout(proxy: FaultProxy, upstream: _Upstream) -> None:
    proxy.add_rule("GET", r"/api/x", "delay", times=1, delay=1.0)
    with httpx.Client(timeout=0.3) as c:
        start = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            c.get(proxy.api_url + "/x")
        assert c.get(proxy.api_url + "/x").status_code == 200
    assert time.monotonic() - start < 1.0
    assert upstream.count() == 1
    # the abandoned request still reaches the server once its delay is over
    deadline = time.monotonic() + 3.0
    while upstream.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream.count() == 2
    assert proxy.count(forwarded=True) == 2


def test_short_delay_then_forward(proxy: FaultProxy, upstream: _Upstream, client: httpx.Client) -> None:
    proxy.add_rule(None, r"/api/x", "delay", delay=0.2)
    start = time.monotonic()
    assert client.get(proxy.api_url + "/x").status_code == 200
    assert time.monotonic() - start >= 0.2
    assert upstream.count() == 1


def test_hang_ended_by_stop(upstream: _Upstream) -> None:
    proxy = FaultProxy(upstream.url).start()
    proxy.add_rule(None, r".*", "hang")
    timer = threading.Timer(0.3, proxy.stop)
    timer.start()
    start = time.monotonic()
    try:
        with httpx.Client(timeout=10.0) as c, pytest.raises(httpx.TransportError):
            c.get(proxy.api_url + "/x")
        assert time.monotonic() - start < 3.0
    finally:
        timer.cancel()
        proxy.stop()
    assert not proxy.running
    assert proxy.requests[0].action == "hang"


def test_delay_interrupted_by_stop(upstream: _Upstream) -> None:
    with FaultProxy(upstream.url) as proxy:
        proxy.add_rule(None, r".*", "delay", delay=30)
        timer = threading.Timer(0.3, proxy.stop)
        timer.start()
        start = time.monotonic()
        with httpx.Client(timeout=10.0) as c, pytest.raises(httpx.TransportError):
            c.get(proxy.api_url + "/x")
        assert time.monotonic() - start < 3.0
        timer.join()
    assert upstream.count() == 0


def test_counters_and_forwarded_writes(proxy: FaultProxy, client: httpx.Client) -> None:
    proxy.add_rule("DELETE", r"/echo/", "status", status=502)
    client.get(proxy.api_url + "/x")
    client.post(proxy.api_url + "/echo", content=b"{}")
    client.put(proxy.api_url + "/echo", content=b"{}")
    assert client.delete(proxy.api_url + "/echo/a").status_code == 502
    assert proxy.count() == 4
    assert proxy.count("delete") == 1
    assert proxy.count(path_regex=r"^/api/echo$") == 2
    assert proxy.count(forwarded=True) == 3
    assert proxy.count("DELETE", forwarded=True) == 0
    assert proxy.forwarded_writes() == 2
    proxy.reset_counters()
    assert proxy.requests == [] and proxy.forwarded_writes() == 0


def test_upstream_unreachable_gives_502() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    with FaultProxy(f"http://127.0.0.1:{dead_port}") as proxy, httpx.Client(timeout=5.0) as c:
        r = c.get(proxy.api_url + "/x")
        assert r.status_code == 502
        assert proxy.count(forwarded=False) == 1


def test_max_lifetime_stops_the_proxy(upstream: _Upstream) -> None:
    proxy = FaultProxy(upstream.url, max_lifetime=0.2).start()
    deadline = time.monotonic() + 3.0
    while proxy.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not proxy.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=2).close()
    proxy.stop()


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:80",
        "http://example.com:80",
        "http://192.168.1.5:8080",
        "https://127.0.0.1:443",
        "http://127.0.0.1:8080/api",
        "http://127.0.0.1",
    ],
)
def test_non_loopback_or_bad_upstream_refused(url: str) -> None:
    with pytest.raises(ValueError):
        FaultProxy(url).start()


@pytest.mark.parametrize("url", ["http://localhost:1", "http://127.0.0.2:1", "http://[::1]:1"])
def test_loopback_upstreams_accepted(url: str) -> None:
    FaultProxy(url)


def test_bad_rules_rejected(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError):
        proxy.add_rule(None, ".*", "explode")
    with pytest.raises(ValueError):
        proxy.add_rule(None, ".*", "status", status=42)
