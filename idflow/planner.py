"""desired + actual + options -> Plan. Pure: no I/O, no clock unless none is given.

Objects are keyed by name (workflows by name and version): local-only ones are created, remote-only
ones deleted (tasks, when managed; workflows only with ``prune_workflows``), and the overlap compared on
normalised content. Every problem is collected on the plan (blockers, warnings) rather than raised.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from idflow import __version__
from idflow.diffing import field_diffs
from idflow.normal import content_hash
from idflow.ownership import manages
from idflow.plan import Action, Blocker, Change, Kind, Plan, PlanOptions, Reason, object_key, thaw
from idflow.state import ActualState, DesiredObject, DesiredState, RemoteObject, WorkflowKey
from idflow.usage import dynamic_uses, task_uses


def build_plan(
    desired: DesiredState,
    actual: ActualState,
    options: PlanOptions,
    *,
    server_url: str,
    owner_email: str | None = None,
    ignore: tuple[str, ...] = (),
    now: datetime | None = None,
) -> Plan:
    warnings: list[str] = []
    unmanaged: list[str] = []

    def in_scope(name: str) -> bool:
        return (not options.targets or name in options.targets) and not any(
            fnmatch.fnmatchcase(name, pattern) for pattern in ignore
        )

    def wanted(change: Change) -> bool:
        return change.action is Action.NOOP or not options.only or change.action in options.only

    workflow_changes = [
        c for c in _workflow_changes(desired, actual, options, in_scope, unmanaged, owner_email) if wanted(c)
    ]
    after_apply = _workflows_after_apply(actual, workflow_changes)

    task_changes: list[Change] = []
    for name in sorted(set(desired.tasks) | set(actual.tasks)):
        if not in_scope(name):
            continue
        local, remote = desired.tasks.get(name), actual.tasks.get(name)
        if local is not None:
            change = _compare(Kind.TASK, name, None, local, remote, options.overwrite)
        else:
            assert remote is not None
            if not manages(owner_email, remote.definition):
                unmanaged.append(object_key(Kind.TASK, name))
                continue
            change = Change(
                Kind.TASK, name, Action.DELETE, Reason.ORPHANED, before=remote.definition,
                blockers=tuple(_uses_of(name, after_apply)), warnings=tuple(_dynamic_warnings(after_apply)),
            )  # fmt: skip
        if wanted(change):
            task_changes.append(change)

    for target in options.targets:
        if (
            target not in desired.tasks
            and target not in actual.tasks
            and not any(n == target for n, _v in (*desired.workflows, *actual.workflows))
        ):
            warnings.append(f"--target {target}: no task or workflow of that name, locally or on the server")
    warnings.extend(_undefined_task_warnings(desired, actual, after_apply))
    if desired.manages_workflows:
        warnings.extend(
            note for (name, _v), local in sorted(desired.workflows.items()) if in_scope(name) for note in local.notes
        )

    return Plan(
        server_url=server_url,
        created_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        idflow_version=__version__,
        options=options,
        changes=tuple(task_changes + workflow_changes),
        fingerprints=_fingerprints(task_changes + workflow_changes, actual),
        unmanaged=tuple(unmanaged),
        warnings=tuple(warnings),
        notes=desired.notes,
    )


def _workflow_changes(
    desired: DesiredState,
    actual: ActualState,
    options: PlanOptions,
    in_scope: Any,
    unmanaged: list[str],
    owner_email: str | None,
) -> list[Change]:
    if not desired.manages_workflows:
        return []
    changes: list[Change] = []
    for name, version in sorted(set(desired.workflows) | set(actual.workflows)):
        if not in_scope(name):
            continue
        local, remote = desired.workflows.get((name, version)), actual.workflows.get((name, version))
        if local is not None:
            changes.append(_compare(Kind.WORKFLOW, name, version, local, remote, options.overwrite))
        elif remote is not None:
            key = object_key(Kind.WORKFLOW, name, version)
            if options.prune_workflows and manages(owner_email, remote.definition):
                changes.append(
                    Change(Kind.WORKFLOW, name, Action.DELETE, Reason.PRUNED, before=remote.definition, version=version)
                )
            else:
                unmanaged.append(key)
    return changes


def _compare(
    kind: Kind,
    name: str,
    version: int | None,
    local: DesiredObject,
    remote: RemoteObject | None,
    overwrite: bool,
) -> Change:
    """Create, update or no-op for an object defined locally."""
    if remote is None:
        return Change(kind, name, Action.CREATE, Reason.NEW_LOCALLY, after=local.definition, version=version,
                      source=local.source)  # fmt: skip
    diff = field_diffs(remote.definition, local.definition)
    if not diff and not overwrite:
        return Change(kind, name, Action.NOOP, Reason.IN_SYNC, before=remote.definition, after=local.definition,
                      version=version, source=local.source)  # fmt: skip
    return Change(kind, name, Action.UPDATE, Reason.CHANGED if diff else Reason.FORCED, before=remote.definition,
                  after=local.definition, diff=diff, version=version, source=local.source)  # fmt: skip


def _fingerprints(changes: list[Change], actual: ActualState) -> dict[str, str | None]:
    """For every change apply will make, the remote object's fingerprint now (None: it must stay absent),
    and for task deletes which workflows use the task: what apply's stale check compares."""
    found: dict[str, str | None] = {}
    for change in changes:
        if change.action is Action.NOOP:
            continue
        if change.kind is Kind.TASK:
            remote = actual.tasks.get(change.name)
        else:
            remote = actual.workflows.get((change.name, int(change.version or 1)))
        found[change.key] = remote.fingerprint if remote is not None else None
        if change.kind is Kind.TASK and change.action is Action.DELETE:
            found[f"uses:{change.name}"] = usage_fingerprint(change.name, actual)
    return found


