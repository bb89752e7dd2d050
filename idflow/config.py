"""Configuration: ``config/idflow.yml`` found by walking up, ``--config`` or ``$IDFLOW_CONFIG``.

Every relative path in the config is resolved against the project root, the folder that holds
``config/`` (or the working directory when there is no config file).
"""

from __future__ import annotations

import fnmatch
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from idflow.errors import ConfigError
from idflow.masking import redact_urls, split_userinfo
from idflow.repo import safefile, yamlfile

CONFIG_RELATIVE_PATH = Path("config") / "idflow.yml"
DEFAULT_SERVER_URL = "http://localhost:8080/api"
DEFAULT_MAX_RESPONSE_MB = 64  # the most idflow reads of one server answer (the full list of workflows)
MAX_RESPONSE_MB_LIMIT = 4096
MAX_RETRIES = 10  # with backoff capped at 4 s, a down server still ends a command within about a minute


@dataclass(frozen=True)
class Credentials:
    """Orkes key id and secret. Never printed: ``repr`` hides both."""

    key_id: str = field(repr=False)
    key_secret: str = field(repr=False)

    def __repr__(self) -> str:
        return "Credentials(<hidden>)"


@dataclass(frozen=True)
class Config:
    root: Path
    source: Path | None
    server_url: str
    credentials: Credentials | None
    timeout_seconds: float
    retries: int
    tasks_dir: Path
    workflows_dir: Path
    stages_dir: Path
    state_dir: Path
    owner_email: str | None
    ignore: tuple[str, ...]
    vars: dict[str, Any]
    # User and password written in the server URL (``http://user:password@host/api``): sent as HTTP basic
    # auth, never part of ``server_url`` (which is printed and written to plan files), never printed.
    server_user: str | None = field(default=None, repr=False)
    server_password: str | None = field(default=None, repr=False)
    max_response_bytes: int = 64 * 1024 * 1024
    tasks_dir_origin: str | None = None  # "file:line" where tasks_dir is set; None: the default
    events_dir: Path | None = None  # None: <root>/idflow/events (configs built by hand)
    schedules_dir: Path | None = None  # None: <root>/idflow/schedules
    manage_paused: bool = False  # schedules.manage_paused: the files' paused wins over an operator's

    def require_tasks_dir(self) -> Path:
        """The tasks folder, which must exist: a missing one would mean zero local tasks, and every task
        the project owns planned for deletion. The error says what to fix or create."""
        if self.tasks_dir.is_dir():
            return self.tasks_dir
        shown = self.relative(self.tasks_dir)
        if self.tasks_dir_origin is not None:
            raise ConfigError(
                f"{self.tasks_dir_origin}: tasks_dir {shown!r} does not exist: fix the path, or create the folder"
            )
        if self.source is not None:
            raise ConfigError(
                f"{self.tasks_dir}: the tasks folder does not exist (the default tasks_dir, as {self.source} "
                "sets none): create it (empty if the project has no tasks yet), or set tasks_dir"
            )
        raise ConfigError(
            f"{self.tasks_dir}: no tasks folder, and no {CONFIG_RELATIVE_PATH} here or above: create "
            f"{CONFIG_RELATIVE_PATH} and {shown}/ (see the README), or run idflow inside the project"
        )

    project: str | None = None  # names this project's apply record on a shared server (idflow.apply.record)
    # Environments (``environments:``): the one chosen (None: the project has none), every name the config
    # defines, whether it is protected, its field overrides, and where the choice came from.
    environment: str | None = None
    environment_names: tuple[str, ...] = ()
    protected: bool = False
    overrides: tuple[Override, ...] = ()
    environment_origin: str = ""  # "--env", "IDFLOW_ENV" or "default_environment (file:line)"

    def relative(self, path: Path) -> str:
        """``path`` relative to the project root when it is inside it (for messages and plan sources)."""
        try:
            return str(Path(path).relative_to(self.root))
        except ValueError:
            return str(path)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in output (masked by the logging and rendering layers)."""
        values = [self.server_password]
        if self.credentials is not None:
            values += [self.credentials.key_id, self.credentials.key_secret]
        if self.server_password:
            values.append(quote(self.server_password, safe=""))  # as written in the URL
        return tuple(dict.fromkeys(s for s in values if s))

    @property
    def server_url_with_login(self) -> str:
        """The server URL with its user and password again: only for the SDK's own clients (workers),
        which send them as basic auth. Never print it."""
        if self.server_user is None and self.server_password is None:
            return self.server_url
        scheme, _, rest = self.server_url.partition("://")
        login = quote(self.server_user or "", safe="")
        if self.server_password is not None:
            login += ":" + quote(self.server_password, safe="")
        return f"{scheme}://{login}@{rest}"


@dataclass(frozen=True)
class Override:
    """Fields one environment sets on every task (``kind`` "task") or workflow whose name matches
    ``pattern`` (a glob), over what the files say; ``origin`` is "file:line" of the entry."""

    kind: str
    pattern: str
    fields: Mapping[str, Any]
    origin: str

    def matches(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.pattern)


# key -> (expected types, description used in error messages)
_TOP_LEVEL: dict[str, tuple[tuple[type, ...], str]] = {
    "conductor_server_url": ((str,), "a URL"),
    "conductor_api_key_env_var": ((str,), "an environment variable name"),
    "conductor_api_secret_env_var": ((str,), "an environment variable name"),
    "conductor": ((dict,), "a mapping"),
    "tasks_dir": ((str,), "a path"),
    "workflows_dir": ((str,), "a path"),
    "events_dir": ((str,), "a path"),
    "schedules_dir": ((str,), "a path"),
    "schedules": ((dict,), "a mapping"),
    "stages_dir": ((str,), "a path"),
    "state_dir": ((str,), "a path"),
    "owner_email": ((str,), "an email address"),
    "project": ((str,), "a project name"),
    "ignore": ((list,), "a list of glob patterns"),
    "vars": ((dict,), "a mapping"),
    "environments": ((dict,), "a mapping of environment names to their settings"),
    "default_environment": ((str,), "an environment name"),
}
_ENVIRONMENT_BLOCK: dict[str, tuple[tuple[type, ...], str]] = {
    "server_url": ((str,), "a URL"),
    "api_key_env_var": ((str,), "an environment variable name"),
    "api_secret_env_var": ((str,), "an environment variable name"),
    "owner_email": ((str,), "an email address"),
    "vars": ((dict,), "a mapping"),
    "overrides": ((dict,), "a mapping with 'tasks' and/or 'workflows', each of glob -> fields"),
    "protected": ((bool,), "true or false"),
}
ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")  # also a folder name under state_dir
_CONDUCTOR_BLOCK: dict[str, tuple[tuple[type, ...], str]] = {
    "server_url": ((str,), "a URL"),
    "api_key_env_var": ((str,), "an environment variable name"),
    "api_secret_env_var": ((str,), "an environment variable name"),
    "timeout_seconds": ((int, float), "a number of seconds"),
    "retries": ((int,), "a whole number"),
    "max_response_mb": ((int, float), "a number of megabytes"),
}
_SCHEDULES_BLOCK: dict[str, tuple[tuple[type, ...], str]] = {
    "manage_paused": ((bool,), "true or false"),
}

#: What load_config checks of the values beyond their types, as JSON Schema (``idflow schema`` reads
#: these tables; tests/unit/test_schema.py checks that a file breaking each fails both).
_VALUE_RULES: dict[str, dict[str, Any]] = {
    "conductor_server_url": {"pattern": r"^(\s*https?://|$)"},
    "conductor.server_url": {"pattern": r"^(\s*https?://|$)"},
    "conductor.timeout_seconds": {"exclusiveMinimum": 0},
    "conductor.retries": {"minimum": 0, "maximum": MAX_RETRIES},
    "owner_email": {"pattern": "@"},
    "ignore": {"items": {"type": "string", "minLength": 1}},
}


def normalise_server_url(url: str) -> str:
    """``http://h:8080``, ``http://h:8080/``, ``http://h:8080/api/`` all become ``http://h:8080/api``."""
    cleaned = url.strip().rstrip("/")
    if not cleaned.startswith(("http://", "https://")):
        raise ConfigError(f"server URL {redact_urls(url)!r} must start with http:// or https://")
    if not cleaned.endswith("/api"):
        cleaned += "/api"
    return cleaned


