from datetime import UTC, datetime, timedelta

import pytest

from idflow.apply.server_lock import LOCK_VERSION, LOCK_WORKFLOW, ServerLock, lock_definition
from idflow.errors import LockError
from idflow.plan.inputs import actual_from_server
from tests.fakes import FakeRemote

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_acquire_release():
    remote = FakeRemote()
    with ServerLock(remote, "test", clock=lambda: NOW) as lock:
        assert lock.held and (LOCK_WORKFLOW, LOCK_VERSION) in remote.workflows
    assert not remote.workflows


def test_held_lock_refuses_after_waiting_and_names_the_holder():
    remote = FakeRemote()
    remote.workflows[(LOCK_WORKFLOW, LOCK_VERSION)] = lock_definition("other", "idflow apply x", NOW)
    waited = []
    lock = ServerLock(remote, "me", wait=0, clock=lambda: NOW, sleep=waited.append)
    with pytest.raises(LockError, match=r"another apply holds the server's lock .*idflow apply x"), lock:
        pass
    assert (LOCK_WORKFLOW, LOCK_VERSION) in remote.workflows, "someone else's lock is never released by us"


def test_expired_lock_is_broken():
    remote = FakeRemote()
    remote.workflows[(LOCK_WORKFLOW, LOCK_VERSION)] = lock_definition("dead", "old", NOW - timedelta(hours=2))
    with ServerLock(remote, "me", wait=0, clock=lambda: NOW) as lock:
        assert lock.token in remote.workflows[(LOCK_WORKFLOW, LOCK_VERSION)]["description"]


def test_lock_never_appears_in_actual_state():
    actual = actual_from_server([], [lock_definition("t", "p", NOW)])
    assert actual.workflows == {}


def test_a_lock_this_checkout_could_not_release_is_broken_by_its_next_apply(tmp_path):
    from idflow.errors import ServerUnreachable

    remote = FakeRemote()
    leftovers = tmp_path / ".server-lock"
    first = ServerLock(remote, "dies", leftovers=leftovers, clock=lambda: NOW)
    first.__enter__()
    remote.get_workflow_def = lambda *_a: (_ for _ in ()).throw(ServerUnreachable("down"))  # type: ignore[method-assign]
    first.__exit__(None, None, None)
    assert first.token in leftovers.read_text()
    del remote.get_workflow_def  # the server is back
    with ServerLock(remote, "next", leftovers=leftovers, wait=0, clock=lambda: NOW) as second:
        assert second.token in remote.workflows[(LOCK_WORKFLOW, LOCK_VERSION)]["description"]
    assert not leftovers.exists() and not remote.workflows
