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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from idflow import __version__
from idflow.apply.record import ApplyRecord, Entry, body_hash
from idflow.errors import Problem
from idflow.kinds.key import Kind, ObjectKey
from idflow.kinds.registry import KindSpec, kinds, server_usage, usage_index, users_of_kind
from idflow.kinds.usage import UsageIndex, shared_scans
from idflow.plan.diffing import field_diffs
from idflow.plan.frozen import freeze
from idflow.plan.inputs import ActualState, DesiredObject, DesiredState, RemoteObject, WorkflowKey
from idflow.plan.model import Action, Blocker, Change, Plan, PlanOptions, Reason, thaw


@shared_scans()  # the server's workflows are walked for uses once per plan, whatever asks
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
    problems: Sequence[Problem] = (),
) -> Plan:
    """``record``: this project's apply record (None: none readable, and ``record_note`` says why); with
    it every difference gets its three-way reason, and without ``owner_email`` it says what is ours.
    ``problems``: what the checks of the local files against the server's state found (the plan carries
    them, sorted like a DefinitionError's)."""
    warnings: list[str] = []
    unmanaged: list[str] = []
    entries: Mapping[str, Entry] = record.objects if record is not None else {}

    def in_scope(name: str) -> bool:
        return (not options.targets or name in options.targets) and not any(
            fnmatch.fnmatchcase(name, pattern) for pattern in ignore
        )

    def wanted(change: Change) -> bool:
        if options.kinds and change.kind not in options.kinds:
            return False  # left out like a filtered action: the server's objects stay, and count as users
        return change.action is Action.NOOP or not options.only or change.action in options.only

    specs = kinds()
    local_of = {s.kind: s.local(desired) for s in specs}
    remote_of = {s.kind: s.remote(actual) for s in specs}
    by_kind: dict[Kind, list[Change]] = {}
    indexes: dict[Kind, UsageIndex] = {}
    after_apply: dict[Kind, dict[ObjectKey, list[Mapping[str, Any]]]] = {}
    # Users before what they use: a delete's blockers are the uses among the objects held after apply.
    for spec in reversed(specs):
        uses = indexes[spec.kind] = _uses_after_apply(spec.kind, after_apply)
        context = _Context(options, owner_email, record, entries, in_scope, warnings, unmanaged)
        changes = [c for c in _changes(spec, local_of, remote_of, context, desired, uses) if wanted(c)]
        by_kind[spec.kind] = changes
        after_apply[spec.kind] = _after_apply(local_of[spec.kind], remote_of[spec.kind], changes)

    names = {k.name for s in specs for k in (*local_of[s.kind], *remote_of[s.kind])}
    for target in options.targets:
        if target not in names:
            values = [s.kind.value for s in specs]
            what = " or ".join(values) if len(values) < 3 else f"{', '.join(values[:-1])} or {values[-1]}"
            warnings.append(f"--target {target}: no {what} of that name, locally or on the server")
    task_changes = by_kind[Kind.TASK]
    usage = indexes[Kind.TASK]  # the index of the blockers: users are planned before what they use
    managed = _managed(local_of[Kind.WORKFLOW], after_apply[Kind.WORKFLOW], owner_email)
    unmanaged_warnings: list[str] = []
    for key, warning in _usage_warnings(desired, actual, usage, task_changes, options.force):
        (warnings if key in managed else unmanaged_warnings).append(warning)
    if desired.manages_workflows:
        warnings.extend(
            note for (name, _v), local in sorted(desired.workflows.items()) if in_scope(name) for note in local.notes
        )
    for objects in desired.others.values():  # what the files of further kinds say that the server ignores
        warnings.extend(note for key, local in sorted(objects.items()) if in_scope(key.name) for note in local.notes)

    notes = list(desired.notes)
    changes = [c for s in specs for c in by_kind[s.kind]]
    if record is None and record_note and any(c.action in (Action.UPDATE, Action.DELETE) for c in changes):
        notes.append(f"{record_note}: differences are not told apart as pending, drift or conflict")
    if not owner_email and unmanaged:
        notes.append(
            f"{len(unmanaged)} object(s) on the server were not applied by this project and are left alone "
            "(without owner_email only what idflow applied here counts as this project's); set owner_email "
            "to manage by owner"
        )

    fingerprints, usage_fingerprints = _fingerprints(changes, actual, remote_of)
    return Plan(
        server_url=server_url,
        created_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        idflow_version=__version__,
        options=options,
        changes=tuple(changes),
        fingerprints=fingerprints,
        usage_fingerprints=usage_fingerprints,
        unmanaged=tuple(unmanaged),
        warnings=tuple(warnings),
        unmanaged_warnings=tuple(unmanaged_warnings),
        notes=tuple(notes),
        problems=tuple(sorted(problems, key=lambda p: (p.path, p.line, p.col, p.message))),
        three_way=record is not None,
    )