def find_config_file(start: Path) -> Path | None:
    """The nearest ``config/idflow.yml`` from ``start`` up to the repository root (a folder holding
    ``.git``), skipping, with a warning, one that another user owns: that file would choose the server
    and which environment variables are sent to it as credentials (git's ``safe.directory`` rule)."""
    uid = os.geteuid()
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_RELATIVE_PATH
        try:
            owners = {os.lstat(candidate).st_uid, os.stat(candidate).st_uid}
        except OSError:
            owners = set()
        if owners and candidate.is_dir():
            owners = set()
        if owners and owners != {uid}:
            from idflow.log import get_logger

            get_logger("idflow.config").warning(
                f"ignoring {candidate}: it is owned by another user (pass --config to use it anyway)"
            )
        elif owners:
            return candidate
        if os.path.lexists(folder / ".git"):
            break  # the repository root: a config above it belongs to something else
    return None


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    try:
        text = yamlfile.read_text(path, "config file", limit=safefile.CONFIG_FILE_LIMIT)
        data = yamlfile.load(text)
    except yamlfile.YamlProblem as problem:
        raise ConfigError(f"{path}:{problem.line}:{problem.col}: {problem.message}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the config must be a mapping of keys to values")
    return data, yamlfile.key_lines(text)


def _check_keys(
    data: dict[str, Any],
    schema: dict[str, tuple[tuple[type, ...], str]],
    path: Path,
    lines: dict[str, int],
    prefix: str = "",
) -> None:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        where = f"{path}:{lines.get(dotted, 1)}"
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise ConfigError(f"{where}: unknown key {dotted!r} (known keys: {known})")
        types, description = schema[key]
        if value is None:
            continue
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise ConfigError(f"{where}: {dotted!r} must be {description}, not {type(value).__name__}")


