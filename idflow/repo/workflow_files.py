"""Local workflow definitions: one per file under ``workflows_dir``.

Files are ``.json``, ``.yaml``/``.yml``, or Jinja2 templates of either (``.json.j2``, ``.yaml.j2``,
``.yml.j2``) rendered with the config's ``vars``. Templates run in a sandbox with strict undefined
variables: a missing variable is an error naming the file and line, never an empty string.

Every problem in every file is collected and reported together; nothing here talks to a server.
``schemaVersion`` may be left out: it defaults to 2, the only version conductor-oss accepts (and the
one it writes back), and any other value is an error.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idflow.errors import DefinitionError, Problem
from idflow.kinds.normal import Ignored, model_values, type_problems
from idflow.kinds.ownership import ForeignOwner, owner_to_write
from idflow.kinds.server_model import TASK_DEF, WORKFLOW_DEF
from idflow.kinds.usage import (
    all_task_refs,
    child_task_lists,
    inline_definition,
    inline_workflows,
    iter_tasks,
    task_uses,
)
from idflow.kinds.workflow_normal import normalise_workflowdef
from idflow.repo import safefile, yamlfile
from idflow.repo.read_cache import WORKFLOW_FILES, ReadCache, problem_data, problem_from

#: Suffixes of workflow files, with the format each holds and whether it is a template.
WORKFLOW_SUFFIXES: dict[str, tuple[str, bool]] = {
    ".json": ("json", False),
    ".yaml": ("yaml", False),
    ".yml": ("yaml", False),
    ".json.j2": ("json", True),
    ".yaml.j2": ("yaml", True),
    ".yml.j2": ("yaml", True),
}
SCHEMA_VERSION = 2
#: The key a JSON file names its JSON schema with (``idflow schema``); the reader leaves it out.
SCHEMA_KEY = "$schema"
#: Names idflow accepts in local workflow files (workflow names, task names, taskReferenceNames): what real
#: names use, well inside what Conductor accepts (its optional name check allows letters, digits, ``_``,
#: ``-``, spaces and ``<>{}#``; workflow names may not hold ``:``). Control characters, line breaks, ``<``,
#: backticks and ``|`` would reach terminals, PR comments and tables.
SAFE_NAME = re.compile(r"[A-Za-z0-9_.\-]([A-Za-z0-9_. \-]*[A-Za-z0-9_.\-])?")
NAME_RULE = "may only contain letters, digits, '_', '.', '-' and spaces (not at either end)"
_EXPRESSION = re.compile(r"\$\{[A-Za-z0-9_.\-\[\]'\" ]+\}")


@dataclass(frozen=True)
class LocalWorkflow:
    """One workflow definition read from a file, in normal form. ``notes`` are the fields of the file
    that the server ignores (it does not model them), each at its line."""

    name: str
    version: int
    definition: dict[str, Any]
    path: Path
    line: int
    notes: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class EventHandlerFile:
    """A file of event handlers in the workflows tree (the original idflow keeps them there, as
    ``event_handlers.json``): recognised and counted here, read by ``idflow.repo.event_files``."""

    path: Path
    count: int


@dataclass(frozen=True)
class WorkflowTree:
    """What the workflows folder holds."""

    workflows: list[LocalWorkflow]
    event_handler_files: list[EventHandlerFile]


class _FileProblem(Exception):
    def __init__(self, line: int, message: str, col: int = 1, more: list[tuple[int, str]] | None = None):
        super().__init__(message)
        self.line = line
        self.col = col
        self.message = message
        self.more = more or []


def workflow_format(path: Path) -> tuple[str, bool] | None:
    """``(format, templated)`` for a workflow file name, or None when the file is not one."""
    name = path.name.lower()
    for suffix in sorted(WORKFLOW_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return WORKFLOW_SUFFIXES[suffix]
    return None


def workflow_files(workflows_dir: Path) -> list[Path]:
    """Workflow files under the folder, at any depth, hidden files and folders left out."""
    if not workflows_dir.is_dir():
        return []
    return sorted(
        path
        for path in workflows_dir.rglob("*")
        if not path.is_dir()  # FIFOs, devices and broken links too: the reader refuses them by name
        and workflow_format(path) is not None
        and not any(part.startswith(".") for part in path.relative_to(workflows_dir).parts)
    )


def load_workflows(
    workflows_dir: Path, *, variables: dict[str, Any], owner_email: str | None = None, root: Path | None = None
) -> list[LocalWorkflow]:
    """Read every workflow file; raise ``DefinitionError`` with all problems if any file is bad."""
    return read_workflow_tree(workflows_dir, variables=variables, owner_email=owner_email, root=root).workflows


def read_workflow_tree(
    workflows_dir: Path,
    *,
    variables: dict[str, Any],
    owner_email: str | None = None,
    root: Path | None = None,
    cache_dir: Path | None = None,
) -> WorkflowTree:
    """Every workflow file and event handler file; raise ``DefinitionError`` with all problems if any
    file is bad (or is something else than those two). Files must resolve inside the project ``root``
    or the workflows folder. With ``cache_dir``, each plain file's result is kept there for the next run
    (``read_cache``)."""
    within = [workflows_dir, *((root,) if root is not None else ())]
    cache = ReadCache(cache_dir, WORKFLOW_FILES, owner_email) if cache_dir is not None else None
    problems: list[Problem] = []
    found: list[LocalWorkflow] = []
    handlers: list[EventHandlerFile] = []
    first_seen: dict[tuple[str, int], LocalWorkflow] = {}
    for path in workflow_files(workflows_dir):
        try:
            item = _load_file(path, variables, owner_email, within, cache)
        except _FileProblem as exc:
            problems.append(Problem(str(path), exc.line, exc.col, exc.message))
            problems.extend(Problem(str(path), line, 1, message) for line, message in exc.more)
            continue
        if isinstance(item, EventHandlerFile):
            handlers.append(item)
            continue
        workflow = item
        key = (workflow.name, workflow.version)
        if key in first_seen:
            other = first_seen[key]
            problems.append(
                Problem(
                    str(path),
                    workflow.line,
                    1,
                    f"workflow {workflow.name!r} version {workflow.version} is defined twice: "
                    f"here and in {other.path}:{other.line}",
                )
            )
            continue
        first_seen[key] = workflow
        found.append(workflow)
    if cache is not None:
        cache.save()
    if problems:
        raise DefinitionError(problems, what="workflow")
    return WorkflowTree(sorted(found, key=lambda w: (w.name, w.version)), handlers)


def _load_file(
    path: Path, variables: dict[str, Any], owner_email: str | None, within: list[Path], cache: ReadCache | None
) -> LocalWorkflow | EventHandlerFile:
    kind = workflow_format(path)
    assert kind is not None
    fmt, templated = kind
    try:
        # parents_checked: rglob does not descend into linked folders, so only the file may be a link
        text = yamlfile.read_text(
            path, "workflow file", limit=safefile.WORKFLOW_FILE_LIMIT, within=within, parents_checked=True
        )
    except yamlfile.YamlProblem as problem:
        raise _FileProblem(problem.line, problem.message) from None
    if cache is None or templated:  # a template's result depends on variables and included files too
        return _read_text(path, fmt, templated, text, variables, owner_email)

    def read() -> tuple[LocalWorkflow | EventHandlerFile | _FileProblem, list[Any]]:
        try:
            item = _read_text(path, fmt, templated, text, variables, owner_email)
        except _FileProblem as exc:
            return exc, ["problem", exc.line, exc.col, exc.message, [list(m) for m in exc.more]]
        if isinstance(item, EventHandlerFile):
            return item, ["handlers", item.count]
        notes = [problem_data(n) for n in item.notes]
        return item, ["workflow", item.name, item.version, item.definition, item.line, notes]

    data = text.encode("utf-8", "surrogatepass")
    found = cache.result(str(path), data, read, lambda payload: _from_cache(path, payload))
    if isinstance(found, _FileProblem):
        raise found
    return found  # type: ignore[no-any-return]


def _from_cache(path: Path, payload: Any) -> LocalWorkflow | EventHandlerFile | _FileProblem:
    """What ``_load_file`` put in the cache; raises TypeError or ValueError for anything else."""
    what, *rest = payload
    if what == "handlers" and len(rest) == 1 and type(rest[0]) is int:
        return EventHandlerFile(path, rest[0])
    if what == "problem":
        line, col, message, more = rest
        if type(line) is int and type(col) is int and isinstance(message, str):
            return _FileProblem(line, message, col, [(int(n), str(m)) for n, m in more])
    if what == "workflow":
        name, version, definition, line, notes = rest
        if isinstance(name, str) and type(version) is int and isinstance(definition, dict) and type(line) is int:
            return LocalWorkflow(name, version, definition, path, line, tuple(problem_from(n) for n in notes))
    raise ValueError("not a cached workflow file")


def _read_text(
    path: Path, fmt: str, templated: bool, text: str, variables: dict[str, Any], owner_email: str | None
) -> LocalWorkflow | EventHandlerFile:
    source = _render(path, text, variables) if templated else text
    data = _parse(fmt, source, templated)
    if isinstance(data, dict) and isinstance(data.get(SCHEMA_KEY), str):
        data = {k: v for k, v in data.items() if k != SCHEMA_KEY}  # for editors: neither a field nor a mistake
    handlers = _event_handler_count(data)
    if handlers is not None:
        return EventHandlerFile(path, handlers)
    if not isinstance(data, dict) or "tasks" not in data:
        other = _looks_like(data, fmt)
        if other is not None:
            raise _FileProblem(_start_line(text), f"not a workflow: {other}")
    name = data.get("name")
    version = data.get("version")
    if not isinstance(name, str) or not name.strip():
        raise _FileProblem(_key_line(text, "name"), "the workflow needs a 'name' (a non-empty string)")
    if version is None:
        version = data["version"] = 1  # as the server stores a workflow without one
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _FileProblem(
            _key_line(text, "version"),
            f"workflow {name!r}: 'version' must be a whole number >= 1, not {version!r}",
        )
    rendered = " (line of the rendered template)" if templated else ""
    label = f"workflow {name!r} version {version}"
    lines: dict[str, int] = {}

    def line_of(where: tuple[str | int, ...]) -> int:
        if not lines:  # composing the YAML tree costs more than the rest of reading: only for a message
            lines.update(yamlfile.key_lines(source))
        for end in range(len(where), 0, -1):
            found = lines.get(".".join(map(str, where[:end])))
            if found is not None:
                return found
        return _start_line(text)

    owners = []
    for where, struct, owner in _owners(data, _nested_owner_possible(fmt, source, data)):
        try:
            written = owner_to_write(owner_email, owner)
        except ForeignOwner as exc:
            owners.append((line_of((*where, "ownerEmail")), f"{label}: {_human(where, 'ownerEmail')}: {exc}{rendered}"))
            continue
        if not where and struct == "WorkflowDef" and written is not None:
            data = {**data, "ownerEmail": written}
    if owners:
        (line, message), *more = owners
        raise _FileProblem(line, message, more=more)
    wrong = [
        (line_of(where), f"{label}: '{_human(where)}' {message}{rendered}")
        for where, message in type_problems(WORKFLOW_DEF, data)
    ]
    if wrong:
        (line, message), *more = wrong
        raise _FileProblem(line, message, more=more)
    ignored: list[Ignored] = []
    definition = normalise_workflowdef(data, ignored)
    notes = tuple(
        Problem(str(path), line_of(where), 1, f"{label}: {_ignored_message(where, struct)}{rendered}")
        for where, struct in ignored
    )
    return LocalWorkflow(name, version, definition, path, _start_line(text), notes)


def _nested_owner_possible(fmt: str, source: str, data: dict[str, Any]) -> bool:
    """Whether a mapping below the workflow may have an ``ownerEmail`` key, from the text: each such key
    is written out in it (JSON has no aliases; a YAML alias repeats a node whose key is written once), unless
    spelt with escapes. False spares the walk of the whole workflow."""
    if fmt == "json":
        return "\\u" in source or source.count("ownerEmail") > ("ownerEmail" in data)
    return "\\" in source or "ownerEmail" in source


def _owners(data: dict[str, Any], nested: bool = True) -> Iterable[tuple[tuple[str | int, ...], str, Any]]:
    """Where the file sets an owner: the workflow, and (unless ``nested`` is False) any embedded task
    definition or inline sub-workflow in it (``(path, structure, value)``, the workflow's own always first)."""
    yield (), "WorkflowDef", data.get("ownerEmail")
    if not nested:
        return
    for where, struct, value in model_values(WORKFLOW_DEF, data):
        if where and where[-1] == "ownerEmail" and struct in ("TaskDef", "WorkflowDef") and len(where) > 1:
            yield where[:-1], struct, value


def _human(where: tuple[str | int, ...], key: str | None = None) -> str:
    """``tasks[2].taskDefinition.version`` for a path."""
    text = ""
    for part in (*where, *((key,) if key else ())):
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the workflow"


_STRUCT_TITLES = {
    "WorkflowDef": "a workflow definition",
    "WorkflowTask": "a workflow task",
    "TaskDef": "a task definition",
    "SubWorkflowParams": "a subWorkflowParam",
    "RateLimitConfig": "a rateLimitConfig",
    "CacheConfig": "a cacheConfig",
    "SchemaDef": "a schema",
    "StateChangeEvent": "an onStateChange event",
}


def _ignored_message(where: tuple[str | int, ...], struct: str) -> str:
    field = str(where[-1])
    if struct == "WorkflowDef" and field in TASK_DEF.fields:
        why = "a task definition setting, not a workflow field (set it on the task definition)"
    elif struct == "TaskDef" and field == "version":
        why = "task definitions have no version"
    else:
        why = f"{_STRUCT_TITLES.get(struct, struct)} has no field {field!r} in Conductor"
    return f"'{_human(where)}' is ignored by the server: {why}; it has no effect, remove it"


def _is_event_handler(value: Any) -> bool:
    return isinstance(value, dict) and "event" in value and "actions" in value


def _event_handler_count(data: Any) -> int | None:
    """How many event handlers the file holds (one, or a list of them), None when it holds something else."""
    if _is_event_handler(data):
        return 1
    if isinstance(data, list) and data and all(_is_event_handler(item) for item in data):
        return len(data)
    return None


def _looks_like(data: Any, fmt: str) -> str | None:
    """What a file that is not a workflow looks like (None: it may be a workflow missing its 'tasks')."""
    what = fmt.upper()
    if isinstance(data, list):
        if any(_is_event_handler(item) for item in data):
            bad = next(i for i, item in enumerate(data) if not _is_event_handler(item))
            return f"a {what} list of event handlers, but item {bad} is not one (it needs 'event' and 'actions')"
        if data and all(isinstance(item, dict) and "tasks" in item for item in data):
            return f"a {what} list of {len(data)} workflow definitions; idflow reads one workflow per file"
        if data and all(isinstance(item, dict) and _taskdef_keys(item) for item in data):
            return f"looks like a list of {len(data)} task definitions; {_TASKDEF_HINT}"
        items = f"{len(data)} item{'s' if len(data) != 1 else ''}"
        return f"a {what} list ({items}), not one workflow definition (a mapping)"
    if isinstance(data, dict):
        if "cronExpression" in data or "startWorkflowRequest" in data:
            return (
                "looks like a schedule ('cronExpression', 'startWorkflowRequest'); schedule files go in "
                "schedules_dir (idflow/schedules by default)"
            )
        keys = _taskdef_keys(data)
        if keys:
            shown = ", ".join(repr(k) for k in keys[:3])
            return f"looks like a task definition ({shown}, and no 'tasks'); {_TASKDEF_HINT}"
        return None
    kind = {str: "a string", type(None): "an empty document"}.get(type(data), f"a {type(data).__name__}")
    return f"holds {kind}, not a workflow definition (a mapping with 'name' and 'tasks')"


_TASKDEF_HINT = (
    "task definitions come from the @worker_task decorators under tasks_dir, "
    "or go in a workflow task's 'taskDefinition'"
)


def _taskdef_keys(data: dict[str, Any]) -> list[str]:
    """Keys of a mapping that a task definition has and a workflow does not."""
    return [k for k in data if k in TASK_DEF.fields and k not in WORKFLOW_DEF.fields]


def _render(path: Path, text: str, variables: dict[str, Any]) -> str:
    import jinja2  # only for templates: most projects' workflow files are plain JSON or YAML

    from idflow.repo.templates import BoundedSandbox

    env = BoundedSandbox(keep_trailing_newline=True)
    filename = str(path)
    try:
        code = env.compile(text, name=path.name, filename=filename)
    except jinja2.TemplateSyntaxError as exc:
        raise _FileProblem(exc.lineno or 1, f"template syntax error: {safefile.short(exc.message or '')}") from None
    template = env.template_class.from_code(env, code, env.make_globals(None))
    try:
        return env.render(template, variables)
    except jinja2.UndefinedError as exc:
        message = f"undefined template variable: {safefile.short(str(exc))}"
        raise _FileProblem(_template_line(exc, filename), message) from None
    except jinja2.TemplateError as exc:
        raise _FileProblem(_template_line(exc, filename), f"template error: {safefile.short(str(exc))}") from None
    except Exception as exc:  # a filter or expression failed (1/0, int('x'), ...): the file's fault
        message = f"template error: {type(exc).__name__}: {safefile.short(str(exc))}"
        raise _FileProblem(_template_line(exc, filename), message) from None


def _template_line(exc: BaseException, filename: str) -> int:
    """The template line an exception was raised at (Jinja rewrites tracebacks to template lines)."""
    line = 1
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _parse(fmt: str, source: str, templated: bool) -> Any:
    rendered = " (line of the rendered template)" if templated else ""
    if fmt == "json":
        try:
            return json.loads(source)
        except json.JSONDecodeError as exc:
            raise _FileProblem(exc.lineno, f"invalid JSON: {exc.msg}{rendered}", exc.colno) from None
    try:
        return yamlfile.load(source)
    except yamlfile.YamlProblem as problem:
        raise _FileProblem(problem.line, f"{problem.message}{rendered}", problem.col) from None


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", type(None): "an empty document"}.get(type(value), type(value).__name__)


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _start_line(text: str) -> int:
    """First line that holds something other than blanks and comments."""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "{#", "---", "//")):
            return number
    return 1


