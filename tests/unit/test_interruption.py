"""Issue 13, items 4, 9, 11, 13, 14 without a server: interruption, state files, pid identity, undeletable
names, the server lock's bounded loops. The real-server and subprocess cases are in tests/reliability."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from idflow.apply.applier import Executor, StateLock, Status
from idflow.apply.interrupt import Interrupted, InterruptGuard
from idflow.apply.server_lock import LOCK_VERSION, LOCK_WORKFLOW, ServerLock
from idflow.errors import LockError, StateFileError
from idflow.plan.inputs import read_actual
from idflow.plan.model import Action, PlanOptions
from idflow.plan.planner import build_plan
from tests.factories import actual, desired, plan_of
from tests.fakes import FakeRemote

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


# item 14: every loop of the server lock is bounded by the wait deadline


def test_an_unreadable_lock_that_survives_its_delete_ends_in_a_lock_error():
    remote = FakeRemote()
    unreadable = {"name": LOCK_WORKFLOW, "version": LOCK_VERSION, "description": "not json", "tasks": []}
    remote.workflows[(LOCK_WORKFLOW, LOCK_VERSION)] = unreadable
    deletes = []

    def delete_that_does_nothing(name, version):
        deletes.append((name, version))  # answers "done" and leaves the lock

    remote.delete_workflow_def = delete_that_does_nothing  # type: ignore[method-assign]
    lock = ServerLock(remote, "me", wait=0, clock=lambda: NOW, sleep=lambda _s: None)
    with pytest.raises(LockError, match=r"still there after 1 delete that the server answered as done"):
        lock.acquire()
    assert deletes == [(LOCK_WORKFLOW, LOCK_VERSION)]
    assert remote.workflows[(LOCK_WORKFLOW, LOCK_VERSION)] == unreadable


# item 4: the token is known before the create is sent


def test_the_token_is_recorded_before_the_create_is_sent(tmp_path):
    remote = FakeRemote()
    leftovers = tmp_path / ".server-lock"
    seen = []
    create = remote.create_workflow_def

    def create_and_look(definition):
        seen.append(leftovers.read_text())
        create(definition)

    remote.create_workflow_def = create_and_look  # type: ignore[method-assign]
    lock = ServerLock(remote, "me", leftovers=leftovers, clock=lambda: NOW)
    with lock:
        assert lock.token in seen[0] and lock.token in remote.workflows[(LOCK_WORKFLOW, LOCK_VERSION)]["description"]
    assert not leftovers.exists() and not remote.workflows


def test_a_create_interrupted_after_it_landed_is_released(tmp_path):
    remote = FakeRemote()
    leftovers = tmp_path / ".server-lock"
    create = remote.create_workflow_def

    def create_then_interrupt(definition):
        create(definition)
        raise Interrupted(signal.SIGINT)  # the answer never arrives

    remote.create_workflow_def = create_then_interrupt  # type: ignore[method-assign]
    with pytest.raises(Interrupted):
        ServerLock(remote, "me", leftovers=leftovers, clock=lambda: NOW).acquire()
    assert not remote.workflows, "the lock whose create was interrupted is deleted"
    assert not leftovers.exists()


def test_release_never_deletes_another_holders_lock(tmp_path):
    from idflow.apply.server_lock import lock_definition

    remote = FakeRemote()
    lock = ServerLock(remote, "me", leftovers=tmp_path / ".server-lock", clock=lambda: NOW).acquire()
    remote.workflows[(LOCK_WORKFLOW, LOCK_VERSION)] = lock_definition("someone-else", "x", NOW)
    lock.release()
    assert "someone-else" in remote.workflows[(LOCK_WORKFLOW, LOCK_VERSION)]["description"]


def test_a_stopped_executor_starts_nothing_more_and_says_what_did_not_start():
    remote = FakeRemote()
    owner = "team@example.com"
    remote.tasks = {n: {"name": n, "ownerEmail": owner} for n in ("u1", "u2", "u3", "gone")}
    plan = build_plan(
        desired(*({"name": n, "ownerEmail": owner, "retryCount": 0} for n in ("new", "u1", "u2", "u3"))),
        read_actual(remote),
        PlanOptions(),
        server_url=remote.url,
        owner_email=owner,
    )
    stop = []
    executor = Executor(remote, plan, parallelism=1, on_result=stop.append, should_stop=lambda: len(stop) >= 2)
    results = {r.change.name: r for r in executor.run()}
    landed = {n for n, r in results.items() if r.status is Status.APPLIED}
    assert landed == {"new", "u1"}
    assert {n for n, r in results.items() if r.status is Status.SKIPPED} == {"u2", "u3", "gone"}
    assert all(results[n].detail.startswith("not started:") for n in ("u2", "u3", "gone"))
    assert "gone" in remote.tasks and remote.tasks["u2"] == {"name": "u2", "ownerEmail": owner}


def test_the_guard_defers_signals_inside_and_restores_the_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with InterruptGuard() as guard:
        with guard.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            assert guard.requested and guard.name == "SIGTERM"
        with pytest.raises(Interrupted) as raised:
            guard.checkpoint()
        assert raised.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.processes
def test_ctrl_c_exits_130_not_1(tmp_path):
    """click turns KeyboardInterrupt into Abort, which used to exit 1."""
    code = (
        "import sys, idflow.cli as c\n"
        "import click\n"
        "@c.cli.command('boom')\n"
        "def boom():\n"
        "    raise KeyboardInterrupt\n"
        "@c.cli.command('term')\n"
        "def term():\n"
        "    from idflow.apply.interrupt import Interrupted\n"
        "    raise Interrupted(15)\n"
        "c.cli.main([sys.argv[1]], prog_name='idflow')\n"
    )
    script = tmp_path / "run.py"
    script.write_text(code)
    for command, expected in (("boom", 130), ("term", 143)):
        done = subprocess.run([sys.executable, str(script), command], capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == expected, done.stderr
        assert "Interrupted." in done.stderr and "Traceback" not in done.stderr


# item 9: state files are opened without following links


@pytest.mark.parametrize("name", [".lock", ".server-lock"])
def test_state_files_that_are_links_are_refused_and_their_targets_untouched(tmp_path, name):
    state = tmp_path / "state"
    state.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (state / name).symlink_to(victim)
    with pytest.raises(StateFileError, match="symbolic link"):
        if name == ".lock":
            with StateLock(state, "x"):
                pass
        else:
            ServerLock(FakeRemote(), "x", leftovers=state / name, clock=lambda: NOW).acquire()
    assert victim.read_text() == "precious\n"


def test_a_fifo_as_the_state_lock_is_refused(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    os.mkfifo(state / ".lock")
    with pytest.raises(StateFileError, match="not a regular file"), StateLock(state, "x"):
        pass


# item 13: names with '/' cannot be deleted through the API


def test_an_undeletable_orphan_is_a_warning_once_not_a_change():
    plan = plan_of(desired({"name": "kept"}), actual({"name": "kept"}, {"name": "team/a"}, {"name": "old"}))
    assert {c.name: c.action for c in plan.changes} == {"kept": Action.NOOP, "old": Action.DELETE}
    said = [w for w in plan.warnings if "team/a" in w]
    assert len(said) == 1 and "cannot delete a name containing '/'" in said[0]
    quiet = plan_of(desired({"name": "kept"}), actual({"name": "kept"}, {"name": "team/a"}), only=(Action.CREATE,))
    assert not quiet.warnings and not quiet.has_changes


# item 11: stop signals only the process idflow started


def test_a_reused_pid_is_not_ours():
    from idflow.server.local import NodeInfo, is_ours, process_identity

    me = process_identity(os.getpid())
    assert me is not None
    assert is_ours(NodeInfo(1, os.getpid(), 1, "u", me[0], me[1]))
    assert not is_ours(NodeInfo(1, os.getpid(), 1, "u", me[0] + 1, me[1]))
    assert not is_ours(NodeInfo(1, os.getpid(), 1, "u", me[0], ("java", "-jar", "other.jar")))
    assert not is_ours(NodeInfo(1, os.getpid(), 1, "u")), "an old pid file is trusted only for the Conductor jar"


def test_a_process_that_is_exiting_is_still_ours(monkeypatch):
    """Between SIGKILL and becoming a zombie a process has an empty command line (CI saw this with the
    JVM): its start time still names it, so ``stop`` reaps it instead of refusing it as foreign."""
    from idflow.server import local
    from idflow.server.local import NodeInfo, is_ours

    node = NodeInfo(1, 4242, 1, "u", 1000, ("java", "-jar", "conductor-server.jar"))
    monkeypatch.setattr(local, "process_identity", lambda pid: (1000, ()))
    assert is_ours(node)
    monkeypatch.setattr(local, "process_identity", lambda pid: (1001, ()))
    assert not is_ours(node), "a reused pid started later, whatever its command line"
