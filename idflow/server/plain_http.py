"""HTTP/1.1 to a server reached over plain http, with the standard library: the direct path's transport.

httpx costs about 0.2 s to import and 1.2-1.5 ms of CPU per request more than ``http.client`` (measured
against the same local Conductor, 300 PUTs each); a 1,000-update apply spends most of its CPU there. This
client keeps what idflow's httpx transport gives (``idflow.server.transport``): one total deadline per
request (every socket wait is cut to the time left, so a server sending a byte a second still times out),
a byte limit per answer counted after decompression (it asks for gzip), and a pool of kept-alive
connections shared by apply's threads. TLS and the SDK stay on httpx: ``ConductorRemote`` uses this
client for an ``http://`` server. Neither reads proxies from the environment (httpx does not when it is
given a transport, as idflow's is).
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit


class ResponseTooLarge(Exception):
    """An answer went over the byte limit; nothing more of it was read."""

    def __init__(self, limit: int):
        super().__init__(f"the answer is larger than {limit} bytes")
        self.limit = limit


class TransportError(Exception):
    """The request did not get a whole answer."""


class ConnectFailed(TransportError):
    """No connection (refused, unreachable, no such host): nothing was sent."""


class TimedOut(TransportError):
    """The request's total deadline passed."""


class Dropped(TransportError):
    """The connection broke under the request, or the answer was not HTTP; the request may have arrived."""


class Undecodable(Exception):
    """The answer's body is not in the encoding its headers name (gzip or deflate)."""


class _DeadlineSocket(socket.socket):
    """A socket whose every wait is cut to the time left before ``deadline`` (monotonic seconds)."""

    deadline: float | None = None

    def _cut(self) -> None:
        if self.deadline is None:
            return
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request's total deadline passed")
        self.settimeout(left)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._cut()
        return super().recv_into(buffer, nbytes, flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self._cut()
        return super().recv(bufsize, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._cut()
        super().sendall(data, flags)


class _Connection(http.client.HTTPConnection):
    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), self.timeout)
        sock = _DeadlineSocket(raw.family, raw.type, raw.proto, raw.detach())
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock


def _readable(sock: socket.socket) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _gzip() -> Any:
    return zlib.decompressobj(16 + zlib.MAX_WBITS)


def _deflate() -> Any:
    return zlib.decompressobj()


DECODERS = {"gzip": _gzip, "x-gzip": _gzip, "deflate": _deflate}
_CHUNK = 65536


class BoundedBody:
    """An answer's body as its chunks arrive: decoded as its ``Content-Encoding`` says (gzip, deflate, or as it
    is) and counted after decoding, never more than ``limit`` bytes of it however well it compresses. Both
    transports read bodies through it."""

    def __init__(self, limit: int, encoding: str):
        self._limit = limit
        self._seen = 0
        self._decoder = DECODERS[encoding]() if encoding in DECODERS else None

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        """The decoded pieces of one chunk; ResponseTooLarge past the limit, Undecodable for a bad encoding."""
        if self._decoder is None:
            yield self._counted(chunk)
            return
        try:
            while chunk:
                piece = self._decoder.decompress(chunk, self._limit + 1)  # never more than the limit allows
                chunk = self._decoder.unconsumed_tail
                yield self._counted(piece)
        except zlib.error as exc:
            raise Undecodable(f"cannot decode the answer ({exc})") from None

    def finish(self) -> bytes:
        """What the decoder still holds once the last chunk is in."""
        return self._counted(self._decoder.flush()) if self._decoder is not None else b""

    def _counted(self, piece: bytes) -> bytes:
        self._seen += len(piece)
        if self._seen > self._limit:
            raise ResponseTooLarge(self._limit)
        return piece


class PlainHttpClient:
    """Requests to one ``http://`` base URL. Thread-safe: each request takes a connection of its own."""

    def __init__(self, base_url: str, *, total: float, max_bytes: int, authorization: str | None = None):
        parts = urlsplit(base_url)
        if parts.scheme.lower() != "http" or not parts.hostname:
            raise ValueError(f"not a plain http URL: {base_url}")
        self.total = total
        self.max_bytes = max_bytes
        self._host = parts.hostname
        self._port = parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._headers = {"Accept-Encoding": "gzip, deflate", "User-Agent": "idflow"}
        if authorization is not None:
            self._headers["Authorization"] = authorization
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    def request(
        self, method: str, path: str, query: dict[str, Any] | None, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, str]:
        """Send one request; the answer's status and text (decoded as its charset says, else UTF-8)."""
        target = self._prefix + path + ("?" + urlencode(query) if query else "")
        deadline = time.monotonic() + self.total
        conn = self._take()
        try:
            if conn.sock is None:
                self._connect(conn, deadline)
            conn.sock.deadline = deadline  # type: ignore[union-attr]
            conn.request(method, target, body=body, headers={**self._headers, **headers})
            response = conn.getresponse()
            status, text = response.status, self._text(response)
        except TimeoutError:
            conn.close()
            raise TimedOut("the request's total deadline passed") from None
        except (ResponseTooLarge, Undecodable):
            conn.close()
            raise
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise Dropped(str(exc) or type(exc).__name__) from None
        if response.will_close:
            conn.close()
        else:
            self._give(conn)
        return status, text

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _take(self) -> _Connection:
        """An idle connection the server has not closed (it would be readable: at its end), else a new one."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return _Connection(self._host, self._port)
            if conn.sock is not None and not _readable(conn.sock):
                return conn
            conn.close()

    def _give(self, conn: _Connection) -> None:
        with self._lock:
            self._idle.append(conn)

    def _connect(self, conn: _Connection, deadline: float) -> None:
        left = deadline - time.monotonic()
        conn.timeout = max(0.001, min(5.0, left))
        try:
            conn.connect()
        except TimeoutError:
            raise TimedOut("the request's total deadline passed") from None
        except OSError as exc:
            raise ConnectFailed(str(exc) or type(exc).__name__) from None

    def _text(self, response: http.client.HTTPResponse) -> str:
        length = response.getheader("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise ResponseTooLarge(self.max_bytes)
        encoding = (response.getheader("content-encoding") or "").strip().lower()
        if encoding not in DECODERS and length.isdigit():
            data = response.read()  # the length is within the limit; each socket wait keeps the deadline
        else:
            body = BoundedBody(self.max_bytes, encoding)
            pieces = [piece for chunk in iter(lambda: response.read(_CHUNK), b"") for piece in body.feed(chunk)]
            data = b"".join((*pieces, body.finish()))
        charset = response.headers.get_content_charset() or "utf-8"
        try:
            return data.decode(charset, "replace")
        except LookupError:
            return data.decode("utf-8", "replace")
