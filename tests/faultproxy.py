"""A fault-injecting HTTP/1.1 reverse proxy for tests (standard library only).

It runs on 127.0.0.1 between idflow and a loopback Conductor server and applies rules, in order, to each
request: forward it, refuse it, reset the connection before or after the server saw it, answer an
injected error status, answer a given JSON body without asking the server (``"respond"``), delay it, or
hang. Every request is recorded so tests can assert, for example,
that no write ever reached the server::

    with FaultProxy("http://127.0.0.1:8127") as proxy:
        proxy.add_rule("PUT", r"/metadata/taskdefs$", "reset", times=1)
        ...  # point idflow at proxy.api_url
        assert proxy.count("PUT", forwarded=True) == 1

Rule paths and ``count(path_regex=...)`` use ``re.search`` on the request path; a pattern that does not
match the bare path is also tried on ``path?query``. A rule with ``body_regex`` also needs ``re.search`` to
find it in the request body (decoded as UTF-8): ``PUT /metadata/taskdefs`` carries the task's name only in
its body, so this is how a rule hits the update of one task whatever the order of requests.

``read_upstream="http://127.0.0.1:PORT2"`` sends reads (GET, HEAD) to a second server and writes to the
first, as a load balancer in front of a cluster of nodes may.

``capture=True`` keeps each request's headers and body as well (``proxy.captured``), for tests that check
what went over the wire.

Everything is bounded: sockets have timeouts, waits stop when the proxy stops, injected waits are capped
at 60 s, and the proxy stops by itself after ``max_lifetime`` seconds.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, BinaryIO, NamedTuple, Self
from urllib.parse import urlsplit

__all__ = ["ACTIONS", "MAX_WAIT", "WRITE_METHODS", "Captured", "FaultProxy", "RequestRecord", "Rule"]

ACTIONS = frozenset({"pass", "refuse", "reset", "reset_before", "status", "respond", "delay", "hang"})
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
MAX_WAIT = 60.0  # cap for any injected delay or hang, seconds

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_MAX_LINE = 65536
_MAX_HEADERS = 200
_MAX_BODY = 64 * 1024 * 1024
_MAX_REQUESTS_PER_CONNECTION = 10_000
_ACCEPT_POLL = 0.05


class _BadRequest(Exception):
    """The client sent something this proxy will not parse."""


class Captured(NamedTuple):
    """A request's headers and body, kept when the proxy was made with ``capture=True``."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


class RequestRecord(NamedTuple):
    """One request as seen by the proxy; ``forwarded`` is True once it was sent to the upstream."""

    method: str
    path: str  # path and query, as sent by the client
    action: str
    forwarded: bool


@dataclass
class Rule:
    """A fault rule; ``hits`` counts the requests it was applied to."""

    method: str | None
    path_regex: str
    action: str
    times: int | None = None
    delay: float = 0.0
    status: int = 503
    body: Any = None  # the JSON answered by "respond"
    body_regex: str | None = None  # also match the request body (re.search on its UTF-8 text)
    hits: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _body_pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}; expected one of {sorted(ACTIONS)}")
        if self.times is not None and self.times < 0:
            raise ValueError("times must be None or >= 0")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")
        if not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code (100-599)")
        if self.action == "respond":
            json.dumps(self.body)  # fail here, not in a connection thread, when it is not JSON
        self.method = self.method.upper() if self.method else None
        self._pattern = re.compile(self.path_regex)
        self._body_pattern = re.compile(self.body_regex) if self.body_regex is not None else None

    @property
    def exhausted(self) -> bool:
        """True once the rule was applied ``times`` times."""
        return self.times is not None and self.hits >= self.times

    def matches_head(self, method: str, target: str) -> bool:
        """Whether the method and path fit (the body, and ``times``, aside)."""
        return (self.method is None or self.method == method) and _path_matches(self._pattern, target)

    def matches(self, method: str, target: str, body: bytes | None = None) -> bool:
        """Whether this rule applies to a request (ignoring ``times``).

        A rule with ``body_regex`` never matches when ``body`` is None (not read).
        """
        if not self.matches_head(method, target):
            return False
        if self._body_pattern is None:
            return True
        return body is not None and bool(self._body_pattern.search(body.decode("utf-8", "replace")))


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def connection_tokens(self) -> set[str]:
        tokens: set[str] = set()
        for key, value in self.headers:
            if key.lower() == "connection":
                tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
        return tokens

    def wants_keep_alive(self) -> bool:
        tokens = self.connection_tokens()
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


