"""The one module that talks to Conductor (through conductor-python's API client, and for reads our own).

The SDK is imported lazily: importing it costs ~0.3 s (0.7 s of CPU on a busy machine) and changes
multiprocessing's start method, so commands that need no server never pay for it. Without API-key
credentials, every call (the reads a plan makes and the writes of an apply) goes through idflow's own
client, so neither plan nor apply imports the SDK: for a plain-http server the standard library's HTTP
(``plain_http``), for https the httpx client the SDK is given too (``transport``); both keep the
same deadline, byte limit, retries and error mapping. With credentials every call goes through the SDK (it
gets and renews the Orkes token).

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
    NoScheduler,
    NotFound,
    RemoteError,
    RemoteTimeout,
    ServerError,
    ServerResponseError,
    ServerUnavailable,
    ServerUnreachable,
    ValidationRejected,
)
from idflow.kinds.server_model import EVENT_HANDLER, TASK_DEF, WORKFLOW_DEF, WORKFLOW_SCHEDULE
from idflow.log import get_logger
from idflow.masking import mask_text, register_secrets
from idflow.server.answers import BadAnswer, check_json, check_list, check_object

log = get_logger("idflow.server.client")

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
    def list_event_handlers(self) -> list[dict[str, Any]]: ...
    def create_event_handler(self, handler: dict[str, Any]) -> None: ...
    def update_event_handler(self, handler: dict[str, Any]) -> None: ...
    def delete_event_handler(self, name: str) -> None: ...
    def list_schedules(self) -> list[dict[str, Any]]: ...
    def create_schedule(self, schedule: dict[str, Any]) -> None: ...
    def update_schedule(self, schedule: dict[str, Any]) -> None: ...
    def delete_schedule(self, name: str) -> None: ...


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
        self.url = config.server_url  # never with userinfo: that goes as basic auth, below
        self.max_bytes = config.max_response_bytes
        self._config_secrets = config.secrets
        self._tokens: set[str] = set()
        self.timeout = timeout if timeout is not None else config.timeout_seconds
        self.retries = retries if retries is not None else config.retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._sleep = sleep
        self._lock = threading.Lock()
        self.request_count = 0
        self.write_count = 0

        register_secrets(config.secrets)
        self._login = None
        if config.server_user is not None or config.server_password is not None:
            self._login = (config.server_user or "", config.server_password or "")
        self._credentials = config.credentials
        self._client: Any = None
        self._sdk_lock = threading.Lock()
        # Calls go through a client of ours directly: the SDK's import (~0.7 s of CPU) and its per-request work
        # stay off plan and apply. With API-key credentials the SDK is loaded at once (it gets and renews the
        # token). A plain-http server gets the standard library's HTTP (no httpx to import, a quarter of its CPU
        # per request); TLS gets httpx.
        self._direct: Any = None
        if config.credentials is None:
            plain = self.url.startswith("http://")  # the config accepts only http:// and https://, in lower case
            self._direct = self._plain_client() if plain else _httpx_direct(self._http_client(), self.url)
        else:
            self._sdk()

    def _plain_client(self) -> Any:
        import base64

        from idflow.server.plain_http import PlainHttpClient

        authorization = None
        if self._login is not None:
            pair = f"{self._login[0]}:{self._login[1]}".encode()
            authorization = "Basic " + base64.b64encode(pair).decode("ascii")
        return PlainHttpClient(self.url, total=self.timeout, max_bytes=self.max_bytes, authorization=authorization)

    def _http_client(self) -> Any:
        """Our httpx client: HTTP/1.1, no hidden transport retries (this class owns retrying), a total deadline
        per request (timeout_seconds, from connecting to the last byte) and a byte limit per answer. As many
        connections as apply's --parallelism allows (64), all kept alive: no write waits for a socket."""
        import httpx

        from idflow.server.transport import BoundedTransport

        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        tls = not self.url.lower().startswith("http://")  # plain http: no CA bundle to load (see BoundedTransport)
        return httpx.Client(
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
            transport=BoundedTransport(total=self.timeout, max_bytes=self.max_bytes, limits=limits, tls=tls),
            auth=httpx.BasicAuth(*self._login) if self._login is not None else None,
        )

    def _sdk(self) -> Any:
        """The SDK's API client, made on first use over a client of ours (``http_client``)."""
        with self._sdk_lock:
            if self._client is None:
                self._client = self._make_sdk_client()
            return self._client

    def _make_sdk_client(self) -> Any:
        from conductor.client.configuration.configuration import Configuration
        from conductor.client.configuration.settings.authentication_settings import (
            AuthenticationSettings,
        )
        from conductor.client.http import api_client as sdk_api_client

        auth = None
        if self._credentials is not None:
            auth = AuthenticationSettings(key_id=self._credentials.key_id, key_secret=self._credentials.key_secret)
        sdk_config = Configuration(server_api_url=self.url, authentication_settings=auth)
        http_client = self._http_client
        sdk_config.http_connection = http_client()
        # A failed token request is only logged by the SDK (an extra, unformatted line on stderr) and the SDK
        # carries on; the first call then fails and says why in one line. Unless debugging, drop that line.
        quiet = not logging.getLogger("conductor").isEnabledFor(logging.DEBUG)
        if quiet:
            sdk_api_client.logger.addFilter(_drop_record)
        try:
            client = sdk_api_client.ApiClient(sdk_config)
        except Exception as exc:  # the token request happens here when credentials are set
            raise self._translate(exc, "POST", "/token") from None
        finally:
            sdk_api_client.logger.removeFilter(_drop_record)
        self._note_token(client)
        # After a protocol error (e.g. a connection reset) the SDK replaces the client with its own default
        # (3 hidden connect retries with back-off, HTTP/2): make it build ours again instead.
        client.rest_client._create_default_httpx_client = http_client
        return client

    # -- task definitions ------------------------------------------------------------------------

    def list_task_defs(self) -> list[dict[str, Any]]:
        path = "/metadata/taskdefs"
        return self._checked("GET", path, self._call("GET", path), check_list, TASK_DEF, "task definitions")

    def get_task_def(self, name: str) -> dict[str, Any] | None:
        try:
            path = f"/metadata/taskdefs/{_seg(name)}"
            answer = self._call("GET", path)
        except NotFound:
            return None
        return self._checked("GET", path, answer, check_object, TASK_DEF, "a task definition")

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
        path = "/metadata/workflow"
        return self._checked("GET", path, self._call("GET", path), check_list, WORKFLOW_DEF, "workflow definitions")

    def get_workflow_def(self, name: str, version: int) -> dict[str, Any] | None:
        try:
            path = f"/metadata/workflow/{_seg(name)}"
            answer = self._call("GET", path, query={"version": version})
        except NotFound:
            return None
        return self._checked("GET", path, answer, check_object, WORKFLOW_DEF, "a workflow definition")

    def put_workflow_defs(self, definitions: list[dict[str, Any]]) -> None:
        """Bulk create-or-update (``PUT /metadata/workflow`` with a list)."""
        if not definitions:
            return
        answer = self._call("PUT", "/metadata/workflow", body=list(definitions))
        errors = (answer or {}).get("bulkErrorResults") if isinstance(answer, dict) else None
        if errors and not isinstance(errors, dict):
            raise ServerResponseError(
                f"PUT {self.url}/metadata/workflow: the server answered with bulkErrorResults that is not an object"
            )
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

    # -- event handlers --------------------------------------------------------------------------

    def list_event_handlers(self) -> list[dict[str, Any]]:
        """Every handler, active or not, in one request (``GET /event``)."""
        path = "/event"
        return self._checked("GET", path, self._call("GET", path), check_list, EVENT_HANDLER, "event handlers")

    def create_event_handler(self, handler: dict[str, Any]) -> None:
        """Create only (``POST /event``): Conflict when the name exists (the server answers 500).

        Not retried: a lost answer to a create that landed would come back as a Conflict."""
        self._call("POST", "/event", body=handler, retry_writes=False)

    def update_event_handler(self, handler: dict[str, Any]) -> None:
        """Replace the whole handler of that name (``PUT /event``); NotFound when there is none."""
        self._call("PUT", "/event", body=handler)

    def delete_event_handler(self, name: str) -> None:
        self._call("DELETE", f"/event/{_seg(name)}", absent_ok_after_retry=True)

    # -- schedules -------------------------------------------------------------------------------

    def list_schedules(self) -> list[dict[str, Any]]:
        """Every schedule in one request (``GET /scheduler/schedules``); ``NoScheduler`` when the server
        has no scheduler (that path answers 404 then)."""
        path = "/scheduler/schedules"
        try:
            answer = self._call("GET", path)
        except NotFound as exc:
            raise NoScheduler(
                f"GET {self.url}{path}: this server has no scheduler (HTTP 404); conductor-oss runs one "
                "when started with conductor.scheduler.enabled=true",
                exc.status,
            ) from None
        return self._checked("GET", path, answer, check_list, WORKFLOW_SCHEDULE, "schedules")

    def create_schedule(self, schedule: dict[str, Any]) -> None:
        """``POST /scheduler/schedules``: the server has one call that creates or replaces by name (so a
        retried write cannot do anything twice); the plan's stale check is what keeps a create a create."""
        self._call("POST", "/scheduler/schedules", body=schedule)

    def update_schedule(self, schedule: dict[str, Any]) -> None:
        """The whole schedule, replaced by name (the same call as a create)."""
        self._call("POST", "/scheduler/schedules", body=schedule)

    def delete_schedule(self, name: str) -> None:
        """``DELETE /scheduler/schedules/{name}``; an absent schedule answers 200 too."""
        self._call("DELETE", f"/scheduler/schedules/{_seg(name)}")

    # -- running things --------------------------------------------------------------------------

    def start_workflow(
        self, name: str, version: int | None, workflow_input: dict[str, Any], correlation_id: str
    ) -> str:
        body: dict[str, Any] = {"name": name, "input": workflow_input, "correlationId": correlation_id}
        if version is not None:
            body["version"] = version
        answer = self._call("POST", "/workflow", body=body, retry_writes=False)
        if not isinstance(answer, str) or not answer or len(answer) > 200:
            raise ServerResponseError(f"POST {self.url}/workflow: the server answered with no workflow id")
        return answer

    def get_workflow(self, workflow_id: str) -> dict[str, Any]:
        path = f"/workflow/{_seg(workflow_id)}"
        answer = self._call("GET", path, query={"includeTasks": "false"})
        return self._checked("GET", path, answer, check_json, dict, "a workflow run as a JSON object")

    def running_workflows_by_correlation(self, name: str, correlation_id: str) -> list[dict[str, Any]]:
        found = self._call(
            "POST",
            f"/workflow/{_seg(name)}/correlated",
            body=[correlation_id],
            query={"includeClosed": "false", "includeTasks": "false"},
            retry_writes=True,
        )
        found = self._checked("POST", f"/workflow/{_seg(name)}/correlated", found or {}, check_json, dict,
                              "a JSON object of workflow runs")  # fmt: skip
        runs = found.get(correlation_id) or []
        if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
            raise ServerResponseError(f"POST {self.url}/workflow/{_seg(name)}/correlated: not a list of runs")
        return list(runs)

    # -- plumbing --------------------------------------------------------------------------------

    def _checked(self, method: str, path: str, answer: Any, check: Callable[..., Any], shape: Any, what: str) -> Any:
        """``answer`` if it has the shape the API promises, else one ServerResponseError naming the URL."""
        try:
            return check(answer, shape, what)
        except BadAnswer as problem:
            detail = str(problem)
            if isinstance(answer, str):
                try:
                    json.loads(answer)
                except RecursionError:  # the SDK hands back the text of JSON too deep to decode
                    detail = "JSON nested too deeply to read"
                except ValueError:
                    pass
            raise ServerResponseError(f"{method} {self.url}{path}: the server answered with {detail}") from None

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
            direct = self._direct is not None
            client = None if direct else self._sdk()
            try:
                if direct:
                    return self._send(method, path, query, body)
                answer = client.call_api(
                    path,
                    method,
                    query_params=list((query or {}).items()) or None,
                    header_params={"Accept": "application/json", "Content-Type": "application/json"},
                    body=body,
                    response_type="object",
                    _return_http_data_only=True,
                    _request_timeout=(min(self.timeout, 5.0), self.timeout),
                )
                self._note_token()
                return answer
            except Exception as exc:
                self._note_token()
                error = self._translate(exc, method, path)
                if isinstance(error, NotFound) and absent_ok_after_retry and last is not None:
                    return None  # an earlier attempt did the delete; the answer was lost on the way
                if not error.transient:
                    raise error from None
                last = error
        assert last is not None
        raise last from None

    def _send(self, method: str, path: str, query: dict[str, Any] | None, body: Any = None) -> Any:
        """A call through our own client: the decoded JSON (text that is not JSON as it came, like the SDK)."""
        from idflow.server.plain_http import Dropped

        headers, content = {"Accept": "application/json"}, None
        if body is not None:
            content = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            status, text = self._direct.request(method, path, query, headers, content)
        except Dropped:
            # A connection dropped under a request (a kept-alive socket the server closed): GET, PUT and DELETE
            # are sent again once on a new one, as the SDK does for its calls (a POST may be a create, whose lost
            # answer must come back as an error); refused connections and timeouts are not (retries are).
            if method not in ("GET", "PUT", "DELETE"):
                raise
            status, text = self._direct.request(method, path, query, headers, content)
        if status >= 400:
            raise _HttpStatus(status, text)
        if not text:
            return None
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return text

    def _note_token(self, client: Any = None) -> None:
        """The session token the SDK got from ``/api/token`` (Orkes) is a secret like the key: masked in logs
        and in every message (the SDK renews it, so look again after each call)."""
        client = client if client is not None else self._client
        token = getattr(getattr(client, "configuration", None), "AUTH_TOKEN", None)
        if isinstance(token, str) and token and token not in self._tokens:
            self._tokens.add(token)
            register_secrets([token])

    def _translate(self, exc: Exception, method: str, path: str) -> RemoteError:
        """The SDK's exception as an idflow error, its message free of URL userinfo, keys and tokens."""
        error = self._translate_raw(exc, method, path)
        masked = mask_text(str(error), (*self._config_secrets, *self._tokens))
        if masked != str(error):
            error.args = (masked, *error.args[1:])
        if isinstance(error, ValidationRejected):
            error.field_errors = [mask_text(e, (*self._config_secrets, *self._tokens)) for e in error.field_errors]
        return error

    def _translate_raw(self, exc: Exception, method: str, path: str) -> RemoteError:
        from idflow.server.plain_http import ResponseTooLarge, TimedOut, TransportError, Undecodable

        where = f"{method} {self.url}{path}"
        too_large = _cause(exc, ResponseTooLarge)
        if too_large is not None:
            limit = too_large.limit / (1024 * 1024)
            return ServerResponseError(
                f"{where}: the answer is larger than {limit:g} MB, the most idflow reads "
                "(conductor.max_response_mb); nothing was read beyond it"
            )
        if isinstance(exc, RecursionError):
            return ServerResponseError(f"{where}: the answer is nested too deeply to read")
        if isinstance(exc, TimedOut):  # our own client's (the SDK's failures come as ApiException)
            return RemoteTimeout(f"{where}: no answer within {self.timeout:g}s", 0)
        if isinstance(exc, TransportError):
            return ServerUnreachable(f"{where}: cannot reach the server ({_first_line(str(exc))})", 0)
        if isinstance(exc, Undecodable):
            return ServerResponseError(f"{where}: the server answered with a body it says is compressed, {exc}")
        if isinstance(exc, _HttpStatus):
            if exc.status in (401, 403):
                return AuthError(f"{where}: not authorised (HTTP {exc.status}); check the API key", exc.status)
            return self._status_error(where, exc.status, exc.body)
        from conductor.client.http.rest import ApiException, AuthorizationException

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
        return self._status_error(where, status, exc.body, exc.reason)

    def _status_error(self, where: str, status: int, body: Any, reason: Any = None) -> RemoteError:
        """The error for an HTTP error answer (``status`` >= 400), from the SDK or our own client."""
        payload = _decode(body)
        message = payload.get("message") if isinstance(payload, dict) else None
        text = message or _first_line(str(body or reason or ""))
        if status == 400:
            field_errors = [
                f"{e.get('path', '?')}: {e.get('message', '')}"
                for e in (payload.get("validationErrors") or [] if isinstance(payload, dict) else [])
            ]
            summary = "; ".join(e.split(": ", 1)[-1] for e in field_errors) or text
            return ValidationRejected(f"{where}: rejected by the server: {summary}", field_errors)
        if status == 404 or (status == 500 and (text.startswith("No such") or _absent_handler(text))):
            # conductor-oss answers a DELETE of an absent task def with 500 "No such task definition".
            return NotFound(f"{where}: not found ({text})", status)
        if status == 409 or (status == 500 and (_lost_create_race(text) or _existing_handler(text))):
            return Conflict(f"{where}: conflict ({text})", status)
        if status in TRANSIENT_STATUSES:
            return ServerUnavailable(f"{where}: server unavailable (HTTP {status})", status)
        return ServerError(f"{where}: HTTP {status}: {text}", status)


