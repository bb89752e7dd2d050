"""Locks on the Conductor server itself, so that two applies (from any machines) on the same objects
never interleave, while applies on disjoint objects do not wait for each other.

``ObjectLock`` (what apply takes) holds a *claim* on the objects a plan writes: a version of the workflow
``idflow_apply_claim`` whose description lists hashes of those objects' keys, with a holder and an
expiry like the lock's. Claims are made and checked under ``ServerLock``, the server-wide lock below,
held only for that (one read of the workflow list and one create), never during the writes. A claim
that shares a key with ours makes us wait; an expired one, or one this checkout left behind, is broken.

Conductor has no conditional write, so the stale check (read, compare) and the writes that follow are
not atomic by themselves. The one create-only call it offers is ``POST /metadata/workflow``, which answers
409 when the name and version exist: the lock is a workflow definition with a reserved name, created to
acquire and deleted to release. Its description records the holder and an expiry, so a lock left by an
apply that died is broken once it has expired, or at once by the next apply from the same checkout (which
remembers the locks it could not release in ``state/.server-lock``). The planner never shows the lock.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from idflow.apply.state_files import read_state_text, write_state_text
from idflow.errors import Conflict, LockError, RemoteError
from idflow.log import get_logger
from idflow.server.client import Remote

LOCK_WORKFLOW = "idflow_apply_lock"
LOCK_VERSION = 1
LOCK_TTL = timedelta(minutes=30)
MAX_POLL = 0.5  # seconds between two looks at a held server lock, at most
CLAIM_WORKFLOW = "idflow_apply_claim"  # one version per apply in progress
IDFLOW_OWN = frozenset({LOCK_WORKFLOW, CLAIM_WORKFLOW})  # never part of anyone's desired state

log = get_logger("idflow.apply.server_lock")


def lock_definition(token: str, purpose: str, now: datetime) -> dict[str, Any]:
    holder = {
        "token": token,
        "holder": f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}",
        "purpose": purpose,
        "since": now.isoformat(timespec="seconds"),
        "expires": (now + LOCK_TTL).isoformat(timespec="seconds"),
    }
    return {
        "name": LOCK_WORKFLOW,
        "version": LOCK_VERSION,
        "schemaVersion": 2,
        "description": json.dumps(holder, sort_keys=True),
        "tasks": [{"name": "idflow_lock", "taskReferenceName": "idflow_lock", "type": "WAIT"}],
    }


def _holder(definition: dict[str, Any] | None) -> dict[str, Any]:
    try:
        return dict(json.loads((definition or {}).get("description") or "{}"))
    except (ValueError, TypeError):
        return {}


class Leftovers:
    """The tokens of locks and claims this checkout took (or tried to) and could not release, kept in
    ``state/.server-lock``. The caller holds the checkout's own lock, so no apply from here is running:
    their holders are dead, and the next apply breaks them. ``path`` None keeps nothing."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def tokens(self) -> set[str]:
        if self.path is None:
            return set()
        try:
            return set(read_state_text(self.path).split())
        except OSError:
            return set()

    def remember(self, token: str) -> None:
        if self.path is not None:
            write_state_text(self.path, "".join(t + "\n" for t in sorted(self.tokens() | {token})))

    def forget(self, token: str) -> None:
        if self.path is None:
            return
        remaining = self.tokens() - {token}
        if remaining:
            write_state_text(self.path, "".join(t + "\n" for t in sorted(remaining)))
        else:
            self.path.unlink(missing_ok=True)


def _expired(holder: dict[str, Any], now: datetime) -> bool:
    try:
        return datetime.fromisoformat(str(holder["expires"])) < now
    except (KeyError, ValueError):
        return True  # a lock whose holder cannot be read is treated as abandoned


