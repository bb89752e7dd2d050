"""make_plan and apply_saved_plan: the two halves of idflow, shared by every command and by scripts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from idflow.apply.applier import (
    Executor,
    Result,
    StateLock,
    Status,
    before_mismatches,
    check_stale,
    stale_check_kinds,
    write_report,
)
from idflow.apply.record import DEFAULT_ENVIRONMENT, ApplyRecord, parse_record, project_key, record_version
from idflow.config import Config
from idflow.errors import DefinitionError, PlanFileError
from idflow.kinds.ownership import ForeignOwner, manages, owner_to_write
from idflow.log import get_logger
from idflow.masking import split_userinfo
from idflow.plan.inputs import ActualState, DesiredState, load_desired, read_actual, read_lists, settle
from idflow.plan.model import Change, Plan, PlanOptions
from idflow.plan.overrides import apply_overrides
from idflow.plan.planner import build_plan
from idflow.repo.validate import workflow_problems
from idflow.server.client import Remote

log = get_logger("idflow.reconcile")


def make_plan(
    config: Config,
    remote: Remote,
    options: PlanOptions,
    *,
    desired: DesiredState | None = None,
    without_local: frozenset[str] = frozenset(),
    actual: ActualState | None = None,
    keep_problems: bool = False,
) -> Plan:
    """Read local definitions (without running them), read the server (two requests), and plan.

    ``without_local`` plans as if those local tasks had been removed (what `tasks purge --force NAME` means).
    ``desired`` and ``actual`` replace the local files and the server read (restore and revert plan from
    an export or a report, against the server as they read it).

    The checks of the workflow files against the server's state (task defs and sub-workflows nobody
    defines) are problems on the plan; they are raised as one DefinitionError unless ``keep_problems``
    (a caller that shows them; apply refuses such a plan).
    """
    desired = desired if desired is not None else load_desired(config)
    desired, overridden = apply_overrides(desired, config.overrides)
    if without_local:
        desired = replace(
            desired, tasks=MappingProxyType({n: t for n, t in desired.tasks.items() if n not in without_local})
        )
    from idflow.kinds.registry import read_kinds

    actual = actual if actual is not None else read_actual(remote, read_kinds(desired.others, options))
    record, record_note = read_record(config, actual)
    problems = workflow_problems(
        desired,
        known_tasks=set(desired.tasks) | set(actual.tasks),
        known_workflows=set(desired.workflows)
        | set(actual.workflows)
        | {n for n, _v in (*desired.workflows, *actual.workflows)},
        root=config.root,
    )
    desired = settle(config, desired, actual)
    plan = build_plan(
        desired,
        actual,
        options,
        server_url=config.server_url,
        owner_email=config.owner_email,
        ignore=config.ignore,
        record=record,
        record_note=record_note,
        problems=problems,
    )
    if config.environment is not None:
        commit, dirty = checkout_state(config)
        changes = tuple(
            replace(c, overrides=overridden[c.key]) if c.key in overridden and c.after is not None else c
            for c in plan.changes
        )
        plan = replace(plan, changes=changes, environment=config.environment, commit=commit, dirty=dirty)
    log.debug("planned", **plan.counts(), problems=len(plan.problems))
    if plan.problems and not keep_problems:
        raise DefinitionError(list(plan.problems), what="workflow")
    return plan


def checkout_state(config: Config) -> tuple[str | None, bool]:
    """The git commit the project is checked out at, and whether its definitions or config have changes
    not committed (None, False outside a git checkout)."""
    from idflow.apply.record import _git, git_commit

    commit = git_commit(config.root)
    if commit is None:
        return None, False
    paths = [str(p) for p in (config.tasks_dir, config.workflows_dir, config.source) if p is not None and p.exists()]
    status = _git(config.root, "status", "--porcelain", "--untracked-files=all", "--", *paths) if paths else None
    return commit, bool(status)


def environment_name(config: Config) -> str:
    """The environment the apply record is kept under (``default`` for a project without environments)."""
    return config.environment or DEFAULT_ENVIRONMENT


def read_record(config: Config, actual: ActualState) -> tuple[ApplyRecord | None, str]:
    """This project's apply record among the server's (None and a note when there is none to read)."""
    project = project_key(config)
    environment = environment_name(config)
    raw = actual.records.get(record_version(project, environment))
    return parse_record(raw, project, environment)


def check_plan_file(
    plan: Plan, applied: dict[str, Any] | None, config: Config, path: Path, *, env_from_flag: bool = True
) -> None:
    """The refusals that need no server: already applied, made for another environment or server, and
    for a protected environment a plan not from the commit checked out, or an environment not named."""
    if plan.environment != config.environment:
        made = f"environment {plan.environment}" if plan.environment else "a project without environments"
        now = f"environment {config.environment}" if config.environment else "a config without environments"
        raise PlanFileError(
            f"{path}: the plan was made for {made}, but this is {now} ({config.server_url}); nothing was sent. "
            f"Run `idflow plan{' --env ' + config.environment if config.environment else ''}` for it"
        )
    if config.protected:
        check_protected(config, plan, path, env_from_flag=env_from_flag)
    if applied:
        raise PlanFileError(
            f"{path}: this plan was already applied at {applied.get('at', '?')}; run `idflow plan` again"
        )
    planned_on = split_userinfo(plan.server_url)[0]  # a plan file of an older idflow may hold userinfo
    if planned_on.rstrip("/") != config.server_url.rstrip("/"):
        raise PlanFileError(
            f"{path}: the plan was made against {planned_on}, but the configured server is "
            f"{config.server_url}; run `idflow plan` against this server"
        )
    foreign = [c.key for c in plan.actionable if not _owner_agrees(c, config.owner_email)]
    if foreign:
        raise PlanFileError(
            f"{path}: the plan writes or deletes objects of an owner other than the configured owner_email "
            f"{config.owner_email!r} ({', '.join(foreign)}); run `idflow plan` again"
        )


def check_protected(config: Config, plan: Plan | None, path: Path | None, *, env_from_flag: bool) -> None:
    """A protected environment takes only a reviewed plan file of the commit checked out, and only when
    named with --env (a default or a variable left set in a shell never writes there)."""
    env = config.environment
    if not env_from_flag:
        raise PlanFileError(
            f"environment {env} is protected: name it with --env {env} to write there "
            f"(chosen by {config.environment_origin}); nothing was sent"
        )
    if plan is None or path is None:
        raise PlanFileError(
            f"environment {env} is protected: it takes only a saved plan file; run `idflow plan --env {env}`, "
            f"then `idflow apply --env {env} PLAN`; nothing was sent"
        )
    commit, _dirty = checkout_state(config)
    if plan.commit is None:
        raise PlanFileError(
            f"{path}: environment {env} is protected and the plan records no git commit (made outside a git "
            "checkout); nothing was sent"
        )
    if plan.dirty:
        raise PlanFileError(
            f"{path}: environment {env} is protected and the plan was made with uncommitted changes to the "
            f"definitions or the config (at {plan.commit[:12]}); commit them and plan again; nothing was sent"
        )
    if commit != plan.commit:
        raise PlanFileError(
            f"{path}: environment {env} is protected and the plan was made at commit {plan.commit[:12]}, but "
            f"this checkout is at {(commit or 'no commit')[:12]}; plan again here; nothing was sent"
        )


def _owner_agrees(change: Change, owner_email: str | None) -> bool:
    """Apply follows the ownership rule too: it writes only the configured owner, and updates or deletes
    only what it manages (``before``; apply checks that it is what the server holds before writing)."""
    # Without owner_email what is ours is what the apply record names: apply checks deletes under the lock.
    from idflow.kinds.registry import spec

    if not spec(change.kind).owner_field:
        return True  # handlers, schedules: only the record proves them ours (``_check_ours``, under the lock)
    if change.before is not None and owner_email and not manages(owner_email, change.before):
        return False
    if change.after is not None:
        written = change.after.get("ownerEmail")
        try:
            return owner_to_write(owner_email, written) == written
        except ForeignOwner:
            return False
    return True


@dataclass(frozen=True)
class ApplyOutcome:
    results: list[Result]
    report_path: Path

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.status is Status.FAILED]


def apply_saved_plan(
    config: Config,
    remote: Remote,
    plan: Plan,
    plan_path: Path | None,
    *,
    parallelism: int = 8,
    on_result: Callable[[Result], None] = lambda _r: None,
    lock_wait: float = 120.0,
) -> ApplyOutcome:
    """Lock (this checkout, then the server), refuse if stale, execute, write the report, mark the plan
    file applied. Holding a claim on the plan's objects from the stale check to the last write is what makes the
    check mean something when two applies race."""
    from idflow.apply.interrupt import InterruptGuard
    from idflow.apply.record import project_key
    from idflow.apply.server_lock import ObjectLock, claim_keys
    from idflow.errors import ApplyInterrupted
    from idflow.kinds.key import Kind
    from idflow.plan.file import mark_applied

    if plan.environment != config.environment:
        raise PlanFileError(
            f"{plan_path or 'the plan'}: made for environment {plan.environment or '(none)'}, not "
            f"{config.environment or '(none)'}; nothing was sent"
        )
    if config.protected and plan_path is None:  # tasks upload/purge, apply --plan-now: no reviewed plan
        check_protected(config, None, None, env_from_flag=True)
    if plan.problems:  # a plan kept with its problems is for showing, never for writing
        raise DefinitionError(list(plan.problems), what="workflow")
    purpose = f"idflow apply {plan_path or '(unsaved plan)'}"
    outcome: ApplyOutcome | None = None
    with InterruptGuard() as guard, StateLock(config.state_dir, purpose=purpose):
        wanted = stale_check_kinds(plan)
        lock = ObjectLock(
            remote,
            purpose,
            claim_keys(plan, project_key(config)),
            leftovers=config.state_dir / ".server-lock",
            wait=lock_wait,
            checkpoint=guard.checkpoint,
            # the stale check's read: the claim's workflow list, and the other kinds read while it is taken
            read=lambda workflows: read_lists(remote, wanted, known={Kind.WORKFLOW: workflows}),
        )
        with guard.deferred():  # a create already sent finishes, so we know whether we hold the lock
            lock.acquire()
        try:
            guard.checkpoint()
            actual = check_stale(plan, remote, lock.state)
            mismatched = before_mismatches(plan, actual)
            if mismatched:
                raise PlanFileError(
                    f"{plan_path or 'the plan'}: what the plan says is on the server ('before') is not what the "
                    f"server holds ({', '.join(mismatched[:5])}{', ...' if len(mismatched) > 5 else ''}): the plan "
                    "was edited; nothing was written. Run `idflow plan` again"
                )
            record, _note = read_record(config, actual)
            _check_ours(config, plan, record)
            started = datetime.now(UTC)
            with guard.deferred():
                executor = Executor(
                    remote,
                    plan,
                    parallelism=parallelism,
                    on_result=on_result,
                    should_stop=lambda: guard.requested,
                    actual=actual,
                )
                results = executor.run()
                interrupted = guard.name or None
                report = write_report(config.state_dir, plan, plan_path, results, started, interrupted=interrupted)
                write_record(config, remote, plan, results, record)
                if plan_path is not None and not interrupted:
                    mark_applied(
                        plan_path,
                        plan,
                        {"at": datetime.now(UTC).isoformat(timespec="seconds"), "report": str(report)},
                    )
                outcome = ApplyOutcome(results, report)
        finally:
            with guard.deferred():
                lock.release()
    if guard.signum is not None and outcome is not None:
        landed = sum(1 for r in outcome.results if r.status is Status.APPLIED)
        raise ApplyInterrupted(
            f"apply interrupted by {guard.name}: {landed} change(s) landed before it stopped, nothing else was "
            f"started; the server's lock is released. Report: {report}. Run `idflow plan` to see what is left",
            guard.signum,
            outcome,
        )
    assert outcome is not None
    return outcome


def _check_ours(config: Config, plan: Plan, record: ApplyRecord | None) -> None:
    """Without owner_email, a delete is ours only if this project's record (read now) names the object; for
    kinds without an owner field (handlers, schedules) whatever owner_email says."""
    from idflow.kinds.registry import spec

    applied = record.objects if record is not None else {}
    foreign = [c.key for c in plan.actionable if c.before is not None and c.after is None
               and (not config.owner_email or not spec(c.kind).owner_field)
               and not manages(None, c.before, c.key, applied)]  # fmt: skip
    if foreign:
        raise PlanFileError(
            f"the plan deletes objects this project's apply record does not name ({', '.join(foreign)}): "
            "without owner_email only what idflow applied here is this project's; nothing was written"
        )


def write_record(
    config: Config, remote: Remote, plan: Plan, results: list[Result], previous: ApplyRecord | None
) -> None:
    """Record what this apply wrote (what succeeded) and what the server then held. Never fails the apply:
    a record that cannot be written only means the next plan is two-way for these objects.

    ``previous`` is the record as the stale check read it: the apply's claim covers the record, so no other
    apply of this project wrote it since. What the server holds is read back only for the kinds this apply
    created or updated (one list each, at once); a delete holds nothing to read."""
    from idflow import __version__
    from idflow.apply.applier import summarise
    from idflow.apply.record import apply_meta, record_definition, updated
    from idflow.errors import IdflowError
    from idflow.kinds.registry import kinds

    done = [r.change for r in results if r.status is Status.APPLIED]
    if not done:
        return
    try:
        after = read_lists(remote, {c.kind for c in done if c.after is not None})
        remote_of = {s.kind: s.remote(after) for s in kinds()}
        held: dict[str, Any] = {}  # bodies as they are: ``updated`` hashes them and keeps a copy of what it keeps
        for change in done:
            obj = remote_of[change.kind].get(change.object_key) if change.after is not None else None
            held[change.key] = obj.definition if obj is not None else None
        written = {c.key: c.after for c in done}
        project = project_key(config)
        environment = environment_name(config)
        new = updated(previous, project, environment, written, held,
                      apply_meta(config.root, __version__, summarise(results)))  # fmt: skip
        remote.put_workflow_defs([record_definition(new)])
    except IdflowError as error:
        log.warning("could not write the apply record; the next plan compares two ways", error=str(error))


def purge_plan(config: Config, remote: Remote, names: tuple[str, ...], *, force: bool) -> Plan:
    """What `tasks purge` means: the deletes of the named tasks (none named: every orphaned one), planned
    as if their local files were gone. Refused (IdflowError, nothing planned) when a named task exists
    locally (the next upload would recreate it) unless ``force``, or is not one this project can delete."""
    from idflow.errors import IdflowError
    from idflow.kinds.key import Kind, ObjectKey
    from idflow.plan.model import Action

    options = PlanOptions(targets=names, only=(Action.DELETE,), force=force, kinds=(Kind.TASK,))
    desired = load_desired(config)
    refused = sorted(n for n in names if n in desired.tasks)
    if refused and not force:
        raise IdflowError(
            f"{', '.join(refused)} exist(s) locally: the next upload would recreate it. "
            "Remove the task folder first, or pass --force"
        )
    plan = make_plan(config, remote, options, desired=desired, without_local=frozenset(names))
    planned = {c.name for c in plan.changes}
    absent = sorted(n for n in names if n not in planned)
    if absent:
        unmanaged = {key.name for key in map(ObjectKey.parse, plan.unmanaged) if key.kind is Kind.TASK}
        why = ["not managed by this project (another owner)" if n in unmanaged else "not on the server" for n in absent]
        raise IdflowError("; ".join(f"{n}: {w}" for n, w in zip(absent, why, strict=True)))
    return plan
