"""The httpx transport under idflow's SDK client and the direct path to an https server (plain http goes
through ``idflow.server.plain_http``): a total deadline per request, a byte limit per answer.

httpx's timeouts are per phase and per read: a server sending one byte a second never times out. This
transport gives each request one deadline (``total`` seconds from the start, covering connecting,
sending, waiting and reading the whole body): every socket wait is cut to the time left, and a chunk
arriving after the deadline ends the request with ``httpx.ReadTimeout``. It also stops reading an answer
at ``max_bytes`` (after decompression: the SDK asks for gzip), raising ``ResponseTooLarge``.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

from idflow.server.plain_http import (
    DECODERS,
    BoundedBody,
    ConnectFailed,
    Dropped,
    ResponseTooLarge,
    TimedOut,
    TransportError,
)

_state = threading.local()  # the deadline of the request this thread is sending or reading


def _remaining() -> float | None:
    deadline = getattr(_state, "deadline", None)
    return None if deadline is None else deadline - time.monotonic()


def _cut(timeout: float | None, exc: type[Exception]) -> float | None:
    left = _remaining()
    if left is None:
        return timeout
    if left <= 0:
        raise exc("the request's total deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _cut(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _cut(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        timeout = _cut(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend):
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:  # fmt: skip
        timeout = _cut(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:  # fmt: skip
        timeout = _cut(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class BoundedTransport(httpx.BaseTransport):
    """``httpx.HTTPTransport(retries=0)`` with a total deadline per request and a byte limit per answer."""

    def __init__(self, *, total: float, max_bytes: int, limits: httpx.Limits, tls: bool = True):
        """``tls=False`` for a server reached over plain http: the client then gets a TLS context that trusts
        no certificate at all instead of loading the system's (a third of a small plan's start-up), so a
        TLS connection it should never make fails its verification."""
        self.total = total
        self.max_bytes = max_bytes
        verify: Any = True if tls else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._inner = httpx.HTTPTransport(retries=0, limits=limits, verify=verify)
        pool = self._inner._pool  # httpx builds the pool; the deadline goes under its sockets
        pool._network_backend = _DeadlineBackend(pool._network_backend)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _state.deadline = time.monotonic() + self.total
        try:
            response = self._inner.handle_request(request)
        except BaseException:
            _state.deadline = None
            raise
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            response.close()
            _state.deadline = None
            raise ResponseTooLarge(self.max_bytes)
        encoding = response.headers.get("content-encoding", "").strip().lower()
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-encoding"]
        return httpx.Response(
            response.status_code,
            headers=headers if encoding in DECODERS else response.headers,
            stream=_BoundedStream(response.stream, self.max_bytes, encoding),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._inner.close()


class _BoundedStream(httpx.SyncByteStream):
    """The body, decoded here (so the limit counts what is decoded), at most ``limit`` bytes of it."""

    def __init__(self, inner: Any, limit: int, encoding: str):
        self._inner = inner
        self._body = BoundedBody(limit, encoding)

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            if (_remaining() or 1) <= 0:
                raise httpx.ReadTimeout("the request's total deadline passed")
            yield from self._body.feed(chunk)
        tail = self._body.finish()
        if tail:
            yield tail

    def close(self) -> None:
        _state.deadline = None
        self._inner.close()


class HttpxDirect:
    """idflow's httpx client as the direct path's sender (what ``PlainHttpClient`` is for plain http): the
    answer's status and text, and its failures as ``idflow.server.plain_http``'s errors."""

    def __init__(self, client: httpx.Client, base_url: str):
        self._client = client
        self._base = base_url

    def request(
        self, method: str, path: str, query: dict[str, Any] | None, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, str]:
        try:
            response = self._client.request(method, self._base + path, params=query, headers=headers, content=body)
            return response.status_code, response.text
        except httpx.TimeoutException:
            raise TimedOut("the request's total deadline passed") from None
        except httpx.ConnectError as exc:
            raise ConnectFailed(str(exc)) from None
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as exc:
            raise Dropped(str(exc)) from None
        except httpx.TransportError as exc:
            raise TransportError(str(exc)) from None