class ServerLock:
    """``with ServerLock(remote, purpose):`` holds the server's apply lock, waiting up to ``wait`` seconds.

    The token is chosen here and written to ``leftovers`` (``state/.server-lock``) *before* the create is
    sent, so a create whose answer never arrived (an interrupted apply, a lost response) can still be
    released or broken. Release deletes the server's lock only when it carries this token. ``checkpoint``
    is called before every request of the wait loop (apply passes one that raises on SIGINT/SIGTERM), and
    every path of the loop is bounded by the wait deadline.
    """

    def __init__(
        self,
        remote: Remote,
        purpose: str,
        *,
        leftovers: Path | None = None,
        wait: float = 120.0,
        poll: float = 0.5,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        checkpoint: Callable[[], None] = lambda: None,
    ):
        self.remote = remote
        self.purpose = purpose
        self.wait = wait
        self.poll = poll
        self._clock = clock
        self._sleep = sleep
        self._checkpoint = checkpoint
        self.token = uuid.uuid4().hex
        self.held = False
        self._leftovers = Leftovers(leftovers)

    def __enter__(self) -> ServerLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> ServerLock:
        self._leftovers.remember(self.token)
        try:
            self._acquire(time.monotonic() + self.wait)
        except BaseException:
            self.release()  # our create may have landed although its answer did not arrive
            raise
        return self

    def _acquire(self, deadline: float) -> None:
        broken = 0
        announced = False
        delay = self.poll
        while True:
            self._checkpoint()
            try:
                self.remote.create_workflow_def(lock_definition(self.token, self.purpose, self._clock()))
            except Conflict:
                pass
            except RemoteError as exc:
                if not exc.transient:
                    raise
            # A 200 is not enough: on PostgreSQL two creates of one version at the same moment can both be
            # answered 200, and the database keeps one of them. The lock is ours only if it carries our token.
            self._checkpoint()
            current = self.remote.get_workflow_def(LOCK_WORKFLOW, LOCK_VERSION)
            holder = _holder(current)
            if current is not None and holder.get("token") == self.token:
                self.held = True  # our create landed (its answer may have been lost, or said 200 to two)
                return
            abandoned = current is not None and (
                _expired(holder, self._clock()) or holder.get("token") in self._leftovers.tokens()
            )
            out_of_time = time.monotonic() >= deadline
            if abandoned and (broken == 0 or not out_of_time):
                log.warning("breaking an abandoned server lock", holder=holder.get("holder"), since=holder.get("since"))
                self._checkpoint()
                self.remote.delete_workflow_def(LOCK_WORKFLOW, LOCK_VERSION)
                self._leftovers.forget(str(holder.get("token")))
                broken += 1
                if broken > 1:  # the delete did not take: do not hammer the server while the deadline runs
                    self._sleep(max(self.poll, MAX_POLL))
                continue
            if out_of_time:
                if abandoned:
                    raise LockError(
                        f"the server's lock (workflow {LOCK_WORKFLOW} v{LOCK_VERSION}, holder "
                        f"{holder.get('holder', 'unreadable')}) is abandoned, but it is still there after "
                        f"{broken} delete{'s' if broken != 1 else ''} that the server answered as done; "
                        f"waited {self.wait:g}s. Delete it on the server by hand"
                    )
                raise LockError(
                    f"another apply holds the server's lock ({holder.get('holder', 'unknown holder')}, since "
                    f"{holder.get('since', '?')}: {holder.get('purpose', '?')}); waited {self.wait:g}s. If that "
                    f"apply died, the lock expires at {holder.get('expires', '?')}, or delete workflow "
                    f"{LOCK_WORKFLOW} v{LOCK_VERSION} on the server"
                )
            if current is not None and not announced:
                log.info("waiting for another apply to finish", holder=holder.get("holder"))
                announced = True
            self._sleep(delay)
            delay = min(delay * 2, max(self.poll, MAX_POLL))  # a lock held long is asked less often

    def release(self) -> None:
        """Delete the server's lock if it carries our token, and forget the token. If the server cannot be
        asked, the token stays in ``leftovers`` and the next apply from this checkout breaks the lock."""
        try:
            if _holder(self.remote.get_workflow_def(LOCK_WORKFLOW, LOCK_VERSION)).get("token") == self.token:
                self.remote.delete_workflow_def(LOCK_WORKFLOW, LOCK_VERSION)
        except RemoteError as error:
            log.warning("could not release the server lock; the next apply from here breaks it", error=str(error))
        else:
            self._leftovers.forget(self.token)
        self.held = False


def claim_keys(plan: Any, record: str | None = None) -> set[str]:
    """What an apply of ``plan`` writes or relies on: every change it executes; for a task delete, the
    task's uses (so a workflow written at the same time that uses the task makes one of them wait); for
    a workflow write, the uses of every task it references; and the project's apply record."""
    from idflow.kinds.usage import task_uses
    from idflow.plan.model import Action, Kind

    keys: set[str] = set()
    for change in plan.actionable:
        keys.add(change.key)
        if change.kind is Kind.TASK and change.action is Action.DELETE:
            keys.add(f"uses:{change.name}")
        if change.kind is Kind.WORKFLOW and change.after is not None:
            keys.update(f"uses:{use.task_name}" for use in task_uses(change.after))
    if record is not None:
        keys.add(f"record:{record}")
    return keys


def _hashed(keys: set[str]) -> list[str]:
    return sorted(hashlib.sha256(k.encode("utf-8")).hexdigest()[:20] for k in keys)


def claim_definition(token: str, version: int, purpose: str, objects: list[str], now: datetime) -> dict[str, Any]:
    definition = lock_definition(token, purpose, now)
    holder = json.loads(definition["description"])
    holder["objects"] = objects
    return {**definition, "name": CLAIM_WORKFLOW, "version": version, "description": json.dumps(holder, sort_keys=True)}


