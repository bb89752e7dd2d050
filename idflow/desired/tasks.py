"""Desired task definitions, read from the workers' source with ``ast``: no task code ever runs.

Layout: ``<tasks_dir>/<name>/<name>.py`` (plus any other ``*.py`` and an optional ``requirements.txt``
in that folder). Every function decorated with ``@worker_task(...)`` -- idflow's drop-in or the SDK's --
is a task; the decorator's keywords (and ``task_def=TaskDef(...)``) are its definition.
"""

from __future__ import annotations

import ast
import difflib
import functools
import keyword
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from idflow.decorator import RUNTIME_KEYWORDS, SDK_TASKDEF_KEYWORDS, SDK_WORKER_KEYWORDS
from idflow.desired.static import ModuleScope, NotStatic, bound_names, evaluate, iter_module_statements
from idflow.errors import DefinitionError, Problem
from idflow.normal import (
    RETRY_LOGICS,
    SCHEMA_FIELDS,
    SCHEMA_TYPES,
    TASKDEF_DEFAULTS,
    TASKDEF_KEYWORDS,
    TIMEOUT_POLICIES,
    camel_to_snake,
    normalise_taskdef,
)
from idflow.ownership import ForeignOwner, owner_to_write

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_NAME_LENGTH = 200
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

IDFLOW_DECORATORS = frozenset({"idflow.worker_task", "idflow.decorator.worker_task"})
SDK_DECORATORS = frozenset({"conductor.client.worker.worker_task.worker_task", "conductor.client.worker_task"})
SDK_LEGACY_DECORATORS = frozenset({"conductor.client.worker.worker_task.WorkerTask"})
TASKDEF_CLASSES = frozenset({"conductor.client.http.models.task_def.TaskDef", "conductor.client.http.models.TaskDef"})
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
    "conductor.client": ("worker_task",),
    "conductor.client.worker.worker_task": ("worker_task", "WorkerTask"),
    "conductor.client.http.models": ("TaskDef",),
    "conductor.client.http.models.task_def": ("TaskDef",),
}
_FILE_MARKERS = (b"worker_task", b"WorkerTask")


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


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= ch <= "\udfff" for ch in value)
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
        problems.append(f"'type' must be one of {', '.join(SCHEMA_TYPES)}, not {schema.get('type')!r}")
    version = schema.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
        problems.append(f"'version' must be a whole number >= 1, not {version!r}")
    if schema.get("data") is not None and not isinstance(schema.get("data"), dict):
        problems.append("'data' must be a mapping")
    return problems


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
        add("name", f"the task name must be a non-empty string, not {name!r}")
    elif len(name) > MAX_NAME_LENGTH:
        add("name", f"the task name is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed")
    elif not NAME_PATTERN.fullmatch(name):
        add("name", f"the task name {name!r} may only contain letters, digits, '_', '.' and '-'")

    valid_ints: dict[str, int] = {}
    for field, (low, high) in _INT_FIELDS.items():
        value = definition.get(field)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            add(field, f"{label(field)} must be a whole number, not {_type_name(value)} {value!r}")
        elif value < low:
            add(field, f"{label(field)} must be >= {low}, not {value}")
        elif value > high:
            add(field, f"{label(field)} is too large ({value} > {high})")
        else:
            valid_ints[field] = value
    for field in _STR_FIELDS:
        value = definition.get(field)
        if value is not None and not isinstance(value, str):
            add(field, f"{label(field)} must be a string, not {_type_name(value)} {value!r}")
    owner = definition.get("ownerEmail")
    if isinstance(owner, str) and owner and "@" not in owner:
        add("ownerEmail", f"{label('ownerEmail')} {owner!r} is not an email address")
    for field, allowed in _ENUM_FIELDS.items():
        value = definition.get(field)
        if value is not None and value not in allowed:
            add(field, f"{label(field)} must be one of {', '.join(allowed)}, not {value!r}")
    for field in _STR_LIST_FIELDS:
        value = definition.get(field)
        if value is not None and (not isinstance(value, list) or not all(isinstance(item, str) for item in value)):
            add(field, f"{label(field)} must be a list of strings, not {value!r}")
    for field in _DICT_FIELDS:
        value = definition.get(field)
        if value is None:
            continue
        if not isinstance(value, dict):
            add(field, f"{label(field)} must be a mapping, not {_type_name(value)} {value!r}")
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
        add("enforceSchema", f"{label('enforceSchema')} must be True or False, not {enforce!r}")

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
        return None, str(exc).splitlines()[0]
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
            problems.append(Problem(str(path), pending_line, 1, f"invalid requirement {line!r}: {error}"))
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


