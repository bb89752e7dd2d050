"""desired + actual + options -> Plan. Pure: no I/O, no clock unless none is given.

Objects are keyed by name (workflows by name and version): local-only ones are created, remote-only
ones deleted (tasks, when managed; workflows only with ``prune_workflows``), and the overlap compared on
normalised content. Every problem is collected on the plan (blockers, warnings) rather than raised.

Usage is one model for every command: a task is used if a workflow the server will hold after apply
uses it, and every local workflow counts, whatever ``--target``/``--only`` left out of this plan (it
will be applied some day; a filtered-out update leaves the server's version in place meanwhile, so
both count). Warnings concern what this project manages (local workflows, and server workflows of
``owner_email``); the same warnings about other owners' workflows go to ``unmanaged_warnings``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from idflow import __version__
from idflow.apply.record import ApplyRecord, Entry, body_hash
from idflow.kinds.ownership import manages
from idflow.kinds.usage import UsageIndex
from idflow.plan.diffing import field_diffs
from idflow.plan.inputs import ActualState, DesiredObject, DesiredState, RemoteObject, WorkflowKey
from idflow.plan.model import Action, Blocker, Change, Kind, Plan, PlanOptions, Reason, object_key, thaw


def build_plan(
    desired: DesiredState,
    actual: ActualState,
    options: PlanOptions,
    *,
    server_url: str,
    owner_email: str | None = None,
    ignore: tuple[str, ...] = (),
    now: datetime | None = None,
    record: ApplyRecord | None = None,
    record_note: str = "",
) -> Plan:
    """``record``: this project's apply record (None: none readable, and ``record_note`` says why); with
    it every difference gets its three-way reason, and without ``owner_email`` it says what is ours."""
    warnings: list[str] = []
    unmanaged: list[str] = []
    entries: Mapping[str, Entry] = record.objects if record is not None else {}

    def in_scope(name: str) -> bool:
        return (not options.targets or name in options.targets) and not any(
            fnmatch.fnmatchcase(name, pattern) for pattern in ignore
        )

    def wanted(change: Change) -> bool:
        return change.action is Action.NOOP or not options.only or change.action in options.only

    workflow_changes = [
        c
        for c in _workflow_changes(desired, actual, options, in_scope, unmanaged, owner_email, warnings, entries)
        if wanted(c)
    ]
    after_apply = _workflows_after_apply(desired, actual, workflow_changes)
    usage = UsageIndex.of(d for definitions in after_apply.values() for d in definitions)

    task_changes: list[Change] = []
    for name in sorted(set(desired.tasks) | set(actual.tasks)):
        if not in_scope(name):
            continue
        local, remote = desired.tasks.get(name), actual.tasks.get(name)
        key = object_key(Kind.TASK, name)
        if local is not None:
            change = _compare(Kind.TASK, name, None, local, remote, options.overwrite, entries.get(key))
        else:
            assert remote is not None
            if not manages(owner_email, remote.definition, key, entries):
                unmanaged.append(key)
                continue
            if "/" in name:
                if not options.only or Action.DELETE in options.only:
                    warnings.append(undeletable(Kind.TASK, name))
                continue
            reason = Reason.NEW_ON_SERVER if record is not None and key not in entries else Reason.ORPHANED
            change = Change(
                Kind.TASK, name, Action.DELETE, reason, before=remote.definition,
                blockers=tuple(Blocker(u.workflow, u.version, u.location, u.ref) for u in usage.uses_of(name)),
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
    managed = _managed_workflows(desired, after_apply, owner_email)
    unmanaged_warnings: list[str] = []
    for key, warning in _usage_warnings(desired, actual, usage, task_changes, options.force):
        (warnings if key in managed else unmanaged_warnings).append(warning)
    if desired.manages_workflows:
        warnings.extend(
            note for (name, _v), local in sorted(desired.workflows.items()) if in_scope(name) for note in local.notes
        )

    notes = list(desired.notes)
    changes = task_changes + workflow_changes
    if record is None and record_note and any(c.action in (Action.UPDATE, Action.DELETE) for c in changes):
        notes.append(f"{record_note}: differences are not told apart as pending, drift or conflict")
    if not owner_email and unmanaged:
        notes.append(
            f"{len(unmanaged)} object(s) on the server were not applied by this project and are left alone "
            "(without owner_email only what idflow applied here counts as this project's); set owner_email "
            "to manage by owner"
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
        unmanaged_warnings=tuple(unmanaged_warnings),
        notes=tuple(notes),
        three_way=record is not None,
    )


def undeletable(kind: Kind, name: str, version: int | None = None) -> str:
    """Conductor rejects ``%2F`` in a path, so an object whose name contains '/' cannot be deleted through its
    API: planning that delete would fail every apply from now on. It is said once per plan instead."""
    label = name if version is None else f"{name} v{version}"
    return (
        f"{kind.value} {label} is on the server but not in the local files, and is left there: the server "
        "cannot delete a name containing '/' (its API rejects %2F); remove it from the server's database by hand"
    )


def _workflow_changes(
    desired: DesiredState,
    actual: ActualState,
    options: PlanOptions,
    in_scope: Any,
    unmanaged: list[str],
    owner_email: str | None,
    warnings: list[str],
    entries: Mapping[str, Entry],
) -> list[Change]:
    if not desired.manages_workflows:
        return []
    changes: list[Change] = []
    for name, version in sorted(set(desired.workflows) | set(actual.workflows)):
        if not in_scope(name):
            continue
        local, remote = desired.workflows.get((name, version)), actual.workflows.get((name, version))
        key = object_key(Kind.WORKFLOW, name, version)
        if local is not None:
            changes.append(_compare(Kind.WORKFLOW, name, version, local, remote, options.overwrite, entries.get(key)))
        elif remote is not None:
            if options.prune_workflows and manages(owner_email, remote.definition, key, entries) and "/" in name:
                if not options.only or Action.DELETE in options.only:
                    warnings.append(undeletable(Kind.WORKFLOW, name, version))
            elif options.prune_workflows and manages(owner_email, remote.definition, key, entries):
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
    entry: Entry | None = None,
) -> Change:
    """Create, update or no-op for an object defined locally. ``entry``: what the last apply wrote (three-way)."""
    if remote is None:
        reason = Reason.DELETED_ON_SERVER if entry is not None else Reason.NEW_LOCALLY
        return Change(kind, name, Action.CREATE, reason, after=local.definition, version=version,
                      source=local.source)  # fmt: skip
    diff = field_diffs(remote.definition, local.definition)
    if not diff and not overwrite:
        return Change(kind, name, Action.NOOP, Reason.IN_SYNC, before=remote.definition, after=local.definition,
                      version=version, source=local.source)  # fmt: skip
    reason, local_diff, server_diff = Reason.CHANGED if diff else Reason.FORCED, (), ()
    if diff and entry is not None:
        server_moved = body_hash(thaw(remote.definition)) != entry.held
        local_moved = body_hash(thaw(local.definition)) not in (entry.written, entry.held)
        base = thaw(entry.body) if entry.body is not None else None
        if server_moved:
            reason = Reason.CONFLICT if local_moved else Reason.CHANGED_ON_SERVER
            if base is not None:
                server_diff = field_diffs(base, remote.definition)
                local_diff = field_diffs(base, local.definition) if local_moved else ()
    return Change(kind, name, Action.UPDATE, reason, before=remote.definition, after=local.definition, diff=diff,
                  version=version, source=local.source, local_diff=tuple(local_diff),
                  server_diff=tuple(server_diff))  # fmt: skip


def _fingerprints(changes: list[Change], actual: ActualState) -> dict[str, str | None]:
    """For every change apply will make, the remote object's fingerprint now (None: it must stay absent),
    and for task deletes which workflows use the task: what apply's stale check compares."""
    found: dict[str, str | None] = {}
    usage_now: UsageIndex | None = None
    for change in changes:
        if change.action is Action.NOOP:
            continue
        if change.kind is Kind.TASK:
            remote = actual.tasks.get(change.name)
        else:
            remote = actual.workflows.get((change.name, int(change.version or 1)))
        found[change.key] = remote.fingerprint if remote is not None else None
        if change.kind is Kind.TASK and change.action is Action.DELETE:
            usage_now = usage_now or server_usage(actual)
            found[f"uses:{change.name}"] = usage_now.fingerprint(change.name)
    return found


