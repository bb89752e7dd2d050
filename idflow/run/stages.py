"""Stages: named ways to start a workflow for one document (``idflow stage run|list``).

A stage is ``<stages_dir>/<name>.yml``::

    description: Ingest one document          # optional
    workflow:
      name: docflow_ingest
      version: 1                              # optional: the server's latest when left out
    input:                                    # optional: the workflow's input
      doc_uuid: "{{ doc_uuid }}"
      language: "{{ language | default('en') }}"
      max_words: "{{ vars.max_words }}"

String values under ``input`` (at any depth) are Jinja2 templates, rendered in a sandbox with strict
undefined variables over ``doc_uuid``, ``stage``, ``vars`` (the config's vars), ``input`` (every
``--input KEY=VALUE``) and each ``--input`` key by its own name. A value that is exactly one
``{{ expression }}`` keeps the expression's type (a number stays a number); anything else renders to a
string. The workflow runs with correlation id ``<stage>:<doc_uuid>``, which is how a second run of the
same stage for the same document is recognised.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox

from idflow.errors import StageError
from idflow.repo import safefile, yamlfile
from idflow.repo.templates import BoundedSandbox

STAGE_SUFFIXES = (".yml", ".yaml")
STAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
INPUT_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RESERVED_NAMES = frozenset({"doc_uuid", "stage", "vars", "input"})
TERMINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "TIMED_OUT", "TERMINATED"})
FAILED_STATUSES = frozenset({"FAILED", "TIMED_OUT", "TERMINATED"})
IN_FLIGHT_STATUSES = frozenset({"RUNNING", "PAUSED"})
_TOP_KEYS = ("description", "workflow", "input")
_WORKFLOW_KEYS = ("name", "version")
_WHOLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.DOTALL)


@dataclass(frozen=True)
class Stage:
    name: str
    path: Path
    workflow: str
    version: int | None
    input: dict[str, Any]
    description: str | None = None
    lines: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def line(self, key: str) -> int:
        return self.lines.get(key, 1)


# -- reading stage files ---------------------------------------------------------------------------


def stage_files(stages_dir: Path) -> dict[str, Path]:
    """Stage name -> file, for every stage file in ``stages_dir`` (none when the folder is missing)."""
    found: dict[str, Path] = {}
    try:
        entries = sorted(Path(stages_dir).iterdir())
    except FileNotFoundError:
        return found
    except OSError as exc:
        raise StageError(f"{stages_dir}: cannot read the stages folder: {exc.strerror or exc}") from None
    for path in entries:
        if path.suffix in STAGE_SUFFIXES and not path.is_dir() and not path.name.startswith("."):
            if path.stem in found:
                raise StageError(f"{path}: stage {path.stem!r} is defined twice (also in {found[path.stem].name})")
            found[path.stem] = path
    return found


def load_stage(stages_dir: Path, name: str) -> Stage:
    """The stage called ``name``; a StageError naming the known stages when there is none."""
    if not STAGE_NAME.fullmatch(name):
        raise StageError(f"{name!r} is not a stage name (letters, digits, '_', '.', '-')")
    files = stage_files(stages_dir)
    if name not in files:
        known = ", ".join(sorted(files)) or "none"
        raise StageError(f"no stage {name!r}: expected {Path(stages_dir) / (name + '.yml')} (known stages: {known})")
    return read_stage(files[name])


def read_stage(path: Path) -> Stage:
    try:
        text = yamlfile.read_text(
            path, "stage file", limit=safefile.STAGE_FILE_LIMIT, within=[path.parent], parents_checked=True
        )
    except yamlfile.YamlProblem as problem:
        raise StageError(f"{path}:{problem.line}: {problem.message}") from None
    return parse_stage(path, text)


def parse_stage(path: Path, text: str) -> Stage:
    """Parse and check one stage file. Every error is one line: ``file:line: message``."""
    try:
        data = yamlfile.load(text)
    except yamlfile.YamlProblem as problem:
        raise StageError(f"{path}:{problem.line}:{problem.col}: {problem.message}") from None
    lines = yamlfile.key_lines(text)

    def fail(key: str, message: str) -> StageError:
        return StageError(f"{path}:{lines.get(key, 1)}: {message}")

    if data is None:
        raise fail("", "the stage file is empty: it needs at least 'workflow: {name: ...}'")
    if not isinstance(data, dict):
        raise fail("", f"a stage file holds a mapping (workflow, input), not {type(data).__name__}")
    for key in data:
        if key not in _TOP_KEYS:
            raise fail(str(key), f"unknown key {key!r} (known keys: {', '.join(_TOP_KEYS)})")
    workflow = data.get("workflow")
    if workflow is None:
        raise fail("", "'workflow' is missing: give 'workflow: {name: <workflow name>, version: <optional>}'")
    if isinstance(workflow, str):
        workflow = {"name": workflow}
    if not isinstance(workflow, dict):
        raise fail("workflow", f"'workflow' must be a mapping (name, optional version), not {_kind(workflow)}")
    for key in workflow:
        if key not in _WORKFLOW_KEYS:
            raise fail(f"workflow.{key}", f"unknown key 'workflow.{key}' (known keys: name, version)")
    name = workflow.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail("workflow.name" if "name" in workflow else "workflow", "'workflow.name' is missing or not a string")
    version = workflow.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise fail("workflow.version", f"'workflow.version' must be a whole number >= 1, not {version!r}")
    inputs = data.get("input")
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, dict):
        raise fail("input", f"'input' must be a mapping of workflow input names to values, not {_kind(inputs)}")
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        raise fail("description", "'description' must be a string")
    stage = Stage(path.stem, path, name.strip(), version, inputs, description, lines)
    _check_templates(stage, inputs, "input")
    return stage


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


def _environment() -> BoundedSandbox:
    return BoundedSandbox()


def _check_templates(stage: Stage, value: Any, key: str) -> None:
    """Compile every template now, so a syntax error shows on load (and in `stage list`)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_templates(stage, v, f"{key}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_templates(stage, v, f"{key}.{i}")
    elif isinstance(value, str):
        try:
            _environment().parse(value)
        except jinja2.TemplateSyntaxError as exc:
            raise StageError(f"{stage.path}:{stage.line(key)}: {key}: template syntax error: {exc.message}") from None


# -- rendering the input ---------------------------------------------------------------------------


def parse_input_options(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``--input KEY=VALUE`` options as a dict (values are strings; templates convert them)."""
    parsed: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not INPUT_KEY.fullmatch(key):
            raise StageError(f"--input {item!r}: expected KEY=VALUE with KEY a name (letters, digits, '_')")
        if key in RESERVED_NAMES:
            raise StageError(f"--input {key}: {key!r} is reserved (reserved: {', '.join(sorted(RESERVED_NAMES))})")
        if key in parsed:
            raise StageError(f"--input {key} is given twice")
        parsed[key] = value
    return parsed


def canonical_doc_uuid(value: str) -> str:
    """The document's UUID in canonical form (lowercase, hyphenated), so a rerun is recognised."""
    try:
        return str(uuid.UUID(value.strip()))
    except (ValueError, AttributeError):
        raise StageError(f"--doc-uuid {value!r} is not a UUID") from None


def correlation_id(stage: Stage | str, doc_uuid: str) -> str:
    return f"{stage.name if isinstance(stage, Stage) else stage}:{doc_uuid}"


def render_input(
    stage: Stage, doc_uuid: str, inputs: dict[str, str] | None = None, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The workflow input of ``stage`` for one document: every template rendered."""
    inputs = dict(inputs or {})
    context: dict[str, Any] = {
        **inputs,
        "doc_uuid": doc_uuid,
        "stage": stage.name,
        "vars": dict(variables or {}),
        "input": inputs,
    }
    env = _environment()
    rendered = _render(stage, env, stage.input, context, "input")
    try:
        json.dumps(rendered)
    except (TypeError, ValueError) as exc:
        raise StageError(f"{stage.path}: the rendered input is not JSON: {exc}") from None
    return rendered


def _render(stage: Stage, env: jinja2.Environment, value: Any, context: dict[str, Any], key: str) -> Any:
    if isinstance(value, dict):
        return {k: _render(stage, env, v, context, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_render(stage, env, v, context, f"{key}.{i}") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    where = f"{stage.path}:{stage.line(key)}: {key}"
    try:
        whole = _WHOLE_EXPRESSION.match(value)
        if whole:
            with env.budget():
                result = env.compile_expression(whole.group("expr"), undefined_to_none=False)(**context)
            if isinstance(result, jinja2.Undefined):
                str(result)  # StrictUndefined raises UndefinedError with the variable's name
            return result
        return env.render(env.from_string(value), context)
    except jinja2.UndefinedError as exc:
        known = ", ".join(sorted(context))
        raise StageError(f"{where}: undefined variable: {exc.message} (known: {known})") from None
    except jinja2.TemplateError as exc:
        raise StageError(f"{where}: template error: {safefile.short(str(exc))}") from None
    except Exception as exc:  # a filter or expression failed: int('x'), 1/0, ...
        raise StageError(f"{where}: template error: {type(exc).__name__}: {safefile.short(str(exc))}") from None


# -- running ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartedRun:
    workflow_id: str
    correlation_id: str
    workflow: str
    version: int | None
    input: dict[str, Any]


def start_stage(
    remote: Any,
    stage: Stage,
    doc_uuid: str,
    inputs: dict[str, str] | None = None,
    variables: dict[str, Any] | None = None,
    *,
    allow_rerun: bool = False,
) -> StartedRun:
    """Start the stage's workflow for one document; refuse while one with its correlation id is running."""
    doc_uuid = canonical_doc_uuid(doc_uuid)
    workflow_input = render_input(stage, doc_uuid, inputs, variables)
    correlation = correlation_id(stage, doc_uuid)
    if not allow_rerun:
        running = [
            w for w in remote.running_workflows_by_correlation(stage.workflow, correlation)
            if w.get("status") in IN_FLIGHT_STATUSES
        ]  # fmt: skip
        if running:
            ids = ", ".join(f"{w.get('workflowId')} ({w.get('status')})" for w in running)
            raise StageError(
                f"stage {stage.name} is already running for {doc_uuid}: {ids}; pass --allow-rerun to start another"
            )
    workflow_id = remote.start_workflow(stage.workflow, stage.version, workflow_input, correlation)
    return StartedRun(workflow_id, correlation, stage.workflow, stage.version, workflow_input)


def wait_for_workflow(
    remote: Any,
    workflow_id: str,
    timeout: float,
    *,
    interval: float = 0.5,
    max_interval: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll until the workflow reaches a terminal status; StageError when ``timeout`` passes first."""
    deadline = clock() + timeout
    while True:
        workflow = remote.get_workflow(workflow_id)
        status = workflow.get("status")
        if status in TERMINAL_STATUSES:
            return workflow
        left = deadline - clock()
        if left <= 0:
            raise StageError(f"workflow {workflow_id} is still {status} after {timeout:g}s (not waiting any longer)")
        sleep(min(interval, left))
        interval = min(max_interval, interval * 1.5)
