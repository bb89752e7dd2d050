"""The canonical form of workflow schedules, and the rule for ``paused``.

A local file and the server's answer (``GET /scheduler/schedules``) both go through
``normalise_schedule``. What conductor-oss 3.32.3 does with a schedule it is given (``POST
/scheduler/schedules``, then a read), found against the real server:

* it sets ``createTime`` (the first save's), ``updatedTime``, ``createdBy``, ``updatedBy`` itself, and keeps a
  ``nextRunTime`` that is sent, although its scheduler does not use it: all server-owned, dropped here;
* unset, it writes back ``zoneId: "UTC"``, ``paused: false``, ``runCatchupScheduleInstances: false``,
  ``cronSchedules: []``, and in ``startWorkflowRequest`` an empty ``input`` and ``taskToDomain`` and
  ``priority: 0``; an inline ``startWorkflowRequest.workflowDef`` comes back as a stored workflow does;
* it keeps ``description`` (unlike an event handler) and drops fields it does not model;
* it stores an invalid cron expression and a schedule of a workflow that does not exist with 200, and
  answers an unknown ``zoneId`` with a 500: ``idflow.repo.schedule_files`` checks all three first.

``paused`` (with ``pausedReason``) is what an operator flips in an incident (``PUT .../pause``). The rule:
a schedule file's ``paused`` is the state the schedule is *created* in; once it exists, ``paused`` belongs
to the server's operators, so a plan never reverts it: it is left out of comparisons
(``comparable_schedule``) and an update carries the server's current value (``schedule_to_send``).
``manage_paused=True`` (the project's ``schedules.manage_paused`` setting) makes the file's value win, as
for any other field.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from idflow.kinds.normal import Ignored, normalise_struct
from idflow.kinds.server_model import WORKFLOW_SCHEDULE
from idflow.kinds.workflow_normal import normalise_workflowdef

#: The fields an operator sets on a running schedule: left to the server unless paused is managed.
OPERATOR_FIELDS = ("paused", "pausedReason")


def normalise_schedule(schedule: Any, ignored: list[Ignored] | None = None) -> Any:
    """The canonical form of one schedule (server JSON shape); ``ignored`` (when given) gets every field
    the server would drop, as ``(path, structure)``. Non-mappings are returned as they are."""
    if not isinstance(schedule, dict):
        return copy.deepcopy(schedule)
    result = normalise_struct(WORKFLOW_SCHEDULE, schedule, ignored=ignored)
    request = result.get("startWorkflowRequest")
    if isinstance(request, dict) and isinstance(request.get("workflowDef"), dict):
        request["workflowDef"] = normalise_workflowdef(request["workflowDef"])
    return result


def comparable_schedule(normal: Mapping[str, Any], manage_paused: bool = False) -> dict[str, Any]:
    """What a plan compares of a normalised schedule: all of it, but ``paused``/``pausedReason`` only when
    the project manages them."""
    if manage_paused:
        return dict(normal)
    return {k: v for k, v in normal.items() if k not in OPERATOR_FIELDS}


def schedule_to_send(
    desired: Mapping[str, Any], current: Mapping[str, Any] | None, manage_paused: bool = False
) -> dict[str, Any]:
    """The body of the ``POST`` that creates (``current`` None) or updates a schedule: the desired normal
    form, with the server's ``paused``/``pausedReason`` kept on an update unless paused is managed (the
    server has no partial update: a body with ``paused: false`` resumes a paused schedule)."""
    body = copy.deepcopy(dict(desired))
    if current is None or manage_paused:
        return body
    for key in OPERATOR_FIELDS:
        body.pop(key, None)
        if current.get(key) is not None:
            body[key] = copy.deepcopy(current[key])
    return body


def paused_note(name: str, desired: Mapping[str, Any], current: Mapping[str, Any], manage_paused: bool) -> str | None:
    """A line for the plan when the server's ``paused`` differs from the file's and is left alone."""
    if manage_paused or bool(desired.get("paused")) == bool(current.get("paused")):
        return None
    state = "paused" if current.get("paused") else "running"
    reason = current.get("pausedReason")
    why = f" ({reason})" if isinstance(reason, str) and reason else ""
    return (
        f"schedule {name!r} is {state} on the server{why}, the file says paused: {bool(desired.get('paused'))}; "
        "left as it is (an operator's pause is not reverted; set schedules.manage_paused to manage it from git)"
    )
