"""make_plan and apply_saved_plan: the two halves of idflow, shared by every command and by scripts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from idflow.apply import Executor, Result, StateLock, Status, before_mismatches, check_stale, write_report
from idflow.config import Config
from idflow.errors import PlanFileError
from idflow.log import get_logger
from idflow.ownership import ForeignOwner, manages, owner_to_write
from idflow.plan import Change, Plan, PlanOptions
from idflow.planner import build_plan
from idflow.remote import Remote
from idflow.secrets import split_userinfo
from idflow.state import DesiredState, load_desired, read_actual
from idflow.validate import validate_desired_workflows

log = get_logger("idflow.core")


def make_plan(
    config: Config,
    remote: Remote,
    options: PlanOptions,
    *,
    desired: DesiredState | None = None,
    without_local: frozenset[str] = frozenset(),
) -> Plan:
    """Read local definitions (without running them), read the server (two requests), and plan.

    ``without_local`` plans as if those local tasks had been removed (what `tasks purge --force NAME` means).
    """
    desired = desired if desired is not None else load_desired(config)
    if without_local:
        desired = replace(
            desired, tasks=MappingProxyType({n: t for n, t in desired.tasks.items() if n not in without_local})
        )
    actual = read_actual(remote)
    validate_desired_workflows(
        desired,
        known_tasks=set(desired.tasks) | set(actual.tasks),
        known_workflows=set(desired.workflows)
        | set(actual.workflows)
        | {n for n, _v in (*desired.workflows, *actual.workflows)},
        root=config.root,
    )
    plan = build_plan(
        desired,
        actual,
        options,
        server_url=config.server_url,
        owner_email=config.owner_email,
        ignore=config.ignore,
    )
    log.debug("planned", **plan.counts())
    return plan


def check_plan_file(plan: Plan, applied: dict[str, Any] | None, config: Config, path: Path) -> None:
    """The refusals that need no server: already applied, made against another server."""
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


def _owner_agrees(change: Change, owner_email: str | None) -> bool:
    """Apply follows the ownership rule too: it writes only the configured owner, and updates or deletes
    only what it manages (``before``; apply checks that it is what the server holds before writing)."""
    if change.before is not None and not manages(owner_email, change.before):
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
    file applied. Holding the server's lock from the stale check to the last write is what makes the
    check mean something when two applies race."""
    from idflow.errors import ApplyInterrupted
    from idflow.interrupt import InterruptGuard
    from idflow.planfile import mark_applied
    from idflow.serverlock import ServerLock

    purpose = f"idflow apply {plan_path or '(unsaved plan)'}"
    outcome: ApplyOutcome | None = None
    with InterruptGuard() as guard, StateLock(config.state_dir, purpose=purpose):
        lock = ServerLock(
            remote, purpose, leftovers=config.state_dir / ".server-lock", wait=lock_wait, checkpoint=guard.checkpoint
        )
        with guard.deferred():  # a create already sent finishes, so we know whether we hold the lock
            lock.acquire()
        try:
            guard.checkpoint()
            actual = check_stale(plan, remote)
            mismatched = before_mismatches(plan, actual)
            if mismatched:
                raise PlanFileError(
                    f"{plan_path or 'the plan'}: what the plan says is on the server ('before') is not what the "
                    f"server holds ({', '.join(mismatched[:5])}{', ...' if len(mismatched) > 5 else ''}): the plan "
                    "was edited; nothing was written. Run `idflow plan` again"
                )
            started = datetime.now(UTC)
            with guard.deferred():
                executor = Executor(
                    remote,
                    plan,
                    parallelism=parallelism,
                    on_result=on_result,
                    should_stop=lambda: guard.requested,
                )
                results = executor.run()
                interrupted = guard.name or None
                report = write_report(config.state_dir, plan, plan_path, results, started, interrupted=interrupted)
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