class ObjectLock:
    """``with ObjectLock(remote, purpose, keys):`` holds a claim on ``keys`` (see the module docstring),
    waiting up to ``wait`` seconds for overlapping claims to go. The token is in ``leftovers`` before the
    claim's create is sent, as for ``ServerLock``; ``checkpoint`` is called before every request.

    ``read``, if given, is called with the workflow list of the round that took the claim (read under the
    server lock, no overlapping claim in it), while the claim's create and the lock's release are sent; its
    result is ``state``. What it reads then is as good as a read after the claim: an apply holding an
    overlapping claim would have been in that list (and its writes all land before its claim goes), and a
    new one claims under the server lock, after ours exists, and waits for ours. Apply reads the rest of
    what its stale check needs there. ``state`` stays None when the claim was found already taken (a create
    whose answer was lost): then the caller reads."""

    def __init__(
        self,
        remote: Remote,
        purpose: str,
        keys: set[str],
        *,
        leftovers: Path | None = None,
        wait: float = 120.0,
        poll: float = 0.5,
        mutex_poll: float = 0.05,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        checkpoint: Callable[[], None] = lambda: None,
        read: Callable[[list[dict[str, Any]]], Any] | None = None,
    ):
        self.remote = remote
        self.purpose = purpose
        self.objects = _hashed(keys)
        self.wait = wait
        self.poll = poll
        self._clock = clock
        self._sleep = sleep
        self._checkpoint = checkpoint
        self._leftovers = Leftovers(leftovers)
        # The server lock is held only for a few requests while claiming: poll it often (with jitter, so two
        # claimers do not keep meeting), so an apply on other objects loses at most that long.
        self._mutex_args = {"leftovers": leftovers, "poll": mutex_poll * (0.5 + random.random()), "clock": clock,
                            "sleep": sleep, "checkpoint": checkpoint}  # fmt: skip
        self.token = uuid.uuid4().hex
        self.version = random.randint(2, 0x7FFFFFFF)
        self.held = False
        self._read = read
        self._reading: Future[Any] | None = None
        self.state: Any = None

    def __enter__(self) -> ObjectLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> ObjectLock:
        self._leftovers.remember(self.token)  # a claim whose answer was lost is broken by the next apply
        try:
            self._acquire(time.monotonic() + self.wait)
            if self._reading is not None:
                self.state = self._finish_read()
        except BaseException:
            self._finish_read(quiet=True)
            self.release()
            raise
        return self

    def _start_read(self, workflows: list[dict[str, Any]]) -> None:
        if self._read is not None:
            pool = ThreadPoolExecutor(max_workers=1)
            self._reading = pool.submit(self._read, workflows)
            pool.shutdown(wait=False)

    def _finish_read(self, quiet: bool = False) -> Any:
        reading, self._reading = self._reading, None
        if reading is None:
            return None
        if quiet:  # a read of a round that did not take the claim: only waited for, never used
            reading.exception()
            return None
        return reading.result()

    def _acquire(self, deadline: float) -> None:
        announced = False
        mine = set(self.objects)
        while True:
            self._checkpoint()
            left = max(0.0, deadline - time.monotonic())
            with ServerLock(self.remote, f"{self.purpose} (claiming its objects)", wait=left, **self._mutex_args):
                blocking = None
                workflows = self.remote.list_workflow_defs()
                for claim in workflows:
                    if claim.get("name") != CLAIM_WORKFLOW:
                        continue
                    holder = _holder(claim)
                    if holder.get("token") == self.token:
                        self.version = int(claim.get("version") or self.version)
                        self.held = True  # our own create landed; its answer was lost
                        return
                    if _expired(holder, self._clock()) or holder.get("token") in self._leftovers.tokens():
                        log.warning("breaking an abandoned claim", holder=holder.get("holder"))
                        self._checkpoint()
                        self.remote.delete_workflow_def(CLAIM_WORKFLOW, int(claim.get("version") or 1))
                        self._leftovers.forget(str(holder.get("token")))
                        continue
                    if blocking is None and mine & set(holder.get("objects") or ()):
                        blocking = holder
                if blocking is None:
                    self._checkpoint()
                    self._start_read(workflows)
                    try:
                        self.remote.create_workflow_def(
                            claim_definition(self.token, self.version, self.purpose, self.objects, self._clock())
                        )
                    except Conflict:  # another claim took this version number: draw again
                        self._finish_read(quiet=True)
                        self.version = random.randint(2, 0x7FFFFFFF)
                        continue
                    self.held = True
                    return
            if time.monotonic() >= deadline:
                raise LockError(
                    f"another apply holds objects this plan writes ({blocking.get('holder', 'unknown holder')}, "
                    f"since {blocking.get('since', '?')}: {blocking.get('purpose', '?')}); waited {self.wait:g}s. "
                    f"If that apply died, its claim expires at {blocking.get('expires', '?')}, or delete workflow "
                    f"{CLAIM_WORKFLOW} (the version whose description names it) on the server"
                )
            if not announced:
                log.info("waiting for another apply to finish", holder=blocking.get("holder"))
                announced = True
            self._sleep(self.poll)

    def release(self) -> None:
        """Delete our claim if it is there, and forget the token; if the server cannot be asked, the token
        stays in ``leftovers`` and the next apply from here breaks the claim."""
        try:
            if _holder(self.remote.get_workflow_def(CLAIM_WORKFLOW, self.version)).get("token") == self.token:
                self.remote.delete_workflow_def(CLAIM_WORKFLOW, self.version)
        except RemoteError as error:
            log.warning("could not release the apply's claim; the next apply from here breaks it", error=str(error))
        else:
            self._leftovers.forget(self.token)
        self.held = False
