"""Apply: interpret a plan against the server, and nothing else.

The plan becomes an ordered list of steps, generic over the kinds (``idflow.kinds.registry``): creates
and updates kind by kind in dependency order (task creates in one bulk request, task updates in
parallel, workflow creates/updates in one bulk request), then deletes in reverse (task deletes last).
``execute`` runs the steps; ``explain`` is a second interpreter of the same steps that only describes them (a dry run).
Before any write the plan is checked against the server (``check_stale``): nothing is written when
anything it depends on changed.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from idflow.errors import IdflowError, LockError, NotFound, RemoteError, StalePlanError
from idflow.kinds.key import Kind, ObjectKey
from idflow.kinds.registry import KindSpec, kinds, remote_usage, server_usage, users_of_kind
from idflow.kinds.registry import spec as kind_spec
from idflow.log import get_logger
from idflow.masking import redact_urls
from idflow.plan.inputs import ActualState, read_actual
from idflow.plan.model import Action, Change, Plan, thaw
from idflow.server.client import Remote

log = get_logger("idflow.apply.applier")


class Status(StrEnum):
    APPLIED = "applied"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Result:
    change: Change
    status: Status
    detail: str = ""
    field_errors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.change.key,
            "kind": self.change.kind.value,
            "name": self.change.name,
            "version": self.change.version,
            "action": self.change.action.value,
            "status": self.status.value,
            "detail": self.detail,
            "field_errors": list(self.field_errors),
        }


class Mode(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UPSERT = "create or update"
    DELETE = "delete"


@dataclass(frozen=True)
class Step:
    mode: Mode
    spec: KindSpec
    changes: tuple[Change, ...]

    @property
    def name(self) -> str:
        """``create tasks``, ``create or update workflows``, ``delete tasks``."""
        return f"{self.mode.value} {self.spec.plural}"

    @property
    def checks_usage(self) -> bool:
        """A delete of objects others use: usage is re-read before the deletes (once for the step)."""
        return self.mode is Mode.DELETE and bool(users_of_kind(self.spec.kind))


def steps_for(plan: Plan) -> list[Step]:
    """The order of apply: creates and updates kind by kind, each kind after the kinds it uses (task
    creates in one bulk request, task updates in parallel, workflow creates and updates in one bulk request);
    then deletes in the reverse order (a task is deleted only once no workflow in the plan needs it)."""
    actionable = plan.actionable

    def pick(spec: KindSpec, *actions: Action) -> tuple[Change, ...]:
        return tuple(c for c in actionable if c.kind is spec.kind and c.action in actions)

    steps = []
    for spec in kinds():
        if spec.upsert_call:
            steps.append(Step(Mode.UPSERT, spec, pick(spec, Action.CREATE, Action.UPDATE)))
        else:
            steps.append(Step(Mode.CREATE, spec, pick(spec, Action.CREATE)))
            steps.append(Step(Mode.UPDATE, spec, pick(spec, Action.UPDATE)))
    steps += [Step(Mode.DELETE, spec, pick(spec, Action.DELETE)) for spec in reversed(kinds())]
    return [s for s in steps if s.changes]


def explain(plan: Plan) -> list[str]:
    """What ``execute`` would send, step by step, without sending anything."""
    lines = []
    for step in steps_for(plan):
        names = ", ".join(c.label for c in step.changes)
        check = ""
        if step.checks_usage:
            users = " or ".join(f"a {u.kind.value}" for u in users_of_kind(step.spec.kind))
            check = (
                f" (FORCED: each deleted EVEN IF {users} uses it; usage is re-checked and reported)"
                if plan.options.force
                else f" (each after re-checking no {users.removeprefix('a ')} uses it)"
            )
        template = step.spec.requests[step.mode.name.lower()]
        lines.append(template.format(count=len(step.changes), names=names, check=check))
    return lines


def current_fingerprints(plan: Plan, actual: ActualState) -> dict[str, str | None]:
    """The fingerprints of what ``plan.fingerprints`` names, as the server holds it now."""
    remote_of = {s.kind: s.remote(actual) for s in kinds()}
    current: dict[str, str | None] = {}
    for text in plan.fingerprints:
        obj = remote_of[(key := ObjectKey.parse(text)).kind].get(key)
        current[text] = obj.fingerprint if obj else None
    return current


def current_usage(plan: Plan, actual: ActualState) -> dict[str, str]:
    """The same for ``plan.usage_fingerprints``: who uses each object now."""
    current = {}
    for text in plan.usage_fingerprints:
        key = ObjectKey.parse(text)
        current[text] = server_usage(key.kind, actual).fingerprint(key)
    return current


def stale_reasons(plan: Plan, actual: ActualState) -> list[str]:
    """What changed on the server since the plan was made, in words."""
    reasons = []
    current = current_fingerprints(plan, actual)
    for text, planned in sorted(plan.fingerprints.items()):
        now = current.get(text)
        if now == planned:
            continue
        label = ObjectKey.parse(text).described
        if planned is None:
            reasons.append(f"{label} was created on the server since planning")
        elif now is None:
            reasons.append(f"{label} was deleted on the server since planning")
        else:
            reasons.append(f"{label} was changed on the server since planning")
    usage_now = current_usage(plan, actual)
    for text, planned_usage in sorted(plan.usage_fingerprints.items()):
        if usage_now.get(text) != planned_usage:
            key = ObjectKey.parse(text)
            users = server_usage(key.kind, actual).users_of(key)
            whom = "/".join(u.plural for u in users_of_kind(key.kind))
            reasons.append(f"the {whom} using {key.described} changed (now: {', '.join(users) or 'none'})")
    return reasons


def stale_check_kinds(plan: Plan) -> set[Kind]:
    """What the plan depends on: its kinds, and the users of the kinds it deletes (their usage fingerprints,
    and apply's usage re-check)."""
    used = {ObjectKey.parse(k).kind for k in plan.usage_fingerprints}
    used |= {c.kind for c in plan.actionable if c.action is Action.DELETE}
    users = {u.kind for k in used for u in users_of_kind(k)}
    return {Kind.TASK, Kind.WORKFLOW} | {c.kind for c in plan.changes} | users


def check_stale(plan: Plan, remote: Remote, actual: ActualState | None = None) -> ActualState:
    """Refuse the plan if the server changed since it was made; the server's state as read (``actual``: as
    read already, of ``stale_check_kinds``, after the claim was held)."""
    actual = actual if actual is not None else read_actual(remote, stale_check_kinds(plan))
    reasons = stale_reasons(plan, actual)
    if reasons:
        raise StalePlanError(
            f"the saved plan is stale: the server changed since it was made ({len(reasons)} "
            f"difference{'s' if len(reasons) != 1 else ''}); nothing was written. Run `idflow plan` again.",
            reasons,
        )
    return actual


def before_mismatches(plan: Plan, actual: ActualState) -> list[str]:
    """Changes whose ``before`` is not what the server holds now (fingerprints can be copied into an
    edited plan; the content cannot lie): the keys, for the ownership check that reads ``before``."""
    remote_of = {s.kind: s.remote(actual) for s in kinds()}
    found = []
    for change in plan.actionable:
        obj = remote_of[change.kind].get(change.object_key)
        now = thaw(obj.definition) if obj is not None else None
        if now != (thaw(change.before) if change.before is not None else None):
            found.append(change.key)
    return found


@dataclass
class Executor:
    """Runs the steps of a plan. ``on_result`` is told of every outcome as it happens.

    ``should_stop`` is asked before every write is started (apply passes "SIGINT/SIGTERM arrived"): once it
    says yes, writes already sent finish (or time out), nothing new is sent, and every change not started
    is recorded as skipped, so the results say exactly what landed."""

    remote: Remote
    plan: Plan
    parallelism: int = 8
    on_result: Callable[[Result], None] = lambda _r: None
    results: list[Result] = field(default_factory=list)
    should_stop: Callable[[], bool] = lambda: False
    stop_reason: str = "the apply was interrupted"
    actual: ActualState | None = None
    """The server as the stale check read it, after the claim was held: the usage re-check of deletes that
    come first (nothing written before them, as in a purge) reads its uses from it instead of again."""

    def run(self) -> list[Result]:
        for step in steps_for(self.plan):
            if self.should_stop():
                break
            log.debug("step", step=step.name, changes=len(step.changes))
            self._run_step(step)
        done = {r.change.key for r in self.results}
        for change in self.plan.actionable:
            if change.key not in done:
                self._record(change, Status.SKIPPED, f"not started: {self.stop_reason}")
        actionable = {c.key for c in self.plan.actionable}
        for change in self.plan.changes:
            if change.key not in actionable and change.action is not Action.NOOP:
                self._record(change, Status.SKIPPED, "blocked: in use by a workflow (plan without --force)")
        return self.results

    def _record(self, change: Change, status: Status, detail: str = "", error: Exception | None = None) -> None:
        field_errors = tuple(error.details()) if isinstance(error, IdflowError) else ()
        if status is Status.FAILED and isinstance(error, RemoteError) and error.transient:
            status, settled = self._settle(change, error)
            text = f"{detail}: {settled}" if detail else settled
        else:
            text = f"{detail}: {error}" if detail and error else detail or (str(error) if error else "")
        result = Result(change, status, text, field_errors)
        self.results.append(result)
        self.on_result(result)

    def _settle(self, change: Change, error: RemoteError) -> tuple[Status, str]:
        """After a transient failure the write may still have landed: read the object back and say
        what is true, so the report matches the server."""
        try:
            landed = self._server_matches(change)
        except RemoteError:
            return Status.FAILED, f"{error} (could not check whether it reached the server)"
        if landed:
            return Status.APPLIED, f"confirmed on the server after: {error}"
        return Status.FAILED, str(error)

    def _server_matches(self, change: Change) -> bool:
        spec = kind_spec(change.kind)
        raw = spec.read_back(self.remote, change.object_key)
        current = spec.normalise(raw) if raw is not None else None
        wanted = thaw(change.after) if change.after is not None else None
        return current == wanted

    def _bulk(
        self,
        changes: tuple[Change, ...],
        send_all: Callable[[list[dict[str, Any]]], None],
        send_one: Callable[[dict[str, Any]], None],
    ) -> None:
        try:
            send_all([thaw(c.after) for c in changes])
        except RemoteError as exc:
            if exc.transient or len(changes) == 1:
                for change in changes:
                    self._record(change, Status.FAILED, error=exc)
                return
            # One bad definition fails the whole bulk request: find it by sending each one alone.
            log.info("bulk request rejected; sending one by one to isolate", error=str(exc))
            self._each(changes, lambda c: send_one(thaw(c.after)), parallel=True)
            return
        for change in changes:
            self._record(change, Status.APPLIED)

    def _each(self, changes: Iterable[Change], action: Callable[[Change], None], parallel: bool) -> None:
        def attempt(change: Change) -> tuple[Change, Exception | None, bool]:
            if self.should_stop():
                return change, None, False  # not started; run() records it
            try:
                action(change)
            except RemoteError as exc:
                return change, exc, True
            return change, None, True

        workers = max(1, self.parallelism) if parallel else 1
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for change, error, started in pool.map(attempt, changes):
                if started:
                    self._record(change, Status.FAILED if error else Status.APPLIED, error=error)

    def _run_step(self, step: Step) -> None:
        remote, spec = self.remote, step.spec
        match step.mode:
            case Mode.CREATE if not spec.bulk_create:
                create = getattr(remote, spec.create_call)
                self._each(step.changes, lambda c: create(thaw(c.after)), parallel=True)
            case Mode.CREATE | Mode.UPSERT:
                call = getattr(remote, spec.create_call if step.mode is Mode.CREATE else spec.upsert_call)
                self._bulk(step.changes, call, lambda d: call([d]))
            case Mode.UPDATE:
                update = getattr(remote, spec.update_call)
                self._each(step.changes, lambda c: update(thaw(c.after)), parallel=True)
            case Mode.DELETE:
                self._deletes(step)

    def _deletes(self, step: Step) -> None:
        """One at a time. Where other objects use this kind, usage is re-checked whatever the plan says:
        read once for the whole step, after the claim is held and after this plan's own writes (the stale
        check's read when there were none; another idflow apply writing a user of these objects holds a claim
        on their ``uses:`` and waits for ours). A forced plan (made with --force) still deletes a used object,
        and the result says which objects use it now."""
        now: dict[Any, list[str]] | RemoteError | None = None
        if step.checks_usage and not self.should_stop():
            keys = [c.object_key for c in step.changes]
            try:
                if self.actual is not None and not self.results:  # nothing of this plan written yet
                    usage = server_usage(step.spec.kind, self.actual)
                    now = {key: users for key in keys if (users := usage.users_of(key))}
                else:
                    now = users_now(self.remote, keys, step.spec.kind)
            except RemoteError as exc:
                now = exc
        for change in step.changes:
            if self.should_stop():
                return
            forced = ""
            if step.checks_usage:
                if isinstance(now, RemoteError):
                    self._record(change, Status.FAILED, f"could not re-check {_users_words(change.kind)} usage", now)
                    continue
                users = (now or {}).get(change.object_key, [])
                if users and not self.plan.options.force:
                    self._record(change, Status.SKIPPED, "now used by " + ", ".join(users))
                    continue
                forced = f"FORCED: deleted although used now by {', '.join(users)}" if users else ""
            try:
                step.spec.delete(self.remote, change.object_key)
            except NotFound:  # already gone: the desired end state holds
                self._record(change, Status.APPLIED, "already absent" if step.checks_usage else "")
            except RemoteError as exc:
                self._record(change, Status.FAILED, forced, error=exc)
            else:
                self._record(change, Status.APPLIED, forced)


def _users_words(kind: Kind) -> str:
    return "/".join(u.kind.value for u in users_of_kind(kind))


def users_now(remote: Remote, names: Iterable[Any], kind: Kind = Kind.TASK) -> dict[Any, list[str]]:
    """Which server objects use each object of ``kind`` (a name or an ``ObjectKey``) now (one request per
    user kind): ``{name: ["workflow w v1", "schedule s", ...]}``, used ones only."""
    usage = remote_usage(kind, remote)
    found = {name: usage.users_of(name) for name in names}
    return {name: users for name, users in found.items() if users}


def forced_task_deletes(plan: Plan) -> tuple[Change, ...]:
    """The deletes a plan made with --force executes whatever uses them."""
    if not plan.options.force:
        return ()
    return tuple(c for c in plan.actionable if c.action is Action.DELETE and users_of_kind(c.kind))


def summarise(results: list[Result]) -> dict[str, int]:
    counts = {s.value: 0 for s in Status}
    for result in results:
        counts[result.status.value] += 1
    return counts


def write_report(
    state_dir: Path,
    plan: Plan,
    plan_path: Path | None,
    results: list[Result],
    started: datetime,
    interrupted: str | None = None,
) -> Path:
    from idflow.adopt.revert import revert_fields
    from idflow.masking import all_secrets
    from idflow.plan.file import write_json_atomic

    finished = datetime.now(UTC)
    stamp = finished.strftime("%Y%m%dT%H%M%S.%fZ")
    literals = tuple(all_secrets())  # once for every change's body
    report = {
        "plan": str(plan_path) if plan_path else None,
        "server_url": redact_urls(plan.server_url),
        "started_at": started.isoformat(timespec="milliseconds"),
        "finished_at": finished.isoformat(timespec="milliseconds"),
        "forced": plan.options.force,
        "summary": summarise(results),
        "interrupted": interrupted,  # the signal that stopped the apply (SIGINT, SIGTERM), or None
        # with what `idflow plan --revert` needs: the state before, masked (idflow.adopt.revert)
        "results": [{**r.to_dict(), **revert_fields(r.change, literals)} for r in results],
    }
    return write_json_atomic(state_dir / f"apply-{stamp}.json", report)


class StateLock:
    """An OS file lock on ``state/.lock``; the file says who holds it."""

    def __init__(self, state_dir: Path, purpose: str):
        self.path = state_dir / ".lock"
        self.purpose = purpose
        self._handle: Any = None

    def __enter__(self) -> StateLock:
        from idflow.apply.state_files import open_state_file

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(open_state_file(self.path, os.O_RDWR | os.O_CREAT, 0o644), "r+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            try:
                info = json.loads(holder)
                holder = f"pid {info['pid']} ({info['user']}@{info['host']}, since {info['since']}: {info['purpose']})"
            except (ValueError, KeyError, TypeError):
                pass
            raise LockError(f"{self.path} is held by {holder}; wait for it to finish") from None
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "user": getpass.getuser(),
                    "host": socket.gethostname(),
                    "since": datetime.now(UTC).isoformat(timespec="seconds"),
                    "purpose": self.purpose,
                }
            )
        )
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