def undeletable(kind: Kind, name: str, version: int | None = None) -> str:
    """Conductor rejects ``%2F`` in a path, so an object whose name contains '/' cannot be deleted through its
    API: planning that delete would fail every apply from now on. It is said once per plan instead."""
    return (
        f"{ObjectKey(kind, name, version).described} is on the server but not in the local files, and is left "
        "there: the server cannot delete a name containing '/' (its API rejects %2F); remove it from the "
        "server's database by hand"
    )


@dataclass(frozen=True)
class _Context:
    options: PlanOptions
    owner_email: str | None
    record: ApplyRecord | None
    entries: Mapping[str, Entry]
    in_scope: Callable[[str], bool]
    warnings: list[str]
    unmanaged: list[str]


def _changes(
    spec: KindSpec,
    local_of: Mapping[Kind, Mapping[ObjectKey, DesiredObject]],
    remote_of: Mapping[Kind, Mapping[ObjectKey, RemoteObject]],
    ctx: _Context,
    desired: DesiredState,
    uses: UsageIndex,
) -> list[Change]:
    """Create, update, no-op or delete for every object of one kind, locally or on the server."""
    if not spec.declared(desired):
        return []
    options, locals_, remotes = ctx.options, local_of[spec.kind], remote_of[spec.kind]
    left_out = bool(options.kinds) and spec.kind not in options.kinds  # its changes are dropped: not compared
    changes: list[Change] = []
    for key in sorted(set(locals_) | set(remotes)):
        if not ctx.in_scope(key.name):
            continue
        local, remote, text = locals_.get(key), remotes.get(key), str(key)
        if local is not None:
            if left_out:
                continue
            changes.append(_compare(spec.kind, key.name, key.version, local, remote, options.overwrite,
                                    ctx.entries.get(text), spec.since_view))  # fmt: skip
            continue
        assert remote is not None
        pruning = spec.prune_option is None or bool(getattr(options, spec.prune_option))
        if not pruning or not spec.owns(ctx.owner_email, remote.raw, text, ctx.entries):
            ctx.unmanaged.append(text)
            continue
        if "/" in key.name:
            if not options.only or Action.DELETE in options.only:
                ctx.warnings.append(undeletable(spec.kind, key.name, key.version))
            continue
        if spec.prune_option is not None:
            reason = Reason.PRUNED
        else:
            reason = Reason.NEW_ON_SERVER if ctx.record is not None and text not in ctx.entries else Reason.ORPHANED
        blockers = tuple(Blocker(u.user, u.location, u.ref) for u in uses.uses_of(key))
        changes.append(Change(spec.kind, key.name, Action.DELETE, reason, before=remote.definition,
                              version=key.version, blockers=blockers))  # fmt: skip
    return changes


