"""Desired task definitions, read from the workers' source with ``ast``: no task code ever runs.

Layout: ``<tasks_dir>/<name>/<name>.py`` (plus any other ``*.py``, in subfolders too, and an optional
``requirements.txt`` in that folder). Every ``.py`` file in the tasks tree is parsed (test files excepted);
a file that does not parse is a problem. The worker styles of conductor-python that can be read statically
are tasks:

- a module-level function (or a ``@staticmethod`` of a module-level class) decorated with
  ``@worker_task(...)`` -- idflow's drop-in or the SDK's -- or the legacy ``@WorkerTask(...)``; the
  decorator's keywords (and ``task_def=TaskDef(...)``) are its definition;
- ``Worker(task_definition_name=..., execute_function=..., task_def_template=TaskDef(...))`` at module
  level;
- a module-level ``WorkerInterface`` subclass whose name is a literal: returned by
  ``get_task_definition_name``, passed to ``super().__init__``, assigned to ``self.task_definition_name``,
  or a class attribute.

Any other worker (one made inside a function, a name that needs the code to run) is a problem at its line.
One task name may have several workers in different domains; they share one definition.
"""

from __future__ import annotations

import ast
import difflib
import functools
import keyword
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from idflow.decorator import RUNTIME_KEYWORDS, SDK_TASKDEF_KEYWORDS, SDK_WORKER_KEYWORDS
from idflow.errors import DefinitionError, Problem
from idflow.kinds.normal import (
    RETRY_LOGICS,
    SCHEMA_FIELDS,
    SCHEMA_TYPES,
    TASKDEF_DEFAULTS,
    TASKDEF_KEYWORDS,
    TIMEOUT_POLICIES,
    camel_to_snake,
    normalise_taskdef,
)
from idflow.kinds.ownership import ForeignOwner, owner_to_write
from idflow.repo import safefile
from idflow.repo.read_cache import TASK_FILES, ReadCache, problem_data, problem_from
from idflow.repo.static import ModuleScope, NotStatic, evaluate

MAX_FILE_BYTES = safefile.TASK_FILE_LIMIT
MAX_NAME_LENGTH = 200
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

IDFLOW_DECORATORS = frozenset({"idflow.worker_task", "idflow.decorator.worker_task"})
SDK_DECORATORS = frozenset({"conductor.client.worker.worker_task.worker_task", "conductor.client.worker_task"})
SDK_LEGACY_DECORATORS = frozenset({"conductor.client.worker.worker_task.WorkerTask"})
TASKDEF_CLASSES = frozenset({"conductor.client.http.models.task_def.TaskDef", "conductor.client.http.models.TaskDef"})
WORKER_CLASSES = frozenset({"conductor.client.worker.worker.Worker"})
WORKER_INTERFACES = frozenset({
    "conductor.client.worker.worker_interface.WorkerInterface", "conductor.client.WorkerInterface",
})  # fmt: skip
# Parameters, in order, of conductor-python 2.0's ``Worker(...)``; all but the first three are runtime only.
_WORKER_PARAMETERS = (
    "task_definition_name", "execute_function", "poll_interval", "domain", "worker_id", "thread_count",
    "register_task_def", "poll_timeout", "lease_extend_enabled", "paused", "task_def_template",
    "overwrite_task_def", "strict_schema", "register_schema",
)  # fmt: skip
# Positional parameters, in order, of each decorator.
_POSITIONAL = {
    "idflow": ("task_definition_name",),
    "sdk": ("task_definition_name", *SDK_WORKER_KEYWORDS),
    "legacy": (
        "task_definition_name", "poll_interval", "domain", "worker_id", "poll_interval_seconds",
        "thread_count", "register_task_def", "poll_timeout", "lease_extend_enabled", "register_schema",
    ),
}  # fmt: skip
_RUNTIME = {
    "idflow": RUNTIME_KEYWORDS,
    "sdk": frozenset(SDK_WORKER_KEYWORDS),
    "legacy": frozenset(_POSITIONAL["legacy"][1:]),
}
# What ``from <module> import *`` brings in, of the names discovery looks for.
_STAR_EXPORTS = {
    "idflow": ("worker_task",),
    "idflow.decorator": ("worker_task",),
    "conductor.client": ("worker_task", "WorkerInterface"),
    "conductor.client.worker.worker_task": ("worker_task", "WorkerTask"),
    "conductor.client.worker.worker": ("Worker",),
    "conductor.client.worker.worker_interface": ("WorkerInterface",),
    "conductor.client.http.models": ("TaskDef",),
    "conductor.client.http.models.task_def": ("TaskDef",),
}
# A file with none of these cannot define a worker: it is parsed (for syntax errors) but not read further.
_FILE_MARKERS = (b"worker_task", b"WorkerTask", b"Worker")
UNKNOWN_DOMAIN = "<not readable>"


@dataclass(frozen=True)
class WorkerSource:
    """One worker of a task: where it is and how ``idflow worker start`` finds it after importing ``module``.

    ``style`` is "function" (a decorated function; ``symbol`` its qualified name), "object" (a module-level
    ``Worker(...)``; ``symbol`` its execute function's name, if a plain name) or "class" (a
    ``WorkerInterface`` subclass; ``symbol`` the class name).
    """

    path: Path
    line: int
    module: str
    style: str
    symbol: str | None
    domain: str | None


@dataclass(frozen=True)
class LocalTask:
    name: str
    definition: dict[str, Any]
    path: Path
    line: int
    function: str
    module: str
    requirements: tuple[str, ...]
    requirements_path: Path | None
    workers: tuple[WorkerSource, ...] = ()
    notes: tuple[Problem, ...] = ()  # worth saying, not wrong (a TaskDef name the SDK overrides)


# -- validation of one definition -----------------------------------------------------------------

# Integer fields: (minimum, maximum). The maxima are the server's Java int/long.
_INT_FIELDS: dict[str, tuple[int, int]] = {
    "retryCount": (0, INT32_MAX),
    "timeoutSeconds": (0, INT64_MAX),
    "retryDelaySeconds": (0, INT32_MAX),
    "responseTimeoutSeconds": (1, INT64_MAX),
    "rateLimitPerFrequency": (0, INT32_MAX),
    "rateLimitFrequencyInSeconds": (0, INT32_MAX),
    "backoffScaleFactor": (1, INT32_MAX),
    "maxRetryDelaySeconds": (0, INT32_MAX),
    "backoffJitterMs": (0, INT32_MAX),
    "totalTimeoutSeconds": (0, INT64_MAX),
    "concurrentExecLimit": (0, INT32_MAX),
    "pollTimeoutSeconds": (0, INT32_MAX),
}
_STR_FIELDS = ("description", "ownerEmail", "isolationGroupId", "executionNameSpace", "baseType")
_ENUM_FIELDS = {"timeoutPolicy": TIMEOUT_POLICIES, "retryLogic": RETRY_LOGICS}
_STR_LIST_FIELDS = ("inputKeys", "outputKeys")
_DICT_FIELDS = ("inputTemplate", "inputSchema", "outputSchema")