def load_config(
    explicit: str | os.PathLike[str] | None = None,
    cwd: Path | None = None,
    environ: dict[str, str] | os._Environ[str] | None = None,
    environment: str | None = None,
    environment_origin: str = "--env",
) -> Config:
    """Load and validate the configuration; environment variables override the file.

    ``environment`` chooses one of ``environments:`` (else ``$IDFLOW_ENV``, else ``default_environment``);
    its settings override the top level. A config without ``environments:`` refuses any choice."""
    env = os.environ if environ is None else environ
    cwd = (cwd or Path.cwd()).resolve()
    chosen = explicit or env.get("IDFLOW_CONFIG") or None
    if chosen:
        source: Path | None = Path(chosen).expanduser()
        if not source.is_absolute():
            source = cwd / source
        if not source.exists():
            raise ConfigError(f"{source}: config file not found")
    else:
        source = find_config_file(cwd)

    data: dict[str, Any] = {}
    lines: dict[str, int] = {}
    if source is not None:
        data, lines = _read_yaml(source)
        _check_keys(data, _TOP_LEVEL, source, lines)
        _check_keys(data.get("conductor") or {}, _CONDUCTOR_BLOCK, source, lines, "conductor.")
        _check_keys(data.get("schedules") or {}, _SCHEDULES_BLOCK, source, lines, "schedules.")
        root = source.parent.parent if source.parent.name == "config" else source.parent
    else:
        root = cwd
    block = data.get("conductor") or {}

    def pick(flat: str, nested: str) -> Any:
        return block.get(nested) if block.get(nested) is not None else data.get(flat)

    def where(key: str) -> str:
        return f"{source}:{lines.get(key, 1)}" if source else "environment"

    chosen_env, env_origin = _choose_environment(data, lines, source, env, environment, environment_origin)
    settings: dict[str, Any] = (data.get("environments") or {}).get(chosen_env) or {} if chosen_env else {}
    prefix = f"environments.{chosen_env}."

    # An environment's own server URL wins over CONDUCTOR_SERVER_URL: one variable set in a shell or a CI
    # job must not send the plan of every environment to the same server.
    url = settings.get("server_url") or env.get("CONDUCTOR_SERVER_URL") or pick("conductor_server_url", "server_url")
    url = url or DEFAULT_SERVER_URL
    try:
        server_url = normalise_server_url(url)
    except ConfigError as exc:
        if settings.get("server_url"):
            origin = where(prefix + "server_url")
        else:
            origin = "CONDUCTOR_SERVER_URL" if env.get("CONDUCTOR_SERVER_URL") else where("conductor_server_url")
        raise ConfigError(f"{origin}: {exc}") from None
    server_url, server_user, server_password = split_userinfo(server_url)

    key_var = (
        settings.get("api_key_env_var") or pick("conductor_api_key_env_var", "api_key_env_var") or "CONDUCTOR_AUTH_KEY"
    )
    secret_var = (
        settings.get("api_secret_env_var")
        or pick("conductor_api_secret_env_var", "api_secret_env_var")
        or "CONDUCTOR_AUTH_SECRET"
    )
    # An environment that names its own variables reads only those: prod never falls back to the
    # generic CONDUCTOR_AUTH_* a developer exported for dev.
    own_vars = bool(settings.get("api_key_env_var") or settings.get("api_secret_env_var"))
    key_id = env.get(key_var) or (None if own_vars else env.get("CONDUCTOR_AUTH_KEY"))
    key_secret = env.get(secret_var) or (None if own_vars else env.get("CONDUCTOR_AUTH_SECRET"))
    if bool(key_id) != bool(key_secret):
        missing = secret_var if key_id else key_var
        raise ConfigError(f"an API key is set but {missing} is not: set both or neither")
    credentials = Credentials(key_id, key_secret) if key_id and key_secret else None

    timeout = block.get("timeout_seconds", 30)
    retries = block.get("retries", 4)
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"{where('conductor.timeout_seconds')}: 'conductor.timeout_seconds' must be > 0")
    if timeout is not None and not math.isfinite(timeout):
        raise ConfigError(f"{where('conductor.timeout_seconds')}: 'conductor.timeout_seconds' must be finite")
    max_response_mb = block.get("max_response_mb", DEFAULT_MAX_RESPONSE_MB)
    if max_response_mb is not None and not (0 < max_response_mb <= MAX_RESPONSE_MB_LIMIT):
        raise ConfigError(
            f"{where('conductor.max_response_mb')}: 'conductor.max_response_mb' must be > 0 and at most "
            f"{MAX_RESPONSE_MB_LIMIT}"
        )
    if retries is not None and not 0 <= retries <= MAX_RETRIES:
        raise ConfigError(f"{where('conductor.retries')}: 'conductor.retries' must be from 0 to {MAX_RETRIES}")

    ignore = data.get("ignore") or []
    for pattern in ignore:
        if not isinstance(pattern, str) or not pattern:
            raise ConfigError(f"{where('ignore')}: 'ignore' entries must be non-empty strings")
    owner_email = settings.get("owner_email") or data.get("owner_email")
    if owner_email is not None and "@" not in owner_email:
        key = prefix + "owner_email" if settings.get("owner_email") else "owner_email"
        raise ConfigError(f"{where(key)}: {key!r} {owner_email!r} is not an email address")

    def folder(key: str, default: str) -> Path:
        path = root / (data.get(key) or default)
        try:
            return path.resolve()
        except (RuntimeError, OSError) as exc:  # a symbolic link loop (RuntimeError before Python 3.13)
            origin = where(key) if key in data else "default"
            raise ConfigError(f"{path}: cannot resolve the {key} folder ({origin}): {exc}") from None

    return Config(
        root=root,
        source=source,
        server_url=server_url,
        credentials=credentials,
        timeout_seconds=float(timeout if timeout is not None else 30),
        retries=int(retries if retries is not None else 4),
        tasks_dir=folder("tasks_dir", "idflow/tasks"),
        workflows_dir=folder("workflows_dir", "idflow/workflows"),
        events_dir=folder("events_dir", "idflow/events"),
        schedules_dir=folder("schedules_dir", "idflow/schedules"),
        manage_paused=bool((data.get("schedules") or {}).get("manage_paused")),
        stages_dir=folder("stages_dir", "idflow/stages"),
        # Plan files, reports and the checkout lock of one environment never meet another's.
        state_dir=folder("state_dir", "state") / chosen_env if chosen_env else folder("state_dir", "state"),
        owner_email=owner_email or None,
        ignore=tuple(ignore),
        vars={**(data.get("vars") or {}), **(settings.get("vars") or {})},
        server_user=server_user,
        server_password=server_password,
        max_response_bytes=int((max_response_mb or DEFAULT_MAX_RESPONSE_MB) * 1024 * 1024),
        tasks_dir_origin=where("tasks_dir") if data.get("tasks_dir") else None,
        project=data.get("project") or None,
        environment=chosen_env,
        environment_names=tuple(data.get("environments") or {}),
        protected=bool(settings.get("protected")),
        overrides=_overrides(settings.get("overrides") or {}, _shown(source, root), lines, prefix + "overrides"),
        environment_origin=env_origin,
    )