def _key_line(text: str, key: str, default: int = 1) -> int:
    match = re.search(rf"""["']?\b{re.escape(key)}["']?\s*:""", text)
    return _line_of(text, match.start()) if match else default


def _ref_lines(text: str, ref: str) -> list[int]:
    """Lines where ``taskReferenceName`` is set to ``ref`` (JSON or YAML spelling)."""
    pattern = rf"""["']?taskReferenceName["']?\s*:\s*["']?{re.escape(ref)}["']?\s*(?=[,}}\r\n#]|$)"""
    return [_line_of(text, m.start()) for m in re.finditer(pattern, text, re.MULTILINE)]


class _Sources:
    """The raw text of workflow files, read once, for finding lines; unreadable files give ''."""

    def __init__(self) -> None:
        self._texts: dict[Path, str] = {}

    def text(self, path: Path) -> str:
        if path not in self._texts:
            try:  # the same file the reader accepted; still through the safe reader
                data = safefile.read_bytes(path, limit=safefile.WORKFLOW_FILE_LIMIT)
                self._texts[path] = data.decode("utf-8", errors="replace")
            except OSError:
                self._texts[path] = ""
        return self._texts[path]


def validate_workflows(
    workflows: list[LocalWorkflow],
    *,
    known_task_names: set[str] | None,
    known_workflows: set[tuple[str, int]] | set[str] | None,
) -> list[Problem]:
    """Check what can be checked before asking a server; return every problem found.

    ``known_task_names`` are the task definitions that exist (locally or on the server).
    ``known_workflows`` holds workflow names, or ``(name, version)`` pairs, or both; the workflows
    being validated are added to it. A sub-workflow reference without a version needs the name only.
    ``None`` for both means the server was not asked (`idflow validate`): references are not checked.
    """
    names: set[str] | None = None if known_workflows is None else set()
    pairs: set[tuple[str, int]] = set()
    for entry in (*(known_workflows or ()), *((w.name, w.version) for w in workflows)):
        if isinstance(entry, str) and names is not None:
            names.add(entry)
        elif isinstance(entry, tuple) and len(entry) == 2:
            pairs.add((entry[0], entry[1]))
    sources = _Sources()
    problems: list[Problem] = []
    for workflow in workflows:
        problems.extend(_validate_one(workflow, sources, known_task_names, names, pairs))
    return problems