class FieldIssue(NamedTuple):
    """A problem with a definition; ``fields`` are the camelCase fields to point at, best first."""

    fields: tuple[str, ...]
    message: str


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return not value.isascii() and _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_surrogate(v) for v in value)
    return False


def _schema_problems(schema: Mapping[str, Any]) -> list[str]:
    problems = []
    unknown = sorted(set(schema) - set(SCHEMA_FIELDS))
    if unknown:
        problems.append(
            f"unknown key(s) {', '.join(map(repr, unknown))} (the server drops them; known: {', '.join(SCHEMA_FIELDS)})"
        )
    if not isinstance(schema.get("name"), str) or not schema.get("name"):
        problems.append("'name' must be a non-empty string")
    if schema.get("type") not in SCHEMA_TYPES:
        problems.append(f"'type' must be one of {', '.join(SCHEMA_TYPES)}, not {_shown(schema.get('type'))}")
    version = schema.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
        problems.append(f"'version' must be a whole number >= 1, not {_shown(version)}")
    if schema.get("data") is not None and not isinstance(schema.get("data"), dict):
        problems.append("'data' must be a mapping")
    return problems


def _shown(value: Any) -> str:
    """A value from a task file in a message: its repr, at most 60 characters, control characters escaped."""
    return safefile.short(repr(value), safefile.EXCERPT_CHARS)


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def check_definition(definition: Mapping[str, Any], *, snake_case: bool = False) -> list[FieldIssue]:
    """Every problem with a task definition (server JSON shape, camelCase). None means "not set".

    ``snake_case`` names fields as the decorator keywords (``retry_count``) instead of ``retryCount``.
    """

    def label(field: str) -> str:
        return camel_to_snake(field) if snake_case else field

    issues: list[FieldIssue] = []

    def add(field: str | tuple[str, ...], message: str) -> None:
        issues.append(FieldIssue((field,) if isinstance(field, str) else field, message))

    name = definition.get("name")
    if not isinstance(name, str) or not name:
        add("name", f"the task name must be a non-empty string, not {_shown(name)}")
    elif len(name) > MAX_NAME_LENGTH:
        add("name", f"the task name is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed")
    elif not NAME_PATTERN.fullmatch(name):
        add("name", f"the task name {_shown(name)} may only contain letters, digits, '_', '.' and '-'")

    valid_ints: dict[str, int] = {}
    for field, (low, high) in _INT_FIELDS.items():
        value = definition.get(field)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            add(field, f"{label(field)} must be a whole number, not {_type_name(value)} {_shown(value)}")
        elif value < low:
            add(field, f"{label(field)} must be >= {low}, not {value}")
        elif value > high:
            add(field, f"{label(field)} is too large ({value} > {high})")
        else:
            valid_ints[field] = value
    for field in _STR_FIELDS:
        value = definition.get(field)
        if value is not None and not isinstance(value, str):
            add(field, f"{label(field)} must be a string, not {_type_name(value)} {_shown(value)}")
    owner = definition.get("ownerEmail")
    if isinstance(owner, str) and owner and "@" not in owner:
        add("ownerEmail", f"{label('ownerEmail')} {_shown(owner)} is not an email address")
    for field, allowed in _ENUM_FIELDS.items():
        value = definition.get(field)
        if value is not None and value not in allowed:
            add(field, f"{label(field)} must be one of {', '.join(allowed)}, not {_shown(value)}")
    for field in _STR_LIST_FIELDS:
        value = definition.get(field)
        if value is not None and (not isinstance(value, list) or not all(isinstance(item, str) for item in value)):
            add(field, f"{label(field)} must be a list of strings, not {_shown(value)}")
    for field in _DICT_FIELDS:
        value = definition.get(field)
        if value is None:
            continue
        if not isinstance(value, dict):
            add(field, f"{label(field)} must be a mapping, not {_type_name(value)} {_shown(value)}")
        elif not all(isinstance(key, str) for key in value):
            add(field, f"{label(field)} keys must be strings")
    for field, value in definition.items():
        if _has_surrogate(value):
            add(field, f"{label(field)}: a string holds a lone surrogate (such as \\ud800): not valid Unicode text")
    for field in ("inputSchema", "outputSchema"):
        schema = definition.get(field)
        if isinstance(schema, dict):
            for message in _schema_problems(schema):
                add(field, f"{label(field)}: {message}")
    enforce = definition.get("enforceSchema")
    if enforce is not None and not isinstance(enforce, bool):
        add("enforceSchema", f"{label('enforceSchema')} must be True or False, not {_shown(enforce)}")

    def effective(field: str) -> int | None:
        """The value the server will use, or None when the given value is invalid."""
        if definition.get(field) is None:
            return int(TASKDEF_DEFAULTS[field])
        return valid_ints.get(field)

    timeout, response, total = (
        effective(f) for f in ("timeoutSeconds", "responseTimeoutSeconds", "totalTimeoutSeconds")
    )
    if timeout is not None and response is not None and timeout > 0 and response > timeout:
        if definition.get("responseTimeoutSeconds") is None:
            add(
                "timeoutSeconds",
                f"{label('timeoutSeconds')}={timeout} is less than the default "
                f"{label('responseTimeoutSeconds')} ({response}), which the server rejects: "
                f"set {label('responseTimeoutSeconds')} to at most {timeout}",
            )
        else:
            add(
                ("responseTimeoutSeconds", "timeoutSeconds"),
                f"{label('responseTimeoutSeconds')} ({response}) must not exceed {label('timeoutSeconds')} ({timeout})",
            )
    if timeout is not None and total is not None and timeout > 0 and total > 0 and timeout > total:
        add(
            ("timeoutSeconds", "totalTimeoutSeconds"),
            f"{label('timeoutSeconds')} ({timeout}) must not exceed {label('totalTimeoutSeconds')} ({total})",
        )
    return issues


def validate_definition(definition: Mapping[str, Any], *, snake_case: bool = False) -> list[str]:
    """The messages of ``check_definition``: an empty list means the definition is valid."""
    return [issue.message for issue in check_definition(definition, snake_case=snake_case)]


# -- requirements.txt -------------------------------------------------------------------------------

_COMMENT = re.compile(r"(^|\s)#.*$")