def _choose_environment(
    data: dict[str, Any],
    lines: dict[str, int],
    source: Path | None,
    env: Mapping[str, str],
    asked: str | None,
    asked_origin: str,
) -> tuple[str | None, str]:
    """The environment to use and where the choice came from; checks every environment's block."""
    environments = data.get("environments") or {}
    default = data.get("default_environment")

    def where(key: str) -> str:
        return f"{source}:{lines.get(key, 1)}"

    for name, block in environments.items():
        if not isinstance(name, str) or not ENV_NAME.match(name):
            raise ConfigError(
                f"{where('environments.' + str(name))}: environment name {name!r} must be letters, digits, "
                "'_', '-' or '.' (it names a folder under state_dir)"
            )
        if block is None:
            continue
        if not isinstance(block, dict):
            raise ConfigError(f"{where('environments.' + name)}: environment {name!r} must be a mapping")
        _check_keys(block, _ENVIRONMENT_BLOCK, source or Path("config"), lines, f"environments.{name}.")
        url = block.get("server_url")
        if url is not None:
            try:
                normalise_server_url(url)
            except ConfigError as exc:
                raise ConfigError(f"{where(f'environments.{name}.server_url')}: {exc}") from None
    if default is not None and default not in environments:
        known = ", ".join(environments) or "none defined"
        raise ConfigError(
            f"{where('default_environment')}: default_environment {default!r} is not one of the environments ({known})"
        )
    if asked is None and env.get("IDFLOW_ENV"):
        asked, asked_origin = env["IDFLOW_ENV"], "IDFLOW_ENV"
    if asked is not None:
        if not environments:
            raise ConfigError(
                f"{asked_origin} {asked}: {source or 'the config'} defines no environments; add an "
                "'environments:' section, or leave out the choice"
            )
        if asked not in environments:
            raise ConfigError(
                f"{asked_origin} {asked}: no such environment in {source} (defined: {', '.join(environments)})"
            )
        return asked, asked_origin
    if environments:
        if default is None:
            raise ConfigError(
                f"{where('environments')}: the config defines environments ({', '.join(environments)}) and no "
                "default_environment: choose one with --env NAME or IDFLOW_ENV"
            )
        return default, f"default_environment ({where('default_environment')})"
    return None, ""