def _compare(
    kind: Kind,
    name: str,
    version: int | None,
    local: DesiredObject,
    remote: RemoteObject | None,
    overwrite: bool,
    entry: Entry | None = None,
    since_view: Callable[[Any], Any] | None = None,
) -> Change:
    """Create, update or no-op for an object defined locally. ``entry``: what the last apply wrote (three-way);
    ``since_view``: what of a body the three-way reasons compare (``KindSpec.since_view``)."""
    if remote is None:
        reason = Reason.DELETED_ON_SERVER if entry is not None else Reason.NEW_LOCALLY
        return Change(kind, name, Action.CREATE, reason, after=local.definition, version=version,
                      source=local.source)  # fmt: skip
    diff = field_diffs(remote.definition, local.definition)
    if not diff and not overwrite:  # the two are the same body: frozen once, held as both (as plan files do)
        body = freeze(remote.definition)
        return Change(kind, name, Action.NOOP, Reason.IN_SYNC, before=body, after=body, version=version,
                      source=local.source)  # fmt: skip
    reason, local_diff, server_diff = Reason.CHANGED if diff else Reason.FORCED, (), ()
    if diff and entry is not None:
        # The view needs the held body (a record past its size bound keeps only hashes): else whole bodies,
        # hashed and compared as they are (a frozen body hashes as the plain one it holds: no copies).
        view = since_view if since_view is not None and entry.body is not None else _whole
        written, held = entry.written, entry.held
        if view is not _whole:
            held = body_hash(view(thaw(entry.body)))
            written = held if entry.written == entry.held else written
        server_now, local_now = _seen(view, remote.definition), _seen(view, local.definition)
        server_moved = body_hash(server_now) != held
        local_moved = body_hash(local_now) not in (written, held)
        if server_moved:
            reason = Reason.CONFLICT if local_moved else Reason.CHANGED_ON_SERVER
            if entry.body is not None:
                base = _seen(view, entry.body)
                server_diff = field_diffs(base, server_now)
                local_diff = field_diffs(base, local_now) if local_moved else ()
    return Change(kind, name, Action.UPDATE, reason, before=remote.definition, after=local.definition, diff=diff,
                  version=version, source=local.source, local_diff=tuple(local_diff),
                  server_diff=tuple(server_diff))  # fmt: skip


def _whole(body: Any) -> Any:
    return body


def _seen(view: Callable[[Any], Any], body: Any) -> Any:
    """What ``view`` shows of ``body``: the body itself for the whole view, else the view of a copy."""
    return body if view is _whole else view(thaw(body))


def _fingerprints(
    changes: list[Change], actual: ActualState, remote_of: Mapping[Kind, Mapping[ObjectKey, RemoteObject]]
) -> tuple[dict[str, str | None], dict[str, str]]:
    """For every change apply will make, the remote object's fingerprint now (None: it must stay absent);
    and for deletes of objects others use, which objects use it: what apply's stale check compares."""
    found: dict[str, str | None] = {}
    usage: dict[str, str] = {}
    for change in changes:
        if change.action is Action.NOOP:
            continue
        remote = remote_of[change.kind].get(change.object_key)
        found[change.key] = remote.fingerprint if remote is not None else None
        if change.action is Action.DELETE and users_of_kind(change.kind):
            usage[change.key] = server_usage(change.kind, actual).fingerprint(change.object_key)
    return found, usage


def _uses_after_apply(
    kind: Kind, after_apply: Mapping[Kind, Mapping[ObjectKey, list[Mapping[str, Any]]]]
) -> UsageIndex:
    """Who uses objects of ``kind`` among what the server will hold after apply (and every local object)."""
    return usage_index(kind, {k: [d for ds in held.values() for d in ds] for k, held in after_apply.items()})


def _after_apply(
    locals_: Mapping[ObjectKey, DesiredObject], remotes: Mapping[ObjectKey, RemoteObject], changes: list[Change]
) -> dict[ObjectKey, list[Mapping[str, Any]]]:
    """The objects of one kind whose uses count: the server's once the planned changes are applied, and
    every local one (a local version not in this plan counts beside the server's, which stays)."""
    result: dict[ObjectKey, list[Mapping[str, Any]]] = {k: [v.raw] for k, v in remotes.items()}  # uses: any shape
    planned = set()
    for change in changes:
        planned.add(change.object_key)
        if change.action is Action.DELETE:
            result.pop(change.object_key, None)
        elif change.action is not Action.NOOP and change.after is not None:  # a no-op keeps the server's body,
            result[change.object_key] = [change.after]  # walked once for every index (server_usage's too)
    for key, local in locals_.items():
        if key not in planned:
            result.setdefault(key, []).append(local.definition)
    return result


def _managed(
    locals_: Mapping[ObjectKey, DesiredObject],
    held: Mapping[ObjectKey, list[Mapping[str, Any]]],
    owner_email: str | None,
) -> set[WorkflowKey]:
    """Local workflows, and server workflows of ``owner_email`` (all of them when it is not set)."""
    return {
        (key.name, int(key.version or 1))
        for key, definitions in held.items()
        if key in locals_ or not owner_email or any(d.get("ownerEmail") == owner_email for d in definitions)
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
        for name in sorted(usage.by_name)
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