@functools.lru_cache(maxsize=4096)
def _parse_requirement(line: str) -> tuple[str | None, str | None]:
    """(normalised requirement, None) or (None, error). Cached: the same lines recur across tasks."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        requirement = Requirement(line)
    except InvalidRequirement as exc:
        return None, safefile.short((str(exc).splitlines() or [""])[0], 120)
    requirement.name = canonicalize_name(requirement.name)
    return str(requirement), None


def parse_requirements(path: Path, data: bytes) -> tuple[tuple[str, ...], list[Problem]]:
    """The normalised PEP 508 requirements of one requirements.txt, and its problems."""
    problems: list[Problem] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, col = _byte_position(data, exc.start)
        return (), [Problem(str(path), line, col, "the file is not UTF-8")]
    requirements: list[str] = []
    pending = ""
    pending_line = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            pending_line = number
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line = _COMMENT.sub("", pending + raw).strip()
        pending = ""
        if not line:
            continue
        if line.startswith("-"):
            option = line.split()[0]
            problems.append(Problem(
                str(path), pending_line, 1,
                f"pip option {option!r} is not supported: list one requirement (PEP 508) per line",
            ))  # fmt: skip
            continue
        requirement, error = _parse_requirement(line)
        if requirement is None:
            message = f"invalid requirement {safefile.excerpt(line)}: {error}"
            problems.append(Problem(str(path), pending_line, 1, message))
        else:
            requirements.append(requirement)
    return tuple(requirements), problems


# -- reading source files ---------------------------------------------------------------------------


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - start + 1


def _qualified(node: ast.expr, aliases: Mapping[str, str]) -> str | None:
    """The imported dotted name an expression like ``wt`` or ``idflow.worker_task`` refers to."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    parts.append(aliases[node.id])
    return ".".join(reversed(parts))


def _decorator_kind(qualified: str | None) -> str | None:
    if qualified in IDFLOW_DECORATORS:
        return "idflow"
    if qualified in SDK_DECORATORS:
        return "sdk"
    if qualified in SDK_LEGACY_DECORATORS:
        return "legacy"
    return None


_HOW = (
    "declare workers at module level: @worker_task(task_definition_name='...') on a module-level function, a "
    "module-level Worker(task_definition_name='...', ...), or a WorkerInterface subclass naming its task with "
    "a literal (README: Writing tasks)"
)


def _not_a_decorator(qualified: str) -> str:
    return (
        f"this {qualified.rsplit('.', 1)[-1]}(...) is not a decorator of a module-level function, so its task "
        f"cannot be read without running the code; {_HOW}"
    )


def _name(node: ast.expr) -> str | None:
    return node.id if isinstance(node, ast.Name) else None


def _returned(method: ast.FunctionDef | ast.AsyncFunctionDef | None) -> ast.expr | None:
    """The expression a method returns, when its body is just ``return <expr>`` (after a docstring)."""
    if method is None:
        return None
    body = method.body[1:] if ast.get_docstring(method) is not None else method.body
    if len(body) == 1 and isinstance(body[0], ast.Return) and body[0].value is not None:
        return body[0].value
    return None


def _init_value(init: ast.FunctionDef | ast.AsyncFunctionDef | None, attribute: str) -> ast.expr | None:
    """What ``__init__`` sets ``attribute`` to: ``self.<attribute> = x``, or (for the task name) the first
    argument of ``super().__init__(x)`` / ``Base.__init__(self, x)``. The last such statement wins."""
    if init is None:
        return None
    found: ast.expr | None = None
    for stmt in init.body:
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "self"
                    and target.attr in (attribute, f"_{attribute}")
                ):
                    found = stmt.value
        elif (
            attribute == "task_definition_name"
            and isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Attribute)
            and stmt.value.func.attr == "__init__"
        ):
            call = stmt.value
            via_super = (
                isinstance(call.func.value, ast.Call)
                and isinstance(call.func.value.func, ast.Name)
                and (call.func.value.func.id == "super")
            )
            args = call.args if via_super else call.args[1:]
            keyword = next((k.value for k in call.keywords if k.arg == attribute), None)
            if args or keyword is not None:
                found = args[0] if args else keyword
    return found