def _overrides(raw: dict[str, Any], source: str, lines: dict[str, int], prefix: str) -> tuple[Override, ...]:
    """``overrides: {tasks: {GLOB: {field: value}}, workflows: {...}}`` checked against the server's model;
    task fields may be written in snake_case as in task files. Later entries win over earlier ones."""
    from idflow.kinds.normal import TASKDEF_KEYWORDS
    from idflow.kinds.server_model import TASK_DEF, WORKFLOW_DEF

    def where(key: str) -> str:
        return f"{source}:{lines.get(key, lines.get(prefix, 1))}"

    found: list[Override] = []
    for section, value in raw.items():
        key = f"{prefix}.{section}"
        if section not in ("tasks", "workflows"):
            raise ConfigError(f"{where(key)}: unknown key {key!r} (known keys: tasks, workflows)")
        if not isinstance(value, dict):
            raise ConfigError(f"{where(key)}: {key!r} must be a mapping of name globs to fields")
        struct = TASK_DEF if section == "tasks" else WORKFLOW_DEF
        for pattern, fields in value.items():
            entry = f"{key}.{pattern}"
            if not isinstance(pattern, str) or not pattern:
                raise ConfigError(f"{where(entry)}: a name glob must be a non-empty string")
            if not isinstance(fields, dict) or not fields:
                raise ConfigError(f"{where(entry)}: {pattern!r} must map field names to values")
            chosen: dict[str, Any] = {}
            for name, setting in fields.items():
                camel = TASKDEF_KEYWORDS.get(name, name) if section == "tasks" else _camel(name)
                spec = struct.fields.get(camel)
                at = where(f"{entry}.{name}")
                if spec is None or camel in ("name", "version", "tasks", "ownerEmail") or camel in struct.server_owned:
                    raise ConfigError(f"{at}: {name!r} is not a {struct.name} field an environment can override")
                problem = _type_problem(spec.type, spec.choices, setting)
                if problem:
                    raise ConfigError(f"{at}: {name!r} {problem}")
                chosen[camel] = setting
            found.append(Override(section[:-1], pattern, MappingProxyType(chosen), where(entry)))
    return tuple(found)