@dataclass(eq=False)
class _Conn:
    sock: socket.socket
    closed: threading.Event = field(default_factory=threading.Event)
    upstream: http.client.HTTPConnection | None = None


def _parse_upstream(upstream: str) -> tuple[str, int, str]:
    parts = urlsplit(upstream)
    if parts.scheme != "http":
        raise ValueError(f"upstream must be an http:// URL, got {upstream!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"upstream must have no path, query or fragment: {upstream!r}")
    host = parts.hostname or ""
    if not _is_loopback(host):
        raise ValueError(f"upstream host must be loopback (127.0.0.0/8, localhost, ::1), got {host!r}")
    if parts.port is None:
        raise ValueError(f"upstream needs an explicit port: {upstream!r}")
    return host, parts.port, parts.netloc


def _path_matches(pattern: re.Pattern[str], target: str) -> bool:
    path, sep, _query = target.partition("?")
    return bool(pattern.search(path) or (sep and pattern.search(target)))


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class FaultProxy:
    """Loopback reverse proxy in front of ``upstream`` (``http://127.0.0.1:PORT``) that injects faults."""

    def __init__(
        self,
        upstream: str,
        *,
        max_lifetime: float = 600.0,
        client_timeout: float = 30.0,
        upstream_timeout: float = 30.0,
        capture: bool = False,
        read_upstream: str | None = None,
    ) -> None:
        host, port, netloc = _parse_upstream(upstream)
        if max_lifetime <= 0:
            raise ValueError("max_lifetime must be > 0")
        self.upstream = upstream.rstrip("/")
        self._up_host = host
        self._up_port = port
        self._up_hostport = netloc
        # Reads (GET, HEAD) to another server, as a load balancer in front of a cluster may send them.
        self.read_upstream = read_upstream.rstrip("/") if read_upstream else self.upstream
        self._read_up = _parse_upstream(read_upstream) if read_upstream else (host, port, netloc)
        self.max_lifetime = float(max_lifetime)
        self.client_timeout = float(client_timeout)
        self.upstream_timeout = float(upstream_timeout)

        self._lock = threading.Lock()  # rules, records, connections
        self._rules: list[Rule] = []
        self._records: list[RequestRecord] = []
        self._conns: set[_Conn] = set()
        self._handlers: list[threading.Thread] = []
        self._accepted = 0
        self.errors: list[str] = []  # unexpected exceptions in connection threads (proxy bugs)
        self.capture = capture
        self._captured: list[Captured] = []

        self._state = threading.Condition()  # listener up/down handshake with the serve thread
        self._want_down = False
        self._is_down = False
        self._listener: socket.socket | None = None  # owned by the serve thread once started
        self._port: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._deadline = 0.0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        if self._thread is not None:
            raise RuntimeError("FaultProxy can be started only once")
        self._listener = self._bind(0)
        self._port = self._listener.getsockname()[1]
        self._deadline = time.monotonic() + self.max_lifetime
        self._thread = threading.Thread(target=self._serve, name=f"faultproxy:{self._port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and wait (briefly) for the threads."""
        self._stop.set()
        with self._state:
            self._state.notify_all()
        self._drop_connections()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        with self._lock:
            handlers = list(self._handlers)
        end = time.monotonic() + 2.0
        for thread in handlers:
            if thread is not threading.current_thread():
                thread.join(timeout=max(0.0, end - time.monotonic()))

    def __enter__(self) -> Self:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True while the serve thread runs (even when ``set_down(True)``).

        Only the thread's end counts: the stop flag is set before the listener closes, so a caller
        that saw the flag could still connect.
        """
        return self._thread is not None and self._thread.is_alive()

    @property
    def port(self) -> int:
        """The local port (stable across ``set_down``)."""
        if self._port is None:
            raise RuntimeError("FaultProxy is not started")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:<port>/api``."""
        return self.url + "/api"

    def set_down(self, down: bool) -> None:
        """Close the listening socket (new connections get ECONNREFUSED) or re-open it on the same port.

        Going down also closes every open client connection, like a server that went away.
        """
        if not self.running:
            raise RuntimeError("FaultProxy is not running")
        with self._state:
            self._want_down = down
            self._state.notify_all()
            ok = self._state.wait_for(lambda: self._is_down == down or self._stop.is_set(), timeout=5.0)
        if not ok or self._is_down != down:
            raise RuntimeError(f"could not set the proxy {'down' if down else 'up'}")
        if down:
            self._drop_connections()

    # -- rules ----------------------------------------------------------------------------------

    def add_rule(
        self,
        method: str | None,
        path_regex: str,
        action: str,
        times: int | None = None,
        delay: float = 0.0,
        status: int | None = None,
        body: Any = None,
        body_regex: str | None = None,
    ) -> Rule:
        """Append a rule (first matching, non-exhausted rule wins) and return it.

        ``delay`` is the wait of ``"delay"``; for other actions except ``"hang"`` it is waited first.
        ``status`` is the answer of ``"status"`` (default 503) and of ``"respond"`` (default 200), which
        answers ``body`` as JSON without forwarding the request, e.g. a fake ``POST /api/token``::

            proxy.add_rule("POST", r"/token$", "respond", body={"token": "fake"})

        ``body_regex`` narrows the rule to requests whose body it finds (the body is then read before the
        rule is chosen, even for ``"refuse"``)::

            proxy.add_rule("PUT", r"/metadata/taskdefs$", "reset_before", body_regex=r'"name": "t1_b"')
        """
        if status is None:
            status = 200 if action == "respond" else 503
        rule = Rule(
            method, path_regex, action, times=times, delay=delay, status=status, body=body, body_regex=body_regex
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_rules(self) -> None:
        """Remove every rule: all requests pass."""
        with self._lock:
            self._rules.clear()

    # -- counters -------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request seen, in arrival order."""
        with self._lock:
            return list(self._records)

    @property
    def connections_accepted(self) -> int:
        """How many client connections were accepted."""
        with self._lock:
            return self._accepted

    def count(self, method: str | None = None, path_regex: str | None = None, forwarded: bool | None = None) -> int:
        """Number of recorded requests matching all given filters."""
        pattern = re.compile(path_regex) if path_regex is not None else None
        wanted = method.upper() if method else None
        return sum(
            1
            for rec in self.requests
            if (wanted is None or rec.method == wanted)
            and (pattern is None or _path_matches(pattern, rec.path))
            and (forwarded is None or rec.forwarded == forwarded)
        )

    @property
    def captured(self) -> list[Captured]:
        """Headers and bodies of the requests seen (only with ``capture=True``), in arrival order."""
        with self._lock:
            return list(self._captured)

    def forwarded_writes(self) -> int:
        """Forwarded requests with a write method (POST/PUT/DELETE/PATCH)."""
        return sum(1 for rec in self.requests if rec.forwarded and rec.method in WRITE_METHODS)

    def reset_counters(self) -> None:
        """Forget every recorded request (rules and their hits are kept)."""
        with self._lock:
            self._records.clear()

    # -- serving --------------------------------------------------------------------------------

    def _bind(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(64)
            sock.settimeout(_ACCEPT_POLL)
        except OSError:
            sock.close()
            raise
        return sock

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                if time.monotonic() >= self._deadline:
                    self._stop.set()
                    break
                self._apply_state()
                listener = self._listener
                if listener is None:
                    self._stop.wait(_ACCEPT_POLL)
                    continue
                try:
                    client, _addr = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    if self._stop.wait(_ACCEPT_POLL):
                        break
                    continue
                self._spawn(client)
        finally:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            with self._state:
                self._is_down = True
                self._state.notify_all()
            self._drop_connections()

    def _apply_state(self) -> None:
        with self._state:
            if self._want_down == self._is_down:
                return
            if self._want_down:
                if self._listener is not None:
                    self._listener.close()
                    self._listener = None
                self._is_down = True
            else:
                try:
                    self._listener = self._bind(self.port)
                except OSError:
                    return  # retried next round; set_down(False) times out if it never works
                self._is_down = False
            self._state.notify_all()

    def _spawn(self, client: socket.socket) -> None:
        client.settimeout(self.client_timeout)
        conn = _Conn(client)
        thread = threading.Thread(
            target=self._handle_connection, args=(conn,), daemon=True, name=f"faultproxy:{self._port}:conn"
        )
        with self._lock:
            self._accepted += 1
            self._conns.add(conn)
            self._handlers = [t for t in self._handlers if t.is_alive()]
            self._handlers.append(thread)
        thread.start()

    def _drop_connections(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.closed.set()
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
            upstream = conn.upstream
            if upstream is not None and upstream.sock is not None:
                with contextlib.suppress(OSError):
                    upstream.sock.shutdown(socket.SHUT_RDWR)

    def _wait(self, conn: _Conn, seconds: float) -> bool:
        """Sleep up to ``seconds`` (capped); False when the proxy or connection stopped meanwhile."""
        seconds = min(seconds, MAX_WAIT, max(0.0, self._deadline - time.monotonic()))
        return not conn.closed.wait(seconds) and not self._stop.is_set()

    def _handle_connection(self, conn: _Conn) -> None:
        rfile = conn.sock.makefile("rb")
        rst = False
        try:
            for _ in range(_MAX_REQUESTS_PER_CONNECTION):
                if conn.closed.is_set() or self._stop.is_set():
                    break
                try:
                    request = _read_head(rfile)
                    if request is None:
                        break
                    keep, rst = self._handle_request(conn, rfile, request)
                except _BadRequest as exc:
                    self._send_simple(conn, 400, f"bad request: {exc}", keep_alive=False)
                    break
                if not keep:
                    break
        except (OSError, http.client.HTTPException):
            pass  # the client or the proxy went away; nothing to answer
        except Exception as exc:  # a proxy bug: keep it visible without killing the thread noisily
            with self._lock:
                self.errors.append(repr(exc))
        finally:
            with self._lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                rfile.close()
            if rst:
                with contextlib.suppress(OSError):
                    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                conn.sock.close()

    def _needs_body(self, method: str, target: str) -> bool:
        """Whether a rule that could apply looks at the body (so it must be read before matching)."""
        with self._lock:
            return any(
                r.body_regex is not None and not r.exhausted and r.matches_head(method, target) for r in self._rules
            )

    def _match(self, method: str, target: str, body: bytes | None = None) -> tuple[str, Rule | None, int]:
        with self._lock:
            rule = next((r for r in self._rules if not r.exhausted and r.matches(method, target, body)), None)
            if rule is not None:
                rule.hits += 1
            action = rule.action if rule is not None else "pass"
            self._records.append(RequestRecord(method, target, action, False))
            return action, rule, len(self._records) - 1

    def _mark_forwarded(self, index: int, record: RequestRecord) -> None:
        with self._lock:
            # reset_counters() may have run meanwhile: only touch the record if it is still ours
            if index < len(self._records) and self._records[index] is record:
                self._records[index] = record._replace(forwarded=True)
            else:
                self._records.append(record._replace(forwarded=True))

    def _handle_request(self, conn: _Conn, rfile: BinaryIO, request: _Request) -> tuple[bool, bool]:
        """Apply the matching rule; returns (keep the connection, reset it with RST)."""
        body: bytes | None = None
        if self.capture or self._needs_body(request.method, request.target):
            body = self._read_body(conn, rfile, request)
            if self.capture:
                with self._lock:
                    self._captured.append(Captured(request.method, request.target, tuple(request.headers), body))
        action, rule, index = self._match(request.method, request.target, body)
        with self._lock:
            record = self._records[index]
        delay = rule.delay if rule is not None else 0.0

        if action == "refuse":
            if delay:
                self._wait(conn, delay)
            return False, False  # close without reading the body (unless a rule needed it) or answering

        if body is None:
            body = self._read_body(conn, rfile, request)
        if action == "hang":
            self._wait(conn, MAX_WAIT)
            return False, False
        if delay and not self._wait(conn, delay):
            return False, False
        if action == "reset_before":
            return False, True
        if action == "status":
            assert rule is not None
            keep = request.wants_keep_alive()
            payload = json.dumps({"status": rule.status, "message": "injected"}).encode()
            self._send(conn, rule.status, [("Content-Type", "application/json")], payload, keep, request)
            return keep, False
        if action == "respond":
            assert rule is not None
            keep = request.wants_keep_alive()
            payload = json.dumps(rule.body).encode()
            self._send(conn, rule.status, [("Content-Type", "application/json")], payload, keep, request)
            return keep, False

        # pass, delay, reset: forward to the upstream
        try:
            status, reason, headers, payload = self._forward(conn, request, body, index, record)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if conn.closed.is_set() or self._stop.is_set():
                return False, False
            self._send_simple(conn, 502, f"faultproxy: upstream error: {exc!r}", keep_alive=False)
            return False, False
        if action == "reset":
            partial = f"HTTP/1.1 {status} {reason}\r\n".encode("latin-1")
            for name, value in headers[:2]:
                partial += f"{name}: {value}\r\n".encode("latin-1")
            with contextlib.suppress(OSError):
                conn.sock.sendall(partial)
            return False, True
        keep = request.wants_keep_alive()
        self._send(conn, status, headers, payload, keep, request, reason=reason)
        return keep, False

    def _read_body(self, conn: _Conn, rfile: BinaryIO, request: _Request) -> bytes:
        if (request.header("expect") or "").lower() == "100-continue":
            conn.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in (request.header("transfer-encoding") or "").lower():
            return _read_chunked(rfile)
        length_text = request.header("content-length")
        if not length_text:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            raise _BadRequest("bad Content-Length") from None
        if not 0 <= length <= _MAX_BODY:
            raise _BadRequest("Content-Length out of range")
        data = rfile.read(length)
        if len(data) != length:
            raise ConnectionError("client closed before sending the whole body")
        return data

    def _forward(
        self, conn: _Conn, request: _Request, body: bytes, index: int, record: RequestRecord
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        up_host, up_port, up_hostport = (
            self._read_up if request.method in ("GET", "HEAD") else (self._up_host, self._up_port, self._up_hostport)
        )
        upstream = http.client.HTTPConnection(up_host, up_port, timeout=self.upstream_timeout)
        conn.upstream = upstream
        try:
            upstream.connect()
            if conn.closed.is_set():
                raise ConnectionAbortedError("proxy stopped")
            upstream.putrequest(request.method, _origin_form(request.target), skip_host=True, skip_accept_encoding=True)
            upstream.putheader("Host", up_hostport)
            dropped = _HOP_BY_HOP | request.connection_tokens() | {"host", "content-length", "expect"}
            for name, value in request.headers:
                if name.lower() not in dropped:
                    upstream.putheader(name, value)
            if body or request.method in _BODY_METHODS:
                upstream.putheader("Content-Length", str(len(body)))
            upstream.putheader("Connection", "close")
            upstream.endheaders(body or None)
            self._mark_forwarded(index, record)
            response = upstream.getresponse()
            payload = response.read()
            return response.status, response.reason, response.getheaders(), payload
        finally:
            conn.upstream = None
            upstream.close()

    def _send(
        self,
        conn: _Conn,
        status: int,
        headers: list[tuple[str, str]],
        payload: bytes,
        keep_alive: bool,
        request: _Request,
        reason: str | None = None,
    ) -> None:
        connection_tokens = {t.strip().lower() for n, v in headers if n.lower() == "connection" for t in v.split(",")}
        dropped = _HOP_BY_HOP | connection_tokens | {"content-length"}
        lines = [f"HTTP/1.1 {status} {reason or _reason(status)}"]
        original_length = next((v for n, v in headers if n.lower() == "content-length"), None)
        lines += [f"{n}: {v}" for n, v in headers if n.lower() not in dropped]
        no_body = request.method == "HEAD" or status in (204, 304) or 100 <= status < 200
        if request.method == "HEAD":
            if original_length is not None:
                lines.append(f"Content-Length: {original_length}")
        elif not (status in (204, 304) or 100 <= status < 200):
            lines.append(f"Content-Length: {len(payload)}")
        lines.append(f"Connection: {'keep-alive' if keep_alive else 'close'}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        conn.sock.sendall(head if no_body else head + payload)

    def _send_simple(self, conn: _Conn, status: int, message: str, keep_alive: bool) -> None:
        payload = json.dumps({"status": status, "message": message}).encode()
        request = _Request("GET", "/", "HTTP/1.1", [])
        with contextlib.suppress(OSError):
            self._send(conn, status, [("Content-Type", "application/json")], payload, keep_alive, request)


def _read_line(rfile: BinaryIO) -> bytes:
    line = rfile.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise _BadRequest("line too long")
    return line


def _read_head(rfile: BinaryIO) -> _Request | None:
    """Read a request line and headers; None on a clean end of the connection."""
    line = b""
    for _ in range(4):  # tolerate a few stray CRLFs between requests
        line = _read_line(rfile)
        if not line:
            return None
        if line.strip():
            break
    else:
        raise _BadRequest("no request line")
    parts = line.decode("latin-1").strip().split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest("malformed request line")
    method, target, version = parts
    headers: list[tuple[str, str]] = []
    for _ in range(_MAX_HEADERS + 1):
        raw = _read_line(rfile)
        if not raw:
            raise ConnectionError("client closed inside the request head")
        if raw in (b"\r\n", b"\n"):
            return _Request(method.upper(), _origin_form(target), version, headers)
        if raw[:1] in (b" ", b"\t"):
            raise _BadRequest("folded header lines are not supported")
        name, sep, value = raw.decode("latin-1").partition(":")
        if not sep or not name.strip():
            raise _BadRequest("malformed header line")
        headers.append((name.strip(), value.strip()))
    raise _BadRequest("too many headers")


def _read_chunked(rfile: BinaryIO) -> bytes:
    """Read a chunked request body, bounded by ``_MAX_BODY``."""
    chunks: list[bytes] = []
    total = 0
    for _ in range(_MAX_BODY):  # every round consumes at least one line of input
        size_line = _read_line(rfile)
        if not size_line:
            raise ConnectionError("client closed inside a chunked body")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadRequest("bad chunk size") from None
        if size == 0:
            for _ in range(_MAX_HEADERS + 1):  # trailers up to the blank line
                trailer = _read_line(rfile)
                if trailer in (b"\r\n", b"\n", b""):
                    return b"".join(chunks)
            raise _BadRequest("too many trailers")
        total += size
        if size < 0 or total > _MAX_BODY:
            raise _BadRequest("chunked body too large")
        data = rfile.read(size)
        if len(data) != size:
            raise ConnectionError("client closed inside a chunk")
        chunks.append(data)
        _read_line(rfile)  # CRLF after the chunk
    raise _BadRequest("too many chunks")


def _origin_form(target: str) -> str:
    """``/path?query`` from an origin-form or absolute-form request target."""
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return target