def _docstring_summary(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    docstring = ast.get_docstring(func, clean=True)
    if not docstring:
        return None
    paragraph = re.split(r"\n\s*\n", docstring.strip(), maxsplit=1)[0]
    return " ".join(paragraph.split()) or None


def _is_module_name(part: str) -> bool:
    return part.isidentifier() and not keyword.iskeyword(part)


_SIMPLE_VALUES = (ast.Constant, ast.Name)


def _holds_no_call(stmt: ast.stmt) -> bool:
    """Whether a module-level statement obviously holds no call (a docstring, ``X = 60``, ``pass``): most
    of a module, not walked for ``Worker(...)`` calls."""
    if isinstance(stmt, ast.Expr):
        return isinstance(stmt.value, _SIMPLE_VALUES)
    if isinstance(stmt, ast.Assign):
        return isinstance(stmt.value, _SIMPLE_VALUES) and all(isinstance(t, ast.Name) for t in stmt.targets)
    return isinstance(stmt, ast.Pass | ast.Global | ast.Nonlocal)


class _Found(NamedTuple):
    """A worker read from one file: ``fields`` is empty when it has problems (kept to find duplicates)."""

    name: str
    fields: dict[str, Any]
    explicit: frozenset[str]  # fields the source gives (not derived from a docstring or the config)
    at_line: int  # where the name is
    at_col: int  # its 0-based ``col_offset``
    line: int
    style: str
    symbol: str | None
    domain: str | None
    notes: tuple[Problem, ...]


class _FileReader:
    """Finds the tasks of one parsed file. Problems go to ``problems``; tasks to ``tasks``."""

    def __init__(self, path: Path, text: str, tree: ast.Module, owner_email: str | None):
        self.path = path
        self.text = text
        self.tree = tree
        self.owner_email = owner_email
        self.scope = ModuleScope(tree)
        self.problems: list[Problem] = []
        self.notes: list[Problem] = []
        self._notes_taken = 0
        self.tasks: list[_Found] = []
        self._lines: list[str] | None = None
        self._handled: set[int] = set()  # ids of the worker nodes read (the rest are refused)
        self._bases: set[str] = set()  # this file's WorkerInterface subclasses without execute()
        functions = ast.FunctionDef | ast.AsyncFunctionDef
        self._functions = {stmt.name: stmt for stmt in self.scope.statements if isinstance(stmt, functions)}

    def problem(self, node: ast.AST | None, message: str) -> None:
        self.problems.append(self._at(node, message))

    def note(self, node: ast.AST | None, message: str) -> None:
        self.notes.append(self._at(node, message))

    def _at(self, node: ast.AST | None, message: str) -> Problem:
        if node is None or not hasattr(node, "lineno"):
            return Problem(str(self.path), 0, 0, message)
        return Problem(str(self.path), node.lineno, self.column(node), message)

    def column(self, node: ast.AST) -> int:
        """1-based character column (``col_offset`` counts UTF-8 bytes)."""
        offset: int = node.col_offset  # type: ignore[attr-defined]
        if self._lines is None:
            self._lines = self.text.splitlines()
        line_index = node.lineno - 1  # type: ignore[attr-defined]
        if line_index < len(self._lines):
            line = self._lines[line_index]
            if not line.isascii():
                return len(line.encode("utf-8")[:offset].decode("utf-8", errors="ignore")) + 1
        return offset + 1

    def read(self) -> None:
        aliases: dict[str, str] = {}
        imported: dict[str, str] = {}  # every module-level import, also those rebound later (for refusals)
        for stmt, bound in zip(self.scope.statements, self.scope.bound, strict=True):
            if isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        aliases[top] = top
                imported.update(aliases)
                continue
            if isinstance(stmt, ast.ImportFrom):
                for alias in stmt.names:
                    if alias.name == "*":
                        for exported in _STAR_EXPORTS.get(stmt.module or "", ()) if stmt.level == 0 else ():
                            aliases[exported] = f"{stmt.module}.{exported}"
                        continue
                    local = alias.asname or alias.name
                    if stmt.level == 0 and stmt.module:
                        aliases[local] = f"{stmt.module}.{alias.name}"
                    else:
                        aliases.pop(local, None)
                imported.update(aliases)
                continue
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                self._read_decorated(stmt, aliases, stmt.name)
            elif isinstance(stmt, ast.ClassDef):
                self._read_class(stmt, aliases)
            elif not isinstance(stmt, ast.ExceptHandler) and not _holds_no_call(stmt):
                self._read_worker_objects(stmt, aliases)
            for name in bound:
                aliases.pop(name, None)
        self._refuse_the_rest(imported)

    def _read_decorated(
        self, func: ast.FunctionDef | ast.AsyncFunctionDef, aliases: Mapping[str, str], qualname: str
    ) -> bool:
        """Read the worker decorators of ``func``; whether it had any."""
        found = False
        for decorator in func.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            kind = _decorator_kind(_qualified(target, aliases))
            if kind is not None:
                found = True
                self._handled.add(id(decorator))
                self._read_task(func, decorator, kind, aliases, qualname)
        return found

    def _read_class(self, cls: ast.ClassDef, aliases: Mapping[str, str]) -> None:
        for item in cls.body:
            if not isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            decorators = [
                d for d in item.decorator_list
                if _decorator_kind(_qualified(d.func if isinstance(d, ast.Call) else d, aliases)) is not None
            ]  # fmt: skip
            if not decorators:
                continue
            if any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in item.decorator_list):
                self._read_decorated(item, aliases, f"{cls.name}.{item.name}")
                continue
            self._handled.update(id(d) for d in decorators)
            self.problem(
                item,
                f"worker_task on the method {cls.name}.{item.name}: the worker would be called without "
                "`self`; make it a @staticmethod or a module-level function",
            )
        if any(_qualified(base, aliases) in WORKER_INTERFACES or _name(base) in self._bases for base in cls.bases):
            self._handled.add(id(cls))
            if "execute" in {f.name for f in cls.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)}:
                self._read_worker_class(cls)
            else:  # no execute(): a base class of workers, not a worker
                self._bases.add(cls.name)

    def _read_worker_objects(self, stmt: ast.stmt, aliases: Mapping[str, str]) -> None:
        """``Worker(...)`` calls anywhere in a module-level statement (not in functions or lambdas)."""
        pending: list[ast.AST] = [stmt]
        while pending:
            node = pending.pop()
            if isinstance(node, ast.Lambda) or (isinstance(node, ast.stmt) and node is not stmt):
                continue  # nested statements come from iter_module_statements on their own
            if isinstance(node, ast.Call):
                qualified = _qualified(node.func, aliases)
                if qualified in WORKER_CLASSES:
                    self._handled.add(id(node))
                    self._read_worker_object(node, aliases)
                elif _decorator_kind(qualified) is not None:
                    self._handled.add(id(node))
                    self.problem(node, _not_a_decorator(qualified))
            pending.extend(ast.iter_child_nodes(node))

    def _refuse_the_rest(self, aliases: Mapping[str, str]) -> None:
        """Every worker definition not read above is a problem: it would run, but cannot be read.

        Fast: a function or class body is only searched when its text names a worker API (``worker_task``,
        ``WorkerTask``, ``Worker*`` or a local alias of one); bodies that do not are most of a file.
        """
        names = {"worker_task", "WorkerTask", "Worker"} | {
            local for local, qualified in aliases.items()
            if qualified in WORKER_CLASSES or qualified in WORKER_INTERFACES or _decorator_kind(qualified)
        }  # fmt: skip
        if self._lines is None:
            self._lines = self.text.splitlines()
        lines = self._lines
        known = dict(aliases)
        pending: list[ast.AST] = [
            stmt for stmt in self.scope.statements
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ]  # fmt: skip
        while pending:
            node = pending.pop()
            if id(node) in self._handled and not isinstance(node, ast.ClassDef):
                continue
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
                header = [*getattr(node, "decorator_list", ()), *getattr(node, "bases", ())]
                pending.extend(header)
                text = "\n".join(lines[node.lineno - 1 : node.end_lineno])
                if not any(name in text for name in names):
                    continue
                if (
                    isinstance(node, ast.ClassDef)
                    and id(node) not in self._handled
                    and any(_qualified(base, known) in WORKER_INTERFACES for base in node.bases)
                ):
                    self.problem(
                        node,
                        f"the WorkerInterface subclass {node.name} is not defined at module "
                        f"level, so its task cannot be read without running the code; {_HOW}",
                    )
                body = node.body if isinstance(node.body, list) else [node.body]
                for inner in ast.walk(ast.Module(body=body, type_ignores=[])):
                    if isinstance(inner, ast.ImportFrom) and inner.level == 0 and inner.module:
                        for alias in inner.names:
                            if alias.name != "*":
                                known[alias.asname or alias.name] = f"{inner.module}.{alias.name}"
                pending.extend(body)
                continue
            if isinstance(node, ast.Call) and id(node) not in self._handled:
                qualified = _qualified(node.func, known)
                if qualified in WORKER_CLASSES:
                    self.problem(
                        node,
                        f"this Worker(...) is made inside a function or class, so its task cannot "
                        f"be read without running the code; {_HOW}",
                    )
                elif _decorator_kind(qualified) is not None:
                    self.problem(node, _not_a_decorator(qualified))
            pending.extend(ast.iter_child_nodes(node))

    def _value(self, field: str, node: ast.expr) -> tuple[bool, Any]:
        try:
            value = evaluate(node, self.scope)
        except NotStatic as exc:
            self.problem(exc.node, f"{field}: cannot be read without running the code ({exc.reason})")
            return False, None
        except RecursionError:
            self.problem(
                node,
                f"{field}: constants nested too deeply to read (a chain of constants or an "
                "expression thousands of levels deep)",
            )
            return False, None
        return True, value

    def _read_task(
        self,
        func: ast.FunctionDef | ast.AsyncFunctionDef,
        decorator: ast.expr,
        kind: str,
        aliases: Mapping[str, str],
        qualname: str,
    ) -> None:
        if not isinstance(decorator, ast.Call):
            self.problem(
                decorator,
                "@worker_task must be called with the task name: @worker_task(task_definition_name=...)",
            )
            return
        count = len(self.problems)
        positional = _POSITIONAL[kind]
        arguments = self._arguments(
            decorator,
            positional,
            lambda arg: (
                f"*{ast.unparse(arg.value)}: cannot be read without running the code"
                if isinstance(arg, ast.Starred)
                else f"worker_task takes at most {len(positional)} positional argument(s)"
            ),
        )

        name_node: ast.expr | None = None
        task_def: ast.expr | None = None
        fields: dict[str, Any] = {}
        where: dict[str, ast.AST] = {}
        failed: set[str] = set()
        domain: str | None = None
        for arg_name, value, at in arguments:
            if arg_name == "task_definition_name":
                name_node = value
            elif arg_name == "domain":
                domain = self._domain(value)
            elif arg_name == "task_def" and kind != "legacy":
                if not (isinstance(value, ast.Constant) and value.value is None):
                    task_def = value
            elif arg_name in _RUNTIME[kind]:
                continue
            elif arg_name in TASKDEF_KEYWORDS and kind == "idflow":
                field = TASKDEF_KEYWORDS[arg_name]
                where[field] = value
                ok, fields[field] = self._value(arg_name, value)
                if not ok:
                    failed.add(field)
            elif arg_name in TASKDEF_KEYWORDS:
                self.problem(
                    at,
                    f"{arg_name}: the SDK's worker_task does not accept task-definition keywords "
                    "(a TypeError when the module is imported); import the decorator from idflow instead: "
                    "`from idflow import worker_task`",
                )
            else:
                known = sorted(
                    _RUNTIME[kind]
                    | ({"task_def"} if kind != "legacy" else set())
                    | (set(TASKDEF_KEYWORDS) if kind == "idflow" else set())
                )
                close = difflib.get_close_matches(arg_name, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.problem(at, f"unknown keyword argument {arg_name!r} of worker_task{hint}")

        if task_def is not None:
            if kind == "idflow" and where:
                self.problem(
                    task_def,
                    "task_def: give the definition either as task_def=TaskDef(...) or as keywords "
                    f"({', '.join(sorted(camel_to_snake(f) for f in where))}), not both",
                )
            else:
                self._read_task_def(task_def, aliases, fields, where, failed)

        name: Any = None
        if name_node is None:
            self.problem(decorator, "task_definition_name is missing")
            failed.add("name")
        else:
            name = self._task_name(name_node, fields, where, failed)
        fields["name"] = name
        self._finish(
            fields,
            failed,
            where,
            decorator,
            count,
            func,
            name_node or decorator,
            "function",
            qualname,
            domain,
        )

    def _overridden_name(self, node: ast.AST, taskdef_name: Any, name: Any) -> None:
        self.note(
            node,
            f"TaskDef name {taskdef_name!r} differs from task_definition_name {name!r}: the SDK registers "
            f"the task as {name!r} (its name wins), and so does idflow",
        )

    def _domain(self, node: ast.expr) -> str | None:
        """A worker's domain, or UNKNOWN_DOMAIN when it needs the code to run (only a problem for duplicates)."""
        try:
            value = evaluate(node, self.scope)
        except (NotStatic, RecursionError):
            return UNKNOWN_DOMAIN
        return value if isinstance(value, str) or value is None else UNKNOWN_DOMAIN

    def _task_name(self, name_node: ast.expr, fields: dict[str, Any], where: dict[str, Any], failed: set[str]) -> Any:
        """``task_definition_name``'s value; a ``TaskDef(name=...)`` read before that differs is a note (the
        SDK overrides it)."""
        taskdef_name = fields.get("name") if "name" not in failed else None
        ok, name = self._value("task_definition_name", name_node)
        if not ok:
            failed.add("name")
        elif taskdef_name is not None and taskdef_name != name:
            self._overridden_name(where["name"], taskdef_name, name)
        where["name"] = name_node
        return name

    def _finish(
        self,
        fields: dict[str, Any],
        failed: set[str],
        where: dict[str, ast.AST],
        at: ast.AST,
        count: int,
        doc_node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | None,
        name_node: ast.AST,
        style: str,
        symbol: str | None,
        domain: str | None,
    ) -> None:
        """Fill the derived fields, validate, and record the worker (without fields when it has problems)."""
        name = fields.get("name")
        explicit = frozenset(k for k in fields if k not in failed and k != "name")
        decorator = at
        func = doc_node

        if fields.get("description") is None and "description" not in failed and func is not None:
            summary = _docstring_summary(func)
            if summary is not None:
                fields["description"] = summary
                where["description"] = func.body[0]
        written = fields.get("ownerEmail")
        if "ownerEmail" not in failed and not (isinstance(written, str) and written and "@" not in written):
            try:  # (a value that is no address at all is reported by check_definition below)
                fields["ownerEmail"] = owner_to_write(self.owner_email, written)
            except ForeignOwner as exc:
                self.problem(where.get("ownerEmail", decorator), f"owner_email: {exc}")

        readable = {k: v for k, v in fields.items() if k not in failed}
        for issue in check_definition(readable, snake_case=True):
            if issue.fields[0] in failed:
                continue
            node = next((where[f] for f in issue.fields if f in where), decorator)
            self.problem(node, issue.message)
        line = at.lineno if style == "object" or doc_node is None else doc_node.lineno  # type: ignore[attr-defined]
        notes = tuple(self.notes[self._notes_taken :])  # those said while reading this worker
        self._notes_taken = len(self.notes)
        if isinstance(name, str):
            ok = len(self.problems) == count
            self.tasks.append(_Found(
                name, fields if ok else {}, explicit, name_node.lineno, name_node.col_offset,  # type: ignore[attr-defined]
                line, style, symbol, domain, notes,
            ))  # fmt: skip

    def _arguments(
        self, call: ast.Call, positional: Sequence[str], positional_problem: Callable[[ast.expr], str]
    ) -> list[tuple[str, ast.expr, ast.AST]]:
        """A call's arguments as ``(keyword, value, where the keyword is)``, positional ones named by
        ``positional``; what cannot be read without running the code is a problem."""
        arguments: list[tuple[str, ast.expr, ast.AST]] = []
        for index, arg in enumerate(call.args):
            if isinstance(arg, ast.Starred) or index >= len(positional):
                self.problem(arg, positional_problem(arg))
            else:
                arguments.append((positional[index], arg, arg))
        for kw in call.keywords:
            if kw.arg is None:
                self.problem(kw, f"**{ast.unparse(kw.value)}: cannot be read without running the code")
            else:
                arguments.append((kw.arg, kw.value, kw))
        return arguments

    def _read_worker_object(self, call: ast.Call, aliases: Mapping[str, str]) -> None:
        """``Worker(task_definition_name=..., execute_function=..., task_def_template=TaskDef(...), ...)``."""
        count = len(self.problems)
        arguments = self._arguments(
            call,
            _WORKER_PARAMETERS,
            lambda _arg: "Worker(...): this positional argument cannot be read; pass it by keyword",
        )
        name_node: ast.expr | None = None
        execute: ast.expr | None = None
        domain: str | None = None
        fields: dict[str, Any] = {}
        where: dict[str, ast.AST] = {}
        failed: set[str] = set()
        for arg_name, value, at in arguments:
            if arg_name == "task_definition_name":
                name_node = value
            elif arg_name == "execute_function":
                execute = value
            elif arg_name == "domain":
                domain = self._domain(value)
            elif arg_name == "task_def_template":
                if not (isinstance(value, ast.Constant) and value.value is None):
                    self._read_task_def(value, aliases, fields, where, failed)
            elif arg_name not in _WORKER_PARAMETERS:
                close = difflib.get_close_matches(arg_name, _WORKER_PARAMETERS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.problem(at, f"unknown keyword argument {arg_name!r} of Worker{hint}")
        name: Any = None
        if name_node is None:
            self.problem(call, "Worker(...): task_definition_name is missing")
        else:
            name = self._task_name(name_node, fields, where, failed)
        fields["name"] = name
        symbol = execute.id if isinstance(execute, ast.Name) else None
        doc_node = self._functions.get(symbol) if symbol else None
        self._finish(fields, failed, where, call, count, doc_node, name_node or call, "object", symbol, domain)

    def _read_worker_class(self, cls: ast.ClassDef) -> None:
        """A ``WorkerInterface`` subclass whose task name is written in the class."""
        count = len(self.problems)
        methods = {f.name: f for f in cls.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)}
        attributes = {
            stmt.targets[0].id: stmt.value
            for stmt in cls.body
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
        }
        init = methods.get("__init__")
        name_node = _returned(methods.get("get_task_definition_name")) or _init_value(init, "task_definition_name")
        name_node = name_node or attributes.get("task_definition_name")
        if name_node is None:
            self.problem(
                cls,
                f"the task name of the worker class {cls.name} is given where the class is used, so it cannot be "
                f"read without running the code; name it in the class: super().__init__('task_name') in "
                f"{cls.name}.__init__ (README: Writing tasks)",
            )
            return
        name_node = self._class_value(cls, name_node, attributes, init, "task_definition_name")
        domain_node = _returned(methods.get("get_domain")) or _init_value(init, "domain") or attributes.get("domain")
        domain = None
        if domain_node is not None:
            domain_node = self._class_value(cls, domain_node, attributes, init, None)
            domain = UNKNOWN_DOMAIN if domain_node is None else self._domain(domain_node)
        if name_node is None:
            return
        fields: dict[str, Any] = {}
        failed: set[str] = set()
        ok, fields["name"] = self._value("task_definition_name", name_node)
        if not ok:
            failed.add("name")
        self._finish(fields, failed, {"name": name_node}, cls, count, cls, name_node, "class", cls.name, domain)

    def _class_value(
        self,
        cls: ast.ClassDef,
        node: ast.expr,
        attributes: Mapping[str, ast.expr],
        init: ast.FunctionDef | ast.AsyncFunctionDef | None,
        field: str | None,
    ) -> ast.expr | None:
        """``self.attr`` as the class attribute; an ``__init__`` parameter as its default (idflow creates the
        worker as ``Cls()``). None (with a problem when ``field`` is given) when neither applies."""
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and node.attr in attributes
        ):
            return attributes[node.attr]
        if init is not None and isinstance(node, ast.Name):
            args = init.args
            positional = [*args.posonlyargs, *args.args]
            defaults = dict(
                zip([a.arg for a in positional][len(positional) - len(args.defaults) :], args.defaults, strict=True)
            )
            defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d})
            if node.id in defaults:
                return defaults[node.id]
            if node.id in {a.arg for a in (*positional, *args.kwonlyargs)}:
                if field is not None:
                    self.problem(
                        node,
                        f"the task name of the worker class {cls.name} is the __init__ parameter {node.id!r}, "
                        "given where the class is used, so it cannot be read without running the code; name it "
                        f"in the class: super().__init__('task_name') (README: Writing tasks)",
                    )
                return None
        return node

    def _read_task_def(
        self,
        node: ast.expr,
        aliases: Mapping[str, str],
        fields: dict[str, Any],
        where: dict[str, ast.AST],
        failed: set[str],
    ) -> None:
        call: ast.expr = node
        if isinstance(node, ast.Name):
            try:
                call = self.scope.constant_node(node.id, node)
            except NotStatic as exc:
                self.problem(node, f"task_def: cannot be read without running the code ({exc.reason})")
                failed.add("task_def")
                return
        if not (isinstance(call, ast.Call) and _qualified(call.func, aliases) in TASKDEF_CLASSES):
            reason = "not a TaskDef(...) imported from conductor.client.http.models"
            self.problem(node, f"task_def: cannot be read without running the code ({reason})")
            failed.add("task_def")
            return
        for arg in call.args:
            self.problem(arg, "TaskDef(...): pass the fields by keyword")
        for kw in call.keywords:
            if kw.arg is None:
                self.problem(kw, f"**{ast.unparse(kw.value)}: cannot be read without running the code")
                failed.add("task_def")
                continue
            if kw.arg == "name":
                field = "name"
            elif kw.arg in TASKDEF_KEYWORDS and kw.arg in SDK_TASKDEF_KEYWORDS:
                field = TASKDEF_KEYWORDS[kw.arg]
            elif kw.arg in TASKDEF_KEYWORDS:
                self.problem(
                    kw,
                    f"{kw.arg}: conductor-python's TaskDef does not accept it (a TypeError when the module "
                    "is imported); give it to idflow's decorator instead: `from idflow import worker_task`, "
                    f"@worker_task(..., {kw.arg}=...)",
                )
                continue
            else:
                self.problem(kw, f"TaskDef({kw.arg}=...) is not a task-definition field idflow manages")
                continue
            where[field] = kw.value
            ok, fields[field] = self._value(kw.arg, kw.value)
            if not ok:
                failed.add(field)