def _shown(source: Path | None, root: Path) -> str:
    """The config file as plans show it: relative to the project root (plans name files that way)."""
    if source is None:
        return "config"
    try:
        return str(source.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(source)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _type_problem(type_: str, choices: tuple[str, ...], value: Any) -> str:
    expected = {"string": str, "integer": int, "boolean": bool, "object": dict}.get(type_)
    if expected is None:
        expected = list if type_.startswith("list[") else dict
    if value is None or isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
        return f"must be {'a whole number' if expected is int else type_}, not {type(value).__name__}"
    if choices and value not in choices:
        return f"must be one of {', '.join(choices)}, not {value!r}"
    return ""


def environment_names(
    explicit: str | os.PathLike[str] | None = None,
    cwd: Path | None = None,
    environ: dict[str, str] | os._Environ[str] | None = None,
) -> tuple[str, ...]:
    """The environments the config defines, in the order written (for ``--all-envs``), choosing none."""
    env = os.environ if environ is None else environ
    cwd = (cwd or Path.cwd()).resolve()
    chosen = explicit or env.get("IDFLOW_CONFIG") or None
    source = (cwd / Path(chosen).expanduser()) if chosen else find_config_file(cwd)
    if source is None or not source.exists():
        return ()
    data, _lines = _read_yaml(source)
    environments = data.get("environments") or {}
    return tuple(str(n) for n in environments) if isinstance(environments, dict) else ()