def server_usage(actual: ActualState) -> UsageIndex:
    """Who uses which task among the server's workflows as they are now (what apply re-reads)."""
    return UsageIndex.of(remote.definition for remote in actual.workflows.values())


def _workflows_after_apply(
    desired: DesiredState, actual: ActualState, workflow_changes: list[Change]
) -> dict[WorkflowKey, list[Mapping[str, Any]]]:
    """The workflows whose uses count: the server's once the planned workflow changes are applied, and
    every local one (a local version not in this plan counts beside the server's, which stays)."""
    result: dict[WorkflowKey, list[Mapping[str, Any]]] = {k: [v.definition] for k, v in actual.workflows.items()}
    planned = set()
    for change in workflow_changes:
        key = (change.name, int(change.version or 1))
        planned.add(key)
        if change.action is Action.DELETE:
            result.pop(key, None)
        elif change.after is not None:
            result[key] = [thaw(change.after)]
    for key, local in desired.workflows.items():
        if key not in planned:
            result.setdefault(key, []).append(local.definition)
    return result


def _managed_workflows(
    desired: DesiredState, workflows: Mapping[WorkflowKey, list[Mapping[str, Any]]], owner_email: str | None
) -> set[WorkflowKey]:
    """Local workflows, and server workflows of ``owner_email`` (all of them when it is not set)."""
    return {
        key
        for key, definitions in workflows.items()
        if key in desired.workflows or not owner_email or any(d.get("ownerEmail") == owner_email for d in definitions)
    }


def _usage_warnings(
    desired: DesiredState, actual: ActualState, usage: UsageIndex, task_changes: list[Change], force: bool
) -> list[tuple[WorkflowKey, str]]:
    """Warnings about how workflows use tasks, each with the workflow it concerns.

    A task that needs a definition but has none anywhere; and, when this plan deletes task
    definitions, every place whose task name is an expression (it may name one of them), once.
    """
    known = set(desired.tasks) | set(actual.tasks)
    found = [
        (
            (use.workflow, use.version),
            f"workflow {use.workflow} v{use.version} uses task {use.task_name!r} at {use.location}, "
            "which is defined neither locally nor on the server",
        )
        for name in sorted(usage.by_task)
        if name not in known
        for use in usage.uses_of(name)
        if use.needs_def
    ]
    deleted = sorted(c.name for c in task_changes if c.action is Action.DELETE and (force or not c.blocked))
    if deleted:
        what = f"{deleted[0]}, which" if len(deleted) == 1 else f"one of the {len(deleted)} tasks"
        found += [
            (
                (choice.workflow, choice.version),
                f"{choice} chooses its task at run time: it may be {what} this plan deletes",
            )
            for choice in usage.choices
        ]
    return found
