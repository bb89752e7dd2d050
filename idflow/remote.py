"""The one module that talks to Conductor (through conductor-python's API client).

The SDK is imported lazily, inside ``ConductorRemote.__init__``: importing it costs ~0.3 s and changes
multiprocessing's start method, so commands that need no server never pay for it.

Every call has a timeout. Calls that fail transiently (connection refused or reset, timeout, 502/503/504)
are retried with exponential backoff a bounded number of times; every write idflow makes is idempotent
(bulk upsert, PUT, DELETE), so a retried write cannot do anything twice. SDK errors become idflow errors.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

from idflow.config import Config
from idflow.errors import (
    AuthError,
    Conflict,
    NotFound,
    RemoteError,
    RemoteTimeout,
    ServerError,
    ServerUnavailable,
    ServerUnreachable,
    ValidationRejected,
)
from idflow.log import get_logger, register_secrets

log = get_logger("idflow.remote")

TRANSIENT_STATUSES = frozenset({502, 503, 504})


class Remote(Protocol):
    """What the rest of idflow needs from a Conductor server (the real one, or a test fake)."""

    url: str

    def list_task_defs(self) -> list[dict[str, Any]]: ...
    def get_task_def(self, name: str) -> dict[str, Any] | None: ...
    def create_task_defs(self, definitions: list[dict[str, Any]]) -> None: ...
    def update_task_def(self, definition: dict[str, Any]) -> None: ...
    def delete_task_def(self, name: str) -> None: ...
    def list_workflow_defs(self) -> list[dict[str, Any]]: ...
    def get_workflow_def(self, name: str, version: int) -> dict[str, Any] | None: ...
    def put_workflow_defs(self, definitions: list[dict[str, Any]]) -> None: ...
    def delete_workflow_def(self, name: str, version: int) -> None: ...
    def create_workflow_def(self, definition: dict[str, Any]) -> None: ...


class ConductorRemote:
    """``Remote`` over HTTP, with timeouts, bounded retries and error mapping."""

    def __init__(
        self,
        config: Config,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        backoff_base: float = 0.25,
        backoff_max: float = 4.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        import httpx
        from conductor.client.configuration.configuration import Configuration
        from conductor.client.configuration.settings.authentication_settings import (
            AuthenticationSettings,
        )
        from conductor.client.http import api_client as sdk_api_client

        self.url = config.server_url
        self.timeout = timeout if timeout is not None else config.timeout_seconds
        self.retries = retries if retries is not None else config.retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._sleep = sleep
        self._lock = threading.Lock()
        self.request_count = 0
        self.write_count = 0

        auth = None
        if config.credentials is not None:
            register_secrets(config.secrets)
            auth = AuthenticationSettings(key_id=config.credentials.key_id, key_secret=config.credentials.key_secret)
        sdk_config = Configuration(server_api_url=self.url, authentication_settings=auth)

        # Our own client: HTTP/1.1, no hidden transport retries (this class owns retrying), bounded time.
        def http_client() -> httpx.Client:
            return httpx.Client(
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
                transport=httpx.HTTPTransport(retries=0),
            )

        sdk_config.http_connection = http_client()
        # A failed token request is only logged by the SDK (an extra, unformatted line on stderr) and the SDK
        # carries on; the first call then fails and says why in one line. Unless debugging, drop that line.
        quiet = not logging.getLogger("conductor").isEnabledFor(logging.DEBUG)
        if quiet:
            sdk_api_client.logger.addFilter(_drop_record)
        try:
            self._client = sdk_api_client.ApiClient(sdk_config)
        except Exception as exc:  # the token request happens here when credentials are set
            raise self._translate(exc, "POST", "/token") from None
        finally:
            sdk_api_client.logger.removeFilter(_drop_record)
        # After a protocol error (e.g. a connection reset) the SDK replaces the client with its own default
        # (3 hidden connect retries with back-off, HTTP/2): make it build ours again instead.
        self._client.rest_client._create_default_httpx_client = http_client

    # -- task definitions ------------------------------------------------------------------------

    def list_task_defs(self) -> list[dict[str, Any]]:
        return self._call("GET", "/metadata/taskdefs") or []

    def get_task_def(self, name: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", f"/metadata/taskdefs/{_seg(name)}")
        except NotFound:
            return None

    def create_task_defs(self, definitions: list[dict[str, Any]]) -> None:
        """Bulk upsert in one request (``POST /metadata/taskdefs`` with a list)."""
        if definitions:
            self._call("POST", "/metadata/taskdefs", body=list(definitions))

    def update_task_def(self, definition: dict[str, Any]) -> None:
        self._call("PUT", "/metadata/taskdefs", body=definition)

    def delete_task_def(self, name: str) -> None:
        self._call("DELETE", f"/metadata/taskdefs/{_seg(name)}", absent_ok_after_retry=True)

    # -- workflow definitions --------------------------------------------------------------------

    def list_workflow_defs(self) -> list[dict[str, Any]]:
        return self._call("GET", "/metadata/workflow") or []

    def get_workflow_def(self, name: str, version: int) -> dict[str, Any] | None:
        try:
            return self._call("GET", f"/metadata/workflow/{_seg(name)}", query={"version": version})
        except NotFound:
            return None

    def put_workflow_defs(self, definitions: list[dict[str, Any]]) -> None:
        """Bulk create-or-update (``PUT /metadata/workflow`` with a list)."""
        if not definitions:
            return
        answer = self._call("PUT", "/metadata/workflow", body=list(definitions))
        errors = (answer or {}).get("bulkErrorResults") if isinstance(answer, dict) else None
        if errors:
            messages = [f"{name}: {message}" for name, message in sorted(errors.items())]
            raise ValidationRejected(
                f"PUT {self.url}/metadata/workflow: rejected by the server: {messages[0]}", messages
            )

    def delete_workflow_def(self, name: str, version: int) -> None:
        self._call("DELETE", f"/metadata/workflow/{_seg(name)}/{int(version)}", absent_ok_after_retry=True)

    def create_workflow_def(self, definition: dict[str, Any]) -> None:
        """Create only (``POST /metadata/workflow``): Conflict when that name and version exist.

        Not retried: a lost answer to a create that landed would come back as a Conflict.
        """
        self._call("POST", "/metadata/workflow", body=definition, retry_writes=False)

    # -- running things --------------------------------------------------------------------------

    def start_workflow(
        self, name: str, version: int | None, workflow_input: dict[str, Any], correlation_id: str
    ) -> str:
        body: dict[str, Any] = {"name": name, "input": workflow_input, "correlationId": correlation_id}
        if version is not None:
            body["version"] = version
        return str(self._call("POST", "/workflow", body=body, retry_writes=False))

    def get_workflow(self, workflow_id: str) -> dict[str, Any]:
        return self._call("GET", f"/workflow/{_seg(workflow_id)}", query={"includeTasks": "false"})

    def running_workflows_by_correlation(self, name: str, correlation_id: str) -> list[dict[str, Any]]:
        found = self._call(
            "POST",
            f"/workflow/{_seg(name)}/correlated",
            body=[correlation_id],
            query={"includeClosed": "false", "includeTasks": "false"},
            retry_writes=True,
        )
        return list((found or {}).get(correlation_id) or [])

    # -- plumbing --------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, Any] | None = None,
        retry_writes: bool = True,
        absent_ok_after_retry: bool = False,
    ) -> Any:
        """One API call with retries on transient failures. Returns the decoded JSON body (or None)."""
        is_write = method != "GET"
        attempts = 1 + (self.retries if (retry_writes or not is_write) else 0)
        last: RemoteError | None = None
        for attempt in range(attempts):
            if attempt:
                delay = min(self._backoff_max, self._backoff_base * 2 ** (attempt - 1))
                delay *= 0.5 + random.random() / 2
                log.debug("retrying", method=method, path=path, attempt=attempt + 1, after=str(last))
                self._sleep(delay)
            with self._lock:
                self.request_count += 1
                self.write_count += is_write
            try:
                return self._client.call_api(
                    path,
                    method,
                    query_params=list((query or {}).items()) or None,
                    header_params={"Accept": "application/json", "Content-Type": "application/json"},
                    body=body,
                    response_type="object",
                    _return_http_data_only=True,
                    _request_timeout=(min(self.timeout, 5.0), self.timeout),
                )
            except Exception as exc:
                error = self._translate(exc, method, path)
                if isinstance(error, NotFound) and absent_ok_after_retry and last is not None:
                    return None  # an earlier attempt did the delete; the answer was lost on the way
                if not error.transient:
                    raise error from None
                last = error
        assert last is not None
        raise last from None

    def _translate(self, exc: Exception, method: str, path: str) -> RemoteError:
        from conductor.client.http.rest import ApiException, AuthorizationException

        where = f"{method} {self.url}{path}"
        if isinstance(exc, AuthorizationException):
            return AuthError(f"{where}: not authorised (HTTP {exc.status}); check the API key", exc.status)
        if not isinstance(exc, ApiException):
            return ServerError(f"{where}: {type(exc).__name__}: {exc}")
        status = exc.status or 0
        if status == 0:
            reason = str(exc.reason or "")
            if "timeout" in reason.lower() or "timed out" in reason.lower():
                return RemoteTimeout(f"{where}: no answer within {self.timeout:g}s", 0)
            return ServerUnreachable(f"{where}: cannot reach the server ({_first_line(reason)})", 0)
        payload = _decode(exc.body)
        message = payload.get("message") if isinstance(payload, dict) else None
        text = message or _first_line(str(exc.body or exc.reason or ""))
        if status == 400:
            field_errors = [
                f"{e.get('path', '?')}: {e.get('message', '')}"
                for e in (payload.get("validationErrors") or [] if isinstance(payload, dict) else [])
            ]
            summary = "; ".join(e.split(": ", 1)[-1] for e in field_errors) or text
            return ValidationRejected(f"{where}: rejected by the server: {summary}", field_errors)
        if status == 404 or (status == 500 and text.startswith("No such")):
            # conductor-oss answers a DELETE of an absent task def with 500 "No such task definition".
            return NotFound(f"{where}: not found ({text})", status)
        if status == 409 or (status == 500 and _lost_create_race(text)):
            return Conflict(f"{where}: conflict ({text})", status)
        if status in TRANSIENT_STATUSES:
            return ServerUnavailable(f"{where}: server unavailable (HTTP {status})", status)
        return ServerError(f"{where}: HTTP {status}: {text}", status)


def _lost_create_race(text: str) -> bool:
    """Two creates of one workflow version at the same moment: the server checks, then inserts, and the
    loser's insert fails on the key. 409 is only for the check; the race answers 500, with
    "Workflow with NAME.VERSION already exists!" on SQLite and "duplicate key value violates unique
    constraint" on PostgreSQL (both seen on 3.32.3). Either way: someone else's create won."""
    return "duplicate key value violates unique constraint" in text or (
        text.startswith("Workflow with ") and text.endswith("already exists!")
    )


def _drop_record(_record: logging.LogRecord) -> bool:
    return False


def _seg(value: str) -> str:
    return quote(str(value), safe="")


def _decode(body: Any) -> Any:
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return {}
    return body if isinstance(body, dict) else {}


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else "no detail"