# -- discovery --------------------------------------------------------------------------------------


_SKIPPED_FOLDERS = frozenset({"__pycache__"})


def read_file(path: str, data: bytes, owner_email: str | None) -> tuple[list[Problem], list[_Found], bool]:
    """The problems and workers of one task file's bytes, and whether that result lasts (the same bytes
    always give it: not so for running out of memory)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _byte_position(data, exc.start)
        message = f"the file is not UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8"
        return [Problem(path, line, col, message)], [], True
    text = text.removeprefix("\ufeff")
    # Every file is parsed: one that does not parse cannot be imported either, and may hold a worker.
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        return [Problem(path, exc.lineno or 0, exc.offset or 0, f"syntax error: {exc.msg}")], [], True
    except (ValueError, RecursionError, MemoryError) as exc:
        return [Problem(path, 0, 0, f"cannot be parsed: {exc}")], [], isinstance(exc, ValueError)
    if not any(marker in data for marker in _FILE_MARKERS):
        return [], [], True
    reader = _FileReader(Path(path), text, tree, owner_email)
    reader.read()
    return reader.problems, reader.tasks, True


def _encoded(problems: list[Problem], found: list[_Found]) -> list[Any]:
    """A file's result as JSON data (``_decoded`` reverses it)."""
    return [
        [problem_data(p) for p in problems],
        [
            [f.name, f.fields, sorted(f.explicit), f.at_line, f.at_col, f.line, f.style, f.symbol, f.domain,
             [problem_data(n) for n in f.notes]]
            for f in found
        ],
    ]  # fmt: skip


