"""Local event handlers: one per file under ``idflow/events/``, and the original idflow's lists.

The original idflow keeps its handlers as JSON lists in ``event_handlers.json`` files beside the workflow
files (``idflow/workflows/<name>/event_handlers.json``); the workflow reader recognises such files (any
file of the workflows tree whose content is a list of handlers) and hands their paths here. A file under
the events folder holds exactly one handler (a mapping); either kind of file may be a ``.j2`` template.

Everything is checked before any request, because conductor-oss checks little: it stores a handler whose
``event`` names no queue type it has, an action without the parameters it needs, an unknown
``evaluatorType`` (then silently runs the condition as JavaScript), a number as ``condition``; it answers
an unknown action type with a 500. Fields it drops (``description``, which the original's files carry)
are notes at their line, never a difference. Every problem in every file is collected and reported together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idflow.errors import DefinitionError, Problem
from idflow.kinds.event_normal import normalise_event_handler
from idflow.kinds.normal import Ignored, type_problems
from idflow.kinds.server_model import ACTION_TYPES, EVENT_HANDLER, EVENT_QUEUE_TYPES
from idflow.kinds.workflow_starts import WorkflowStart, handler_starts, start_problem
from idflow.repo.definition_files import FileProblems, SourceFile, Where, definition_files, human, kind_of
from idflow.repo.definition_files import read_definition_file as _read
from idflow.repo.workflow_files import NAME_RULE, SAFE_NAME

#: The file name the original idflow gives its lists of handlers in the workflows tree.
ORIGINAL_FILE_NAME = "event_handlers.json"
_QUEUE_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
#: What each action type needs: one of these sets of parameters, all non-empty strings.
_NEEDS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "start_workflow": (("name",),),
    "complete_task": (("taskId",), ("workflowId", "taskRefName")),
    "fail_task": (("taskId",), ("workflowId", "taskRefName")),
    "start_agent": (("name",),),
    "terminate_workflow": (("workflowId",),),
    "update_workflow_variables": (("workflowId",),),
}
#: Modelled and stored by conductor-oss, but its event processor cannot run them (Orkes Conductor can).
NOT_RUN_BY_OSS = ("terminate_workflow", "update_workflow_variables")


@dataclass(frozen=True)
class LocalEventHandler:
    """One handler read from a file, in normal form. ``notes`` are the fields the server ignores and
    other things worth a line that are not errors; ``start_lines`` the line of each workflow start."""

    name: str
    definition: dict[str, Any]
    path: Path
    line: int
    notes: tuple[Problem, ...] = ()
    start_lines: Mapping[str, int] = field(default_factory=dict)

    @property
    def starts(self) -> list[WorkflowStart]:
        return list(handler_starts(self.definition))


def event_files(events_dir: Path) -> list[Path]:
    """Handler files under the events folder, at any depth, hidden files and folders left out."""
    return definition_files(events_dir)


def read_event_handlers(
    events_dir: Path,
    *,
    handler_lists: Iterable[Path] = (),
    variables: dict[str, Any],
    workflows_dir: Path | None = None,
    root: Path | None = None,
) -> list[LocalEventHandler]:
    """Every handler of the events folder and of the ``handler_lists`` (files of the workflows tree that
    hold lists of handlers); raise ``DefinitionError`` with all problems if any is bad. Files must resolve
    inside the project ``root`` or their own folder."""
    problems: list[Problem] = []
    found: list[LocalEventHandler] = []
    sources: list[tuple[Path, bool, list[Path]]] = [
        (path, False, [events_dir, *((root,) if root else ())]) for path in event_files(events_dir)
    ]
    lists_within = [*((workflows_dir,) if workflows_dir else ()), *((root,) if root else ())]
    sources += [(path, True, lists_within or [path.parent]) for path in sorted(set(handler_lists))]
    for path, is_list, within in sources:
        try:
            source = _read(path, variables, within, "event handler file")
        except FileProblems as exc:
            problems.extend(exc.problems)
            continue
        items = _items(source, is_list, problems)
        for where, data in items:
            handler, wrong = _read_handler(source, where, data)
            problems.extend(wrong)
            if handler is not None:
                found.append(handler)
    seen: dict[str, LocalEventHandler] = {}
    unique: list[LocalEventHandler] = []
    for handler in found:
        first = seen.get(handler.name)
        if first is not None:
            problems.append(
                Problem(str(handler.path), handler.line, 1,
                        f"event handler {handler.name!r} is defined twice: here and in {first.path}:{first.line}")
            )  # fmt: skip
            continue
        seen[handler.name] = handler
        unique.append(handler)
    if problems:
        raise DefinitionError(problems, what="event handler")
    return sorted(unique, key=lambda h: h.name)


def _items(source: SourceFile, is_list: bool, problems: list[Problem]) -> list[tuple[Where, Any]]:
    data = source.data
    if is_list:
        if not isinstance(data, list) or not data:
            problems.append(source.problem((), f"expected a list of event handlers, found {kind_of(data)}"))
            return []
        return [((index,), item) for index, item in enumerate(data)]
    if isinstance(data, list):
        problems.append(
            source.problem(
                (),
                f"a list of {len(data)} item(s): a file under the events folder holds one event handler "
                f"(a mapping); lists are read from {ORIGINAL_FILE_NAME} files in the workflows tree",
            )
        )
        return []
    return [((), data)]


def _read_handler(source: SourceFile, where: Where, data: Any) -> tuple[LocalEventHandler | None, list[Problem]]:
    line = source.line(where)
    if not isinstance(data, dict):
        return None, [source.problem(where, f"an event handler must be a mapping, not {kind_of(data)}")]
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        at = "the event handler" + (f" at item {where[0]}" if where else "")
        return None, [source.problem((*where, "name"), f"{at} needs a 'name' (a non-empty string)")]
    label = f"event handler {name!r}"
    problems = [source.problem((*where, *path), f"{label}: {message}") for path, message in check_handler(data)]
    notes = [source.problem((*where, *path), f"{label}: {message}") for path, message in handler_notes(data)]
    ignored: list[Ignored] = []
    definition = normalise_event_handler(data, ignored)
    notes += [
        source.problem(
            (*where, *path),
            f"{label}: '{human(path)}' is ignored by the server ({_TITLES.get(struct, struct)} has no such "
            "field in Conductor); it has no effect, remove it",
        )
        for path, struct in ignored
    ]
    if problems:
        return None, problems
    starts = {s.location: source.line((*where, *_path_of(s.location))) for s in handler_starts(definition)}
    return LocalEventHandler(name, definition, source.path, line, tuple(notes), starts), []


_TITLES = {
    "EventHandler": "an event handler",
    "EventHandlerAction": "an action",
    "EventStartWorkflow": "start_workflow",
    "EventTaskDetails": "complete_task/fail_task",
    "EventTerminateWorkflow": "terminate_workflow",
    "EventUpdateWorkflowVariables": "update_workflow_variables",
    "EventStartAgent": "start_agent",
}


def _path_of(location: str) -> Where:
    """``actions[0].start_workflow`` as a path."""
    parts: list[str | int] = []
    for piece in location.replace("]", "").split("."):
        head, _, index = piece.partition("[")
        parts.append(head)
        if index:
            parts.append(int(index))
    return tuple(parts)


def check_handler(data: dict[str, Any]) -> list[tuple[Where, str]]:
    """Every problem of one handler as written, ``(path, message)``: what the server would refuse, or
    store and then fail on (or silently do something else with)."""
    problems: list[tuple[Where, str]] = []
    name = data.get("name")
    if isinstance(name, str) and not SAFE_NAME.fullmatch(name):
        problems.append((("name",), f"the name {NAME_RULE}"))
    problems += [
        (path, _type_message(path, message))
        for path, message in type_problems(EVENT_HANDLER, data)
        if not (len(path) >= 3 and path[0] == "actions" and path[2] == "action")  # reported below, with the types
    ]
    event = data.get("event")
    if event is None or event == "":
        problems.append((("event",), "needs an 'event' (like 'conductor:WORKFLOW:TASK_REF' or 'sqs:queue')"))
    elif isinstance(event, str):
        queue_type, colon, queue = event.partition(":")
        if not colon or not _QUEUE_TYPE.fullmatch(queue_type) or not queue.strip():
            problems.append((("event",), f"'event' {event!r} must be 'type:queue' (like 'sqs:queue')"))
    actions = data.get("actions")
    if actions is None or actions == []:
        problems.append((("actions",), "needs 'actions' (a non-empty list)"))
    elif isinstance(actions, list):
        for index, action in enumerate(actions):
            problems += _action_problems(index, action)
    return problems


def _type_message(path: Where, message: str) -> str:
    if path == ("evaluatorType",):
        return f"'evaluatorType' {message} (without one the condition runs as JavaScript)"
    return f"'{human(path)}' {message}"


def _action_problems(index: int, action: Any) -> list[tuple[Where, str]]:
    at: Where = ("actions", index)
    if not isinstance(action, dict):
        return [(at, f"{human(at)} must be a mapping (an action), not {kind_of(action)}")]
    kind = action.get("action")
    if kind not in ACTION_TYPES:
        shown = "no 'action'" if kind is None else f"'action' {kind!r}"
        return [((*at, "action"), f"{human(at)} has {shown}: it must be one of {', '.join(ACTION_TYPES)}")]
    problems: list[tuple[Where, str]] = []
    if kind in NOT_RUN_BY_OSS:
        problems.append(
            ((*at, "action"), f"{human(at)}: conductor-oss stores a {kind} action but its event processor cannot "
                              "run it (it fails every event); only Orkes Conductor runs it")
        )  # fmt: skip
    for other in ACTION_TYPES:
        if other != kind and action.get(other) is not None:
            problems.append(((*at, other), f"{human(at)} is a {kind} action: its '{other}' is never read; remove it"))
    params = action.get(kind)
    if params is None:
        return [*problems, ((*at, "action"), f"{human(at)} is a {kind} action without '{kind}' (its parameters)")]
    if not isinstance(params, dict):
        return problems  # type_problems said so
    needs = _NEEDS[kind]
    if not any(all(isinstance(params.get(k), str) and params[k].strip() for k in keys) for keys in needs):
        wanted = " or ".join(" and ".join(f"'{k}'" for k in keys) for keys in needs)
        problems.append(((*at, kind), f"{human((*at, kind))} needs {wanted} (non-empty strings)"))
    version = params.get("version")
    if kind in ("start_workflow", "start_agent") and isinstance(version, int) and not isinstance(version, bool) \
            and version < 1:  # fmt: skip
        problems.append(((*at, kind, "version"), f"{human((*at, kind, 'version'))} must be 1 or more, not {version}"))
    return problems


def handler_notes(data: dict[str, Any]) -> list[tuple[Where, str]]:
    """Things about a valid handler worth a line that are not errors."""
    notes: list[tuple[Where, str]] = []
    if data.get("active") is None:
        notes.append(((), "'active' is not set: the server stores the handler inactive (active: false)"))
    event = data.get("event")
    if isinstance(event, str) and ":" in event:
        queue_type = event.partition(":")[0]
        if queue_type not in EVENT_QUEUE_TYPES:
            notes.append(
                (("event",), f"conductor-oss has no event queue of type {queue_type!r} (it has "
                             f"{', '.join(EVENT_QUEUE_TYPES)}): the server stores the handler, but only a server "
                             "with such a provider delivers events to it")
            )  # fmt: skip
    return notes


def check_event_starts(handlers: Iterable[LocalEventHandler], known: set[tuple[str, int]]) -> list[Problem]:
    """A problem for each ``start_workflow`` of a workflow (version) defined neither locally nor on the
    server; ``known`` holds the ``(name, version)`` of both."""
    problems = []
    for handler in handlers:
        for start in handler.starts:
            message = start_problem(start, known)
            if message:
                line = handler.start_lines.get(start.location, handler.line)
                problems.append(Problem(str(handler.path), line, 1, f"event handler {handler.name!r}: {message}"))
    return problems