def _workflows_after_apply(actual: ActualState, workflow_changes: list[Change]) -> dict[WorkflowKey, Mapping[str, Any]]:
    """The server's workflows as they will be once the planned workflow changes are applied."""
    result: dict[WorkflowKey, Mapping[str, Any]] = {k: v.definition for k, v in actual.workflows.items()}
    for change in workflow_changes:
        key = (change.name, int(change.version or 1))
        if change.action is Action.DELETE:
            result.pop(key, None)
        elif change.after is not None:
            result[key] = thaw(change.after)
    return result


def _uses_of(task_name: str, workflows: Mapping[WorkflowKey, Mapping[str, Any]]) -> list[Blocker]:
    found = []
    for (name, version), definition in sorted(workflows.items()):
        for use in task_uses(definition):
            if use.task_name == task_name:
                found.append(Blocker(name, version, use.location, use.ref))
    return found


def _dynamic_warnings(workflows: Mapping[WorkflowKey, Mapping[str, Any]]) -> list[str]:
    return [
        f"may be used at run time by workflow {name} v{version} (dynamic task at {location})"
        for (name, version), definition in sorted(workflows.items())
        for location in dynamic_uses(definition)
    ]


def _undefined_task_warnings(
    desired: DesiredState, actual: ActualState, workflows: Mapping[WorkflowKey, Mapping[str, Any]]
) -> list[str]:
    known = set(desired.tasks) | set(actual.tasks)
    return [
        f"workflow {name} v{version} uses task {use.task_name!r} at {use.location}, "
        "which is defined neither locally nor on the server"
        for (name, version), definition in sorted(workflows.items())
        for use in task_uses(definition)
        if use.task_name not in known
    ]


def usage_fingerprint(task_name: str, actual: ActualState) -> str:
    """Which server workflows use a task: apply compares it to refuse deleting a task that became used."""
    uses = sorted(
        (name, version, use.location)
        for (name, version), remote in actual.workflows.items()
        for use in task_uses(remote.definition)
        if use.task_name == task_name
    )
    return content_hash(uses)