def _decoded(payload: Any) -> tuple[list[Problem], list[_Found]]:
    """Raises TypeError or ValueError for anything ``_encoded`` does not write."""
    problems, found = payload
    return [problem_from(p) for p in problems], [_found(f) for f in found]


def _found(raw: Any) -> _Found:
    name, fields, explicit, at_line, at_col, line, style, symbol, domain, notes = raw
    if not (
        isinstance(name, str) and isinstance(fields, dict) and all(isinstance(f, str) for f in explicit)
        and all(type(n) is int for n in (at_line, at_col, line)) and style in ("function", "object", "class")
        and all(v is None or isinstance(v, str) for v in (symbol, domain))
    ):  # fmt: skip
        raise TypeError("not a worker")
    return _Found(
        name, fields, frozenset(explicit), at_line, at_col, line, style, symbol, domain,
        tuple(problem_from(n) for n in notes),
    )  # fmt: skip


def _is_test_file(name: str) -> bool:
    return name.startswith("test_") or name.endswith("_test.py")


class _Placed(NamedTuple):
    """A worker found in a file, with where its file is."""

    found: _Found
    path: Path
    module: str | None
    requirements: tuple[str, ...]
    requirements_path: Path | None


class _Discovery:
    def __init__(
        self, tasks_dir: Path, owner_email: str | None, import_root: Path | None, cache: ReadCache | None = None
    ):
        self.tasks_dir = tasks_dir
        self.owner_email = owner_email
        self.cache = cache
        self.import_root = import_root if import_root is not None else tasks_dir.parent
        self.within = (self.import_root, tasks_dir)  # where files (and linked folders) may resolve to
        self.problems: list[Problem] = []
        self.placed: list[_Placed] = []
        self.base_module: tuple[str, ...] | None = None

    def problem(self, path: Path | str, message: str, line: int = 0, col: int = 0) -> None:
        self.problems.append(Problem(str(path), line, col, message))

    def run(self) -> tuple[list[LocalTask], list[Problem]]:
        try:
            entries = sorted(os.scandir(self.tasks_dir), key=lambda e: e.name)
        except FileNotFoundError:
            return [], []
        except OSError as exc:
            self.problem(self.tasks_dir, f"cannot read the tasks folder: {exc.strerror or exc}")
            return [], self.problems
        self.base_module = self._base_module()
        for entry in entries:
            if entry.name.startswith(".") or entry.name in _SKIPPED_FOLDERS:
                continue
            try:
                is_dir = entry.is_dir()
            except OSError as exc:
                self.problem(entry.path, f"cannot read: {exc.strerror or exc}")
                continue
            if is_dir and self._leaves(entry):
                continue
            if is_dir and entry.name.startswith("_"):
                self._tree(entry.path, (entry.name,), (), None)  # shared code, not a task folder: no layout rule
            elif is_dir:
                self._folder(entry)
            elif entry.is_symlink() and not os.path.exists(entry.path):
                self.problem(entry.path, "is a broken symbolic link")
            elif entry.name.endswith(".py") and not _is_test_file(entry.name):
                self._file(entry.path, (entry.name[:-3],), (), None)
        tasks = self._tasks()
        if self.cache is not None:
            self.cache.save()
        return tasks, sorted(self.problems, key=lambda p: (p.path, p.line, p.col, p.message))

    def _base_module(self) -> tuple[str, ...] | None:
        try:
            relative = self.tasks_dir.resolve().relative_to(self.import_root.resolve())
        except (ValueError, OSError):
            self.problem(self.tasks_dir, f"the tasks folder is not inside the import root {self.import_root}")
            return None
        for part in relative.parts:
            if not _is_module_name(part):
                self.problem(
                    self.tasks_dir,
                    f"{part!r} is not a valid Python module name, so workers cannot be imported from here",
                )
                return None
        return relative.parts

    def _folder(self, folder: os.DirEntry[str]) -> None:
        entries = self._entries(folder.path, "cannot read the task folder")
        if entries is None:
            return
        names = {entry.name for entry in entries}
        if f"{folder.name}.py" not in names:
            self.problem(folder.path, f"a task folder must hold {folder.name}.py (the worker's module)")
        requirements: tuple[str, ...] = ()
        requirements_path: Path | None = None
        if "requirements.txt" in names:
            requirements_path = Path(folder.path, "requirements.txt")
            data = self._read(str(requirements_path))
            if data is not None:
                requirements, problems = parse_requirements(requirements_path, data)
                self.problems.extend(problems)
        self._tree(folder.path, (folder.name,), requirements, requirements_path, entries)

    def _entries(self, folder: str, cannot: str) -> list[os.DirEntry[str]] | None:
        try:
            return sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            self.problem(folder, f"{cannot}: {exc.strerror or exc}")
            return None

    def _tree(
        self,
        folder: str,
        parts: tuple[str, ...],
        requirements: tuple[str, ...],
        requirements_path: Path | None,
        entries: list[os.DirEntry[str]] | None = None,
    ) -> None:
        """Every ``.py`` under ``folder`` (subfolders too), test files, hidden folders and caches excepted.
        ``parts``: the folder's path below the tasks folder (its module path)."""
        if entries is None:
            entries = self._entries(folder, "cannot read the folder")
            if entries is None:
                return
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name in _SKIPPED_FOLDERS:
                continue
            try:
                is_dir = entry.is_dir()
            except OSError as exc:
                self.problem(entry.path, f"cannot read: {exc.strerror or exc}")
                continue
            if not is_dir:
                if name.endswith(".py") and not _is_test_file(name):
                    self._file(entry.path, (*parts, name[:-3]), requirements, requirements_path)
            elif not self._leaves(entry):
                self._tree(entry.path, (*parts, name), requirements, requirements_path)

    def _leaves(self, entry: os.DirEntry[str]) -> bool:
        """Whether a folder entry is a link to a folder outside the project (a problem; not walked)."""
        if not entry.is_symlink():
            return False
        real = os.path.realpath(entry.path)
        if any(real == os.path.realpath(f) or real.startswith(os.path.realpath(f) + os.sep) for f in self.within):
            return False
        self.problem(entry.path, "is a symbolic link to a folder outside the project; not read")
        return True

    def _read(self, path: str) -> bytes | None:
        try:
            return safefile.read_bytes(path, limit=MAX_FILE_BYTES, within=self.within, parents_checked=True)
        except safefile.UnsafeFile as exc:
            self.problem(path, f"the file {exc}")
            return None
        except OSError as exc:
            self.problem(path, f"cannot read: {exc.strerror or exc}")
            return None

    def _file(
        self, path: str, parts: tuple[str, ...], requirements: tuple[str, ...], requirements_path: Path | None
    ) -> None:
        """One ``.py`` file; ``parts``: its path below the tasks folder, without ``.py`` (its module path)."""
        data = self._read(path)
        if not data:  # unreadable (a problem already), or empty: nothing to parse
            return
        problems, found = self._read_file(path, data)
        self.problems.extend(problems)
        if not found:
            return
        module = self._module(path, parts)
        file_path = Path(path)
        for one in found:
            self.placed.append(_Placed(one, file_path, module, requirements, requirements_path))

    def _read_file(self, path: str, data: bytes) -> tuple[list[Problem], list[_Found]]:
        """What ``read_file`` gives, from the cache when this file's bytes were read before."""
        if self.cache is None:
            return read_file(path, data, self.owner_email)[:2]

        def read() -> tuple[tuple[list[Problem], list[_Found]], Any]:
            problems, found, lasting = read_file(path, data, self.owner_email)
            return (problems, found), (_encoded(problems, found) if lasting else None)

        result: tuple[list[Problem], list[_Found]] = self.cache.result(path, data, read, _decoded)
        return result

    def _module(self, path: str, parts: tuple[str, ...]) -> str | None:
        """The dotted import path of a task file; None (with a problem) if it cannot be imported so."""
        if self.base_module is None:
            return None
        bad = [part for part in parts if part != "__init__" and not _is_module_name(part)]
        if bad:
            self.problem(
                path,
                f"{bad[0]!r} is not a valid Python module name, so the worker cannot be imported; "
                "rename it (letters, digits and '_')",
            )
            return None
        return ".".join([*self.base_module, *(parts[:-1] if parts[-1] == "__init__" else parts)])

    def _tasks(self) -> list[LocalTask]:
        """One task per name: its workers (one per domain) must agree on the definition."""
        by_name: dict[str, list[_Placed]] = {}
        for placed in self.placed:
            by_name.setdefault(placed.found.name, []).append(placed)
        tasks = []
        for name, places in sorted(by_name.items()):
            places.sort(key=lambda p: (str(p.path), p.found.at_line))
            definition = self._merge(name, places)
            if definition is None or any(p.module is None for p in places):
                continue
            first = places[0]
            tasks.append(LocalTask(
                name=name,
                definition=normalise_taskdef(definition),
                path=first.path,
                line=first.found.line,
                function=first.found.symbol or "",
                module=first.module or "",
                requirements=first.requirements,
                requirements_path=first.requirements_path,
                workers=tuple(
                    WorkerSource(p.path, p.found.line, p.module or "", p.found.style, p.found.symbol, p.found.domain)
                    for p in places
                ),
                notes=tuple(n for p in places for n in p.found.notes),
            ))  # fmt: skip
        return tasks

    def _merge(self, name: str, places: list[_Placed]) -> dict[str, Any] | None:
        """The one definition of a task with several workers, or None (with problems)."""
        first = places[0]
        if len(places) == 1:
            return first.found.fields or None
        ok = all(p.found.fields for p in places)
        seen: dict[str | None, _Placed] = {}
        for placed in places:
            found = placed.found
            where = f"{placed.path}:{found.at_line}"
            col = found.at_col + 1
            if found.domain == UNKNOWN_DOMAIN:
                self.problems.append(Problem(
                    str(placed.path), found.at_line, col,
                    f"task {name!r} has {len(places)} workers and this one's domain cannot be read without "
                    "running the code; write each worker's domain as a literal",
                ))  # fmt: skip
                ok = False
            elif found.domain in seen:
                other = seen[found.domain]
                self.problems.append(Problem(
                    str(placed.path), found.at_line, col,
                    f"duplicate task name {name!r}: defined at {other.path}:{other.found.at_line} "
                    f"and at {where}" + (f" (both in domain {found.domain!r})" if found.domain else ""),
                ))  # fmt: skip
                ok = False
            else:
                seen[found.domain] = placed
        if not ok:
            return None
        merged: dict[str, Any] = {}
        given: dict[str, _Placed] = {}
        for placed in places:
            for field in sorted(placed.found.explicit):
                value = placed.found.fields.get(field)
                if field in given and merged[field] != value:
                    other = given[field]
                    self.problems.append(Problem(
                        str(placed.path), placed.found.at_line, 0,
                        f"task {name!r} (domain {placed.found.domain!r}) gives {camel_to_snake(field)}={value!r}, "
                        f"but its worker at {other.path}:{other.found.at_line} (domain "
                        f"{other.found.domain!r}) gives {merged[field]!r}: workers of one task share one "
                        "definition; give the field the same value (or on one worker only)",
                    ))  # fmt: skip
                    ok = False
                elif field not in given:
                    merged[field], given[field] = value, placed
        if not ok:
            return None
        for placed in places:  # derived fields (docstring description, configured owner) from the first
            for field, value in placed.found.fields.items():
                merged.setdefault(field, value)
        issues = check_definition(merged, snake_case=True)
        for issue in issues:
            self.problems.append(Problem(
                str(first.path), first.found.at_line, 0,
                f"task {name!r}, the definition its workers give together: {issue.message}",
            ))  # fmt: skip
        return None if issues else merged


