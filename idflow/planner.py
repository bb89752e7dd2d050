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
from idflow.plan import Action, Blocker, Change, Kind, Plan, PlanOptions, Reason, object_key, thaw
from idflow.state import ActualState, DesiredState, WorkflowKey
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
    fingerprints: dict[str, str | None] = {}
    warnings: list[str] = []
    unmanaged: list[str] = []

    def in_scope(name: str) -> bool:
        return (not options.targets or name in options.targets) and not any(
            fnmatch.fnmatchcase(name, pattern) for pattern in ignore
        )

    def wanted(change: Change) -> bool:
        return change.action is Action.NOOP or not options.only or change.action in options.only

    workflow_changes = [
        c
        for c in _workflow_changes(desired, actual, options, in_scope, fingerprints, unmanaged, owner_email)
        if wanted(c)
    ]
    after_apply = _workflows_after_apply(actual, workflow_changes)

    task_changes: list[Change] = []
    for name in sorted(set(desired.tasks) | set(actual.tasks)):
        if not in_scope(name):
            continue
        local, remote = desired.tasks.get(name), actual.tasks.get(name)
        key = object_key(Kind.TASK, name)
        if local is not None and remote is None:
            change = Change(
                Kind.TASK, name, Action.CREATE, Reason.NEW_LOCALLY, after=local.definition, source=local.source
            )
            fingerprints[key] = None
        elif local is not None and remote is not None:
            diff = field_diffs(remote.definition, local.definition)
            if diff or options.overwrite:
                reason = Reason.CHANGED if diff else Reason.FORCED
                change = Change(
                    Kind.TASK,
                    name,
                    Action.UPDATE,
                    reason,
                    before=remote.definition,
                    after=local.definition,
                    diff=diff,
                    source=local.source,
                )
                fingerprints[key] = remote.fingerprint
            else:
                change = Change(
                    Kind.TASK,
                    name,
                    Action.NOOP,
                    Reason.IN_SYNC,
                    before=remote.definition,
                    after=local.definition,
                    source=local.source,
                )
        else:
            assert remote is not None
            if owner_email and remote.definition.get("ownerEmail") != owner_email:
                unmanaged.append(object_key(Kind.TASK, name))
                continue
            uses = _uses_of(name, after_apply)
            change = Change(
                Kind.TASK,
                name,
                Action.DELETE,
                Reason.ORPHANED,
                before=remote.definition,
                blockers=tuple(uses),
                warnings=tuple(_dynamic_warnings(after_apply)),
            )
            fingerprints[key] = remote.fingerprint
            fingerprints[f"uses:{name}"] = usage_fingerprint(name, actual)
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

    return Plan(
        server_url=server_url,
        created_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        idflow_version=__version__,
        options=options,
        changes=tuple(task_changes + workflow_changes),
        fingerprints=fingerprints,
        unmanaged=tuple(unmanaged),
        warnings=tuple(warnings),
    )


def _workflow_changes(
    desired: DesiredState,
    actual: ActualState,
    options: PlanOptions,
    in_scope: Any,
    fingerprints: dict[str, str | None],
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
        key = object_key(Kind.WORKFLOW, name, version)
        if local is not None and remote is None:
            changes.append(
                Change(
                    Kind.WORKFLOW,
                    name,
                    Action.CREATE,
                    Reason.NEW_LOCALLY,
                    after=local.definition,
                    version=version,
                    source=local.source,
                )
            )
            fingerprints[key] = None
        elif local is not None and remote is not None:
            diff = field_diffs(remote.definition, local.definition)
            if diff or options.overwrite:
                changes.append(
                    Change(
                        Kind.WORKFLOW,
                        name,
                        Action.UPDATE,
                        Reason.CHANGED if diff else Reason.FORCED,
                        before=remote.definition,
                        after=local.definition,
                        diff=diff,
                        version=version,
                        source=local.source,
                    )
                )
                fingerprints[key] = remote.fingerprint
            else:
                changes.append(
                    Change(
                        Kind.WORKFLOW,
                        name,
                        Action.NOOP,
                        Reason.IN_SYNC,
                        before=remote.definition,
                        after=local.definition,
                        version=version,
                        source=local.source,
                    )
                )
        elif remote is not None:
            owned = not owner_email or remote.definition.get("ownerEmail") == owner_email
            if options.prune_workflows and owned:
                changes.append(
                    Change(Kind.WORKFLOW, name, Action.DELETE, Reason.PRUNED, before=remote.definition, version=version)
                )
                fingerprints[key] = remote.fingerprint
            else:
                unmanaged.append(key)
    return changes


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