def _validate_one(
    workflow: LocalWorkflow,
    sources: _Sources,
    known_task_names: set[str] | None,
    names: set[str] | None,
    pairs: set[tuple[str, int]],
) -> list[Problem]:
    definition = workflow.definition
    label = f"workflow {workflow.name!r} version {workflow.version}"
    problems: list[Problem] = []

    def text() -> str:  # the file, read again only when a problem needs its line
        return sources.text(workflow.path)

    def problem(line: int, message: str) -> None:
        problems.append(Problem(str(workflow.path), line, 1, f"{label}: {message}"))

    def task_line(task: dict[str, Any]) -> int:
        ref = task.get("taskReferenceName")
        lines = _ref_lines(text(), ref) if isinstance(ref, str) and ref else []
        return lines[0] if lines else workflow.line

    def key_line(key: str) -> int:
        return _key_line(text(), key, workflow.line)

    tasks_walked = list(iter_tasks(definition))  # walked once for every check below
    inlines = inline_workflows(definition)

    if definition.get("name") != workflow.name or definition.get("version") != workflow.version:
        problem(workflow.line, "'name' and 'version' of the definition do not match the file's")
    schema_version = definition.get("schemaVersion", SCHEMA_VERSION)
    if schema_version != SCHEMA_VERSION:
        problem(
            key_line("schemaVersion"),
            f"'schemaVersion' must be {SCHEMA_VERSION} (the only one Conductor accepts), not {schema_version!r}",
        )

    for tasks, where in _task_lists(definition, inlines):
        if not isinstance(tasks, list) or not tasks:
            problem(key_line("tasks"), f"{where} must be a non-empty list of tasks")
            continue
        for index, task in enumerate(tasks):
            if not isinstance(task, dict):
                problem(workflow.line, f"{where}[{index}] must be a mapping (a task), not {_kind(task)}")

    if isinstance(definition.get("name"), str) and not SAFE_NAME.fullmatch(definition["name"]):
        problem(key_line("name"), f"the workflow name {NAME_RULE}")
    for inline, where in inlines:
        inline_name = inline.get("name")
        if isinstance(inline_name, str) and not SAFE_NAME.fullmatch(inline_name):
            problem(workflow.line, f"the name {inline_name!r} of the inline sub-workflow at {where} {NAME_RULE}")
    for task, location in tasks_walked:
        for field in ("name", "taskReferenceName"):
            value = task.get(field)
            if not isinstance(value, str) or not value.strip():
                problem(task_line(task), f"task at {location} needs a '{field}' (a non-empty string)")
            elif not SAFE_NAME.fullmatch(value) and not (field == "name" and _EXPRESSION.fullmatch(value)):
                problem(task_line(task), f"task at {location}: '{field}' {value!r} {NAME_RULE}")
        for step, child in child_task_lists(task):
            for index, item in enumerate(child):
                if not isinstance(item, dict):
                    problem(
                        task_line(task),
                        f"{location} > {step}[{index}] must be a mapping (a task), not {_kind(item)}",
                    )

    scopes = [(definition, ""), *((inline, f" in the inline sub-workflow at {where}") for inline, where in inlines)]
    for scope, scope_label in scopes:
        by_ref: dict[str, list[str]] = defaultdict(list)
        for ref, location in all_task_refs(scope):
            by_ref[ref].append(location)
        for ref, locations in by_ref.items():
            if len(locations) > 1:
                lines = _ref_lines(text(), ref)
                line = lines[1] if len(lines) > 1 else (lines[0] if lines else workflow.line)
                problem(
                    line,
                    f"taskReferenceName {ref!r} is used {len(locations)} times{scope_label}: " + "; ".join(locations),
                )

    for use in task_uses(definition) if known_task_names is not None else ():  # (no server asked: not checked)
        if use.needs_def and use.task_name not in known_task_names:
            lines = _ref_lines(text(), use.ref) if use.ref else []
            problem(
                lines[0] if lines else workflow.line,
                f"task {use.ref!r} ({use.location}) uses task definition {use.task_name!r}, "
                "which is neither defined locally nor on the server",
            )
    for task, location in tasks_walked:
        if isinstance(task.get("type"), str) and task["type"].upper() == "SUB_WORKFLOW":
            message = _check_subworkflow(task, names, pairs)
            if message:
                problem(task_line(task), f"task {task.get('taskReferenceName')!r} ({location}) {message}")
    return problems