def discover_tasks(
    tasks_dir: Path,
    *,
    owner_email: str | None = None,
    import_root: Path | None = None,
    cache_dir: Path | None = None,
) -> list[LocalTask]:
    """Every task under ``tasks_dir``, sorted by name, read statically (no task code runs).

    ``owner_email`` fills ``ownerEmail`` where the decorator does not set it. Module paths are relative to
    ``import_root`` (default: the folder holding ``tasks_dir``). A missing ``tasks_dir`` means no tasks.
    Raises DefinitionError carrying every problem found.
    """
    tasks, problems = discover_tasks_partial(
        tasks_dir, owner_email=owner_email, import_root=import_root, cache_dir=cache_dir
    )
    if problems:
        raise DefinitionError(problems, what="task")
    return tasks


def discover_tasks_partial(
    tasks_dir: Path,
    *,
    owner_email: str | None = None,
    import_root: Path | None = None,
    cache_dir: Path | None = None,
) -> tuple[list[LocalTask], list[Problem]]:
    """Like ``discover_tasks`` but never raises: the tasks that are fine, and every problem.

    A task with a problem of its own is left out, and so is every task of a duplicated name; problems of
    other files (a bad requirements.txt, a missing module) do not remove anything else. With ``cache_dir``,
    each file's result is kept there for the next run (``read_cache``).
    """
    cache = ReadCache(cache_dir, TASK_FILES, owner_email) if cache_dir is not None else None
    return _Discovery(Path(tasks_dir), owner_email, import_root, cache).run()
