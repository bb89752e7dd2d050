"""Local workflow schedules: one per file under ``idflow/schedules/`` (``.yaml``/``.json``, or a ``.j2``
template of either, as workflow files).

conductor-oss stores an invalid cron expression and a schedule of a workflow that does not exist, both
with 200 (the schedule then never runs, or fails each time), and answers a bad ``zoneId`` with a 500. So
each is checked here before any request: the cron expression as the server's parser reads it
(``idflow.repo.cron``; a problem names the bad field), the zone, and the workflow version the schedule
starts (``check_schedule_starts``, once the server's workflows are known). ``startWorkflowRequest`` must
name the workflow and pin its version: without one the server starts whatever is the latest at run time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idflow.errors import DefinitionError, Problem
from idflow.kinds.normal import Ignored, type_problems
from idflow.kinds.schedule_normal import normalise_schedule
from idflow.kinds.server_model import START_WORKFLOW_REQUEST, WORKFLOW_SCHEDULE
from idflow.kinds.workflow_starts import WorkflowStart, schedule_starts, start_problem
from idflow.repo.cron import CronProblem, check_cron, check_zone
from idflow.repo.definition_files import FileProblems, SourceFile, Where, definition_files, human, kind_of
from idflow.repo.definition_files import read_definition_file as _read
from idflow.repo.workflow_files import NAME_RULE, SAFE_NAME


@dataclass(frozen=True)
class LocalSchedule:
    """One schedule read from a file, in normal form; ``notes`` are fields the server ignores or sets
    itself; ``start_line`` is the line of its ``startWorkflowRequest``."""

    name: str
    definition: dict[str, Any]
    path: Path
    line: int
    notes: tuple[Problem, ...] = ()
    start_line: int = 0

    @property
    def starts(self) -> list[WorkflowStart]:
        return list(schedule_starts(self.definition))


def schedule_files(schedules_dir: Path) -> list[Path]:
    """Schedule files under the folder, at any depth, hidden files and folders left out."""
    return definition_files(schedules_dir)


def read_schedules(schedules_dir: Path, *, variables: dict[str, Any], root: Path | None = None) -> list[LocalSchedule]:
    """Every schedule file; raise ``DefinitionError`` with all problems if any file is bad."""
    within = [schedules_dir, *((root,) if root else ())]
    problems: list[Problem] = []
    seen: dict[str, LocalSchedule] = {}
    for path in schedule_files(schedules_dir):
        try:
            source = _read(path, variables, within, "schedule file")
        except FileProblems as exc:
            problems.extend(exc.problems)
            continue
        schedule, wrong = _read_schedule(source)
        problems.extend(wrong)
        if schedule is None:
            continue
        first = seen.get(schedule.name)
        if first is not None:
            problems.append(
                Problem(str(path), schedule.line, 1,
                        f"schedule {schedule.name!r} is defined twice: here and in {first.path}:{first.line}")
            )  # fmt: skip
            continue
        seen[schedule.name] = schedule
    if problems:
        raise DefinitionError(problems, what="schedule")
    return [seen[name] for name in sorted(seen)]


def _read_schedule(source: SourceFile) -> tuple[LocalSchedule | None, list[Problem]]:
    data = source.data
    if not isinstance(data, dict):
        hint = " (one schedule per file)" if isinstance(data, list) else ""
        return None, [source.problem((), f"a schedule file holds one schedule (a mapping), not {kind_of(data)}{hint}")]
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        return None, [source.problem(("name",), "the schedule needs a 'name' (a non-empty string)")]
    label = f"schedule {name!r}"
    problems = [source.problem(path, f"{label}: {message}") for path, message in check_schedule(data)]
    if problems:
        return None, problems
    ignored: list[Ignored] = []
    definition = normalise_schedule(data, ignored)
    notes = [
        source.problem(path, f"{label}: '{human(path)}' is ignored by the server ({struct} has no such field "
                             "in Conductor); it has no effect, remove it")
        for path, struct in ignored
    ]  # fmt: skip
    notes += [
        source.problem(path, f"{label}: '{human(path)}' is set by the server; the file's value is not used, remove it")
        for path in _server_owned(data)
    ]
    return LocalSchedule(name, definition, source.path, source.line(()), tuple(notes),
                         source.line(("startWorkflowRequest",))), []  # fmt: skip


def _server_owned(data: Mapping[str, Any]) -> list[Where]:
    found: list[Where] = [(k,) for k in data if k in WORKFLOW_SCHEDULE.server_owned and data[k] is not None]
    request = data.get("startWorkflowRequest")
    if isinstance(request, dict):
        owned = START_WORKFLOW_REQUEST.server_owned
        found += [("startWorkflowRequest", k) for k in request if k in owned and request[k] is not None]
    return found


def check_schedule(data: dict[str, Any]) -> list[tuple[Where, str]]:
    """Every problem of one schedule as written, ``(path, message)``."""
    problems: list[tuple[Where, str]] = []
    name = data.get("name")
    if isinstance(name, str) and not SAFE_NAME.fullmatch(name):
        problems.append((("name",), f"the name {NAME_RULE}"))
    owned = set(_server_owned(data))
    problems += [(path, f"'{human(path)}' {message}") for path, message in type_problems(WORKFLOW_SCHEDULE, data)
                 if path not in owned]  # fmt: skip
    if problems:
        return problems  # the checks below read the values as the model's types
    cron, several = data.get("cronExpression"), data.get("cronSchedules") or []
    if cron in (None, "") and not several:
        problems.append((("cronExpression",), "needs a 'cronExpression' (six fields: second minute hour "
                                              "day-of-month month day-of-week, like '0 0 * * * ?')"))  # fmt: skip
    if cron not in (None, ""):
        problems += _cron(("cronExpression",), cron)
    if data.get("zoneId") not in (None, ""):
        problems += _zone(("zoneId",), data["zoneId"])
    for index, item in enumerate(several):
        if not isinstance(item, dict):
            continue  # type_problems said so
        where: Where = ("cronSchedules", index)
        if item.get("cronExpression") in (None, ""):
            problems.append(((*where, "cronExpression"), f"'{human(where)}' needs a 'cronExpression'"))
        else:
            problems += _cron((*where, "cronExpression"), item["cronExpression"])
        if item.get("zoneId") not in (None, ""):
            problems += _zone((*where, "zoneId"), item["zoneId"])
    start, end = data.get("scheduleStartTime"), data.get("scheduleEndTime")
    for key, value in (("scheduleStartTime", start), ("scheduleEndTime", end)):
        if isinstance(value, int) and value < 0:
            problems.append(((key,), f"'{key}' is milliseconds since 1970 and cannot be negative"))
    if isinstance(start, int) and isinstance(end, int) and end <= start:
        problems.append((("scheduleEndTime",), "'scheduleEndTime' must be after 'scheduleStartTime'"))
    problems += _request_problems(data.get("startWorkflowRequest"))
    return problems


def _cron(where: Where, expression: str) -> list[tuple[Where, str]]:
    try:
        check_cron(expression)
    except CronProblem as exc:
        return [(where, f"'{human(where)}' {expression!r} is not a cron expression the server can run: {exc}")]
    return []


def _zone(where: Where, zone: str) -> list[tuple[Where, str]]:
    try:
        check_zone(zone)
    except CronProblem as exc:
        return [(where, f"'{human(where)}': {exc}")]
    return []


def _request_problems(request: Any) -> list[tuple[Where, str]]:
    where: Where = ("startWorkflowRequest",)
    if request is None:
        return [(where, "needs a 'startWorkflowRequest' (the workflow to start: name and version)")]
    problems: list[tuple[Where, str]] = []
    name, version = request.get("name"), request.get("version")
    if not isinstance(name, str) or not name.strip():
        problems.append(((*where, "name"), "'startWorkflowRequest' needs the 'name' of the workflow it starts"))
    priority = request.get("priority")
    if isinstance(priority, int) and not 0 <= priority <= 99:
        problems.append(((*where, "priority"), f"'startWorkflowRequest.priority' must be 0-99, not {priority}"))
    if isinstance(request.get("workflowDef"), dict):
        return problems  # an inline definition: it runs that, and names no stored version
    if version is None:
        message = "'startWorkflowRequest' needs the 'version' of the workflow it starts (without one the server "
        problems.append(((*where, "version"), message + "starts whatever is the latest at run time)"))
    elif version < 1:
        problems.append(((*where, "version"), f"'startWorkflowRequest.version' must be 1 or more, not {version}"))
    return problems


def check_schedule_starts(schedules: Iterable[LocalSchedule], known: set[tuple[str, int]]) -> list[Problem]:
    """A problem for each schedule that starts a workflow version defined neither locally nor on the
    server; ``known`` holds the ``(name, version)`` of both."""
    problems = []
    for schedule in schedules:
        for start in schedule.starts:
            message = start_problem(start, known)
            if message:
                line = schedule.start_line or schedule.line
                problems.append(Problem(str(schedule.path), line, 1, f"schedule {schedule.name!r}: {message}"))
    return problems