def _docstring_summary(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    docstring = ast.get_docstring(func, clean=True)
    if not docstring:
        return None
    paragraph = re.split(r"\n\s*\n", docstring.strip(), maxsplit=1)[0]
    return " ".join(paragraph.split()) or None


def _is_module_name(part: str) -> bool:
    return part.isidentifier() and not keyword.iskeyword(part)


class _FileReader:
    """Finds the tasks of one parsed file. Problems go to ``problems``; tasks to ``tasks``."""

    def __init__(self, path: Path, text: str, tree: ast.Module, owner_email: str | None):
        self.path = path
        self.text = text
        self.tree = tree
        self.owner_email = owner_email
        self.scope = ModuleScope(tree)
        self.problems: list[Problem] = []
        self.tasks: list[tuple[str, dict[str, Any], ast.FunctionDef | ast.AsyncFunctionDef, ast.expr]] = []
        self._lines: list[str] | None = None

    def problem(self, node: ast.AST | None, message: str) -> None:
        if node is None or not hasattr(node, "lineno"):
            self.problems.append(Problem(str(self.path), 0, 0, message))
            return
        self.problems.append(Problem(str(self.path), node.lineno, self.column(node), message))

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
        for stmt in iter_module_statements(self.tree.body):
            if isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        aliases[top] = top
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
                continue
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                for decorator in stmt.decorator_list:
                    target = decorator.func if isinstance(decorator, ast.Call) else decorator
                    kind = _decorator_kind(_qualified(target, aliases))
                    if kind is not None:
                        self._read_task(stmt, decorator, kind, aliases)
            for name in bound_names(stmt):
                aliases.pop(name, None)

    def _value(self, field: str, node: ast.expr) -> tuple[bool, Any]:
        try:
            value = evaluate(node, self.scope)
        except NotStatic as exc:
            self.problem(exc.node, f"{field}: cannot be read without running the code ({exc.reason})")
            return False, None
        except RecursionError:
            self.problem(node, f"{field}: constants nested too deeply to read (a chain of constants or an "
                               "expression thousands of levels deep)")
            return False, None
        return True, value

    def _read_task(
        self,
        func: ast.FunctionDef | ast.AsyncFunctionDef,
        decorator: ast.expr,
        kind: str,
        aliases: Mapping[str, str],
    ) -> None:
        if not isinstance(decorator, ast.Call):
            self.problem(
                decorator,
                "@worker_task must be called with the task name: @worker_task(task_definition_name=...)",
            )
            return
        count = len(self.problems)
        positional = _POSITIONAL[kind]
        arguments: list[tuple[str, ast.expr, ast.AST]] = []  # (keyword, value, where the keyword is)
        for index, arg in enumerate(decorator.args):
            if isinstance(arg, ast.Starred):
                self.problem(arg, f"*{ast.unparse(arg.value)}: cannot be read without running the code")
            elif index >= len(positional):
                self.problem(arg, f"worker_task takes at most {len(positional)} positional argument(s)")
            else:
                arguments.append((positional[index], arg, arg))
        for kw in decorator.keywords:
            if kw.arg is None:
                self.problem(kw, f"**{ast.unparse(kw.value)}: cannot be read without running the code")
            else:
                arguments.append((kw.arg, kw.value, kw))

        name_node: ast.expr | None = None
        task_def: ast.expr | None = None
        fields: dict[str, Any] = {}
        where: dict[str, ast.AST] = {}
        failed: set[str] = set()
        for arg_name, value, at in arguments:
            if arg_name == "task_definition_name":
                name_node = value
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

        taskdef_name = fields.get("name") if "name" not in failed else None
        name: Any = None
        if name_node is None:
            self.problem(decorator, "task_definition_name is missing")
            failed.add("name")
        else:
            ok, name = self._value("task_definition_name", name_node)
            if not ok:
                failed.add("name")
            elif taskdef_name is not None and taskdef_name != name:
                self.problem(
                    where["name"],
                    f"TaskDef name {taskdef_name!r} differs from task_definition_name {name!r}",
                )
            where["name"] = name_node
        fields["name"] = name

        if fields.get("description") is None and "description" not in failed:
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
        if len(self.problems) == count and isinstance(name, str):
            self.tasks.append((name, fields, func, name_node or decorator))
        elif isinstance(name, str):
            self.tasks.append((name, {}, func, name_node or decorator))  # for duplicate detection only

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


class _Discovery:
    def __init__(self, tasks_dir: Path, owner_email: str | None, import_root: Path | None):
        self.tasks_dir = tasks_dir
        self.owner_email = owner_email
        self.import_root = import_root if import_root is not None else tasks_dir.parent
        self.problems: list[Problem] = []
        self.tasks: list[LocalTask] = []
        self.named: list[tuple[str, str, int, int]] = []  # name, path, line, col: for duplicates
        self.base_module: tuple[str, ...] | None = None

    def problem(self, path: Path, message: str, line: int = 0, col: int = 0) -> None:
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
            if entry.name.startswith((".", "_")):
                continue
            folder = Path(entry.path)
            try:
                is_dir = entry.is_dir()
            except OSError as exc:
                self.problem(folder, f"cannot read: {exc.strerror or exc}")
                continue
            if is_dir:
                self._folder(folder)
            elif entry.is_symlink() and not os.path.exists(entry.path):
                self.problem(folder, "is a broken symbolic link")
        duplicated = self._duplicates()
        tasks = sorted((t for t in self.tasks if t.name not in duplicated), key=lambda t: t.name)
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

    def _folder(self, folder: Path) -> None:
        try:
            names = sorted(entry.name for entry in os.scandir(folder))
        except OSError as exc:
            self.problem(folder, f"cannot read the task folder: {exc.strerror or exc}")
            return
        sources = [
            n for n in names
            if n.endswith(".py") and not n.startswith("test_") and not n.endswith("_test.py")
        ]  # fmt: skip
        if f"{folder.name}.py" not in names:
            self.problem(folder, f"a task folder must hold {folder.name}.py (the worker's module)")
        requirements: tuple[str, ...] = ()
        requirements_path: Path | None = None
        if "requirements.txt" in names:
            requirements_path = folder / "requirements.txt"
            data = self._read(requirements_path)
            if data is not None:
                requirements, problems = parse_requirements(requirements_path, data)
                self.problems.extend(problems)
        for source in sources:
            self._file(folder / source, requirements, requirements_path)

    def _read(self, path: Path) -> bytes | None:
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size > MAX_FILE_BYTES:
                    limit = MAX_FILE_BYTES // (1024 * 1024)
                    self.problem(path, f"the file is larger than {limit} MB; not read")
                    return None
                return handle.read()
        except OSError as exc:
            self.problem(path, f"cannot read: {exc.strerror or exc}")
            return None

    def _file(self, path: Path, requirements: tuple[str, ...], requirements_path: Path | None) -> None:
        data = self._read(path)
        if data is None:
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line, col = _byte_position(data, exc.start)
            message = f"the file is not UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8"
            self.problem(path, message, line, col)
            return
        if not any(marker in data for marker in _FILE_MARKERS):
            return
        text = text.removeprefix("\ufeff")
        try:
            tree = ast.parse(text, filename=str(path))
        except SyntaxError as exc:
            self.problem(path, f"syntax error: {exc.msg}", exc.lineno or 0, exc.offset or 0)
            return
        except (ValueError, RecursionError, MemoryError) as exc:
            self.problem(path, f"cannot be parsed: {exc}")
            return
        reader = _FileReader(path, text, tree, self.owner_email)
        reader.read()
        self.problems.extend(reader.problems)
        if not reader.tasks:
            return
        module = self._module(path)
        for name, fields, func, name_node in reader.tasks:
            self.named.append((name, str(path), name_node.lineno, reader.column(name_node)))
            if not fields or module is None:
                continue
            self.tasks.append(LocalTask(
                name=name,
                definition=normalise_taskdef(fields),
                path=path,
                line=func.lineno,
                function=func.name,
                module=module,
                requirements=requirements,
                requirements_path=requirements_path,
            ))  # fmt: skip

    def _module(self, path: Path) -> str | None:
        """The dotted import path of a task file; None (with a problem) if it cannot be imported so."""
        if self.base_module is None:
            return None
        folder, stem = path.parent.name, path.stem
        parts = [*self.base_module, folder] if stem == "__init__" else [*self.base_module, folder, stem]
        bad = [part for part in (folder, stem) if part != "__init__" and not _is_module_name(part)]
        if bad:
            self.problem(
                path,
                f"{bad[0]!r} is not a valid Python module name, so the worker cannot be imported; "
                "rename it (letters, digits and '_')",
            )
            return None
        return ".".join(parts)

    def _duplicates(self) -> set[str]:
        """Report names defined more than once; return them."""
        by_name: dict[str, list[tuple[str, int, int]]] = {}
        for name, path, line, col in self.named:
            by_name.setdefault(name, []).append((path, line, col))
        for name, places in by_name.items():
            if len(places) < 2:
                continue
            places.sort()
            first_path, first_line, _ = places[0]
            for path, line, col in places[1:]:
                self.problems.append(Problem(
                    path, line, col,
                    f"duplicate task name {name!r}: defined at {first_path}:{first_line} "
                    f"and at {path}:{line}",
                ))  # fmt: skip
        return {name for name, places in by_name.items() if len(places) > 1}


def discover_tasks(
    tasks_dir: Path, *, owner_email: str | None = None, import_root: Path | None = None
) -> list[LocalTask]:
    """Every task under ``tasks_dir``, sorted by name, read statically (no task code runs).

    ``owner_email`` fills ``ownerEmail`` where the decorator does not set it. Module paths are relative to
    ``import_root`` (default: the folder holding ``tasks_dir``). A missing ``tasks_dir`` means no tasks.
    Raises DefinitionError carrying every problem found.
    """
    tasks, problems = discover_tasks_partial(tasks_dir, owner_email=owner_email, import_root=import_root)
    if problems:
        raise DefinitionError(problems, what="task")
    return tasks


def discover_tasks_partial(
    tasks_dir: Path, *, owner_email: str | None = None, import_root: Path | None = None
) -> tuple[list[LocalTask], list[Problem]]:
    """Like ``discover_tasks`` but never raises: the tasks that are fine, and every problem.

    A task with a problem of its own is left out, and so is every task of a duplicated name; problems of
    other files (a bad requirements.txt, a missing module) do not remove anything else.
    """
    return _Discovery(Path(tasks_dir), owner_email, import_root).run()