def _task_lists(definition: dict[str, Any], inlines: list[tuple[dict[str, Any], str]]) -> Iterable[tuple[Any, str]]:
    """The top-level task list of the workflow and of each inline sub-workflow, with a label."""
    yield definition.get("tasks"), "'tasks'"
    for inline, where in inlines:
        yield inline.get("tasks"), f"'tasks' of the inline sub-workflow at {where}"


def _check_subworkflow(task: dict[str, Any], names: set[str] | None, pairs: set[tuple[str, int]]) -> str | None:
    param = task.get("subWorkflowParam")
    if not isinstance(param, dict):
        return "is a SUB_WORKFLOW without a 'subWorkflowParam'"
    if inline_definition(task) is not None:
        return None  # inline (checked with the workflow) or chosen at run time
    name = param.get("name")
    if not isinstance(name, str) or not name.strip():
        return "is a SUB_WORKFLOW without 'subWorkflowParam.name'"
    if "${" in name or names is None:
        return None  # chosen at run time, or no server asked
    version = param.get("version")
    if isinstance(version, int) and not isinstance(version, bool):
        if (name, version) in pairs or name in names:
            return None
        wanted = f"{name!r} version {version}"
    elif name in names or any(known == name for known, _ in pairs):
        return None
    else:
        wanted = repr(name)
    return f"runs sub-workflow {wanted}, which is neither defined locally nor on the server"