class _HttpStatus(Exception):
    """An error answer to a request sent through our own client (not the SDK)."""

    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


def _lost_create_race(text: str) -> bool:
    """Two creates of one workflow version at the same moment: the server checks, then inserts, and the
    loser's insert fails on the key. 409 is only for the check; the race answers 500, with
    "Workflow with NAME.VERSION already exists!" on SQLite and "duplicate key value violates unique
    constraint" on PostgreSQL (both seen on 3.32.3). Either way: someone else's create won."""
    return "duplicate key value violates unique constraint" in text or (
        text.startswith("Workflow with ") and text.endswith("already exists!")
    )


def _absent_handler(text: str) -> bool:
    """A PUT or DELETE of an event handler that does not exist: 500 "EventHandler with name X not found!"."""
    return text.startswith("EventHandler with name ") and text.endswith(" not found!")


def _existing_handler(text: str) -> bool:
    """A POST of an event handler whose name exists: 500 "EventHandler with name X already exists!"."""
    return text.startswith("EventHandler with name ") and text.endswith(" already exists!")


def _cause(exc: BaseException, kind: type[BaseException]) -> Any:
    """``exc`` or the exception it was raised from or during, if it is a ``kind`` (the SDK re-raises
    transport errors as ApiException inside its ``except``)."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 10:
        if isinstance(current, kind):
            return current
        current = current.__cause__ or current.__context__
        seen += 1
    return None


def _drop_record(_record: logging.LogRecord) -> bool:
    return False


def _httpx_direct(client: Any, url: str) -> Any:
    from idflow.server.transport import HttpxDirect

    return HttpxDirect(client, url)


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
