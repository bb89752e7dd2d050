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


# -- claims on object sets (ObjectLock) ----------------------------------------------------------------


def _claims(remote):  # type: ignore[no-untyped-def]
    from idflow.apply.server_lock import CLAIM_WORKFLOW

    return {k: v for k, v in remote.workflows.items() if k[0] == CLAIM_WORKFLOW}


def test_claims_on_disjoint_objects_are_held_at_once_and_the_server_lock_only_while_claiming():
    from idflow.apply.server_lock import ObjectLock

    remote = FakeRemote()
    with ObjectLock(remote, "left", {"task:a", "task:b"}, clock=lambda: NOW) as left:
        assert (LOCK_WORKFLOW, LOCK_VERSION) not in remote.workflows, "the server-wide lock is not held for the writes"
        with ObjectLock(remote, "right", {"task:c"}, wait=0, clock=lambda: NOW) as right:
            assert left.held and right.held and len(_claims(remote)) == 2
        assert len(_claims(remote)) == 1
    assert not remote.workflows


def test_an_overlapping_claim_waits_and_names_the_holder():
    from idflow.apply.server_lock import ObjectLock

    remote = FakeRemote()
    waited: list[float] = []
    with ObjectLock(remote, "idflow apply first", {"task:a", "task:b"}, clock=lambda: NOW):
        second = ObjectLock(remote, "second", {"task:b", "task:z"}, wait=0, clock=lambda: NOW, sleep=waited.append)
        with pytest.raises(LockError, match=r"another apply holds objects this plan writes .*idflow apply first"):
            second.acquire()
        assert not second.held and len(_claims(remote)) == 1
    assert not remote.workflows


def test_an_expired_claim_and_one_this_checkout_left_behind_are_broken(tmp_path):
    from idflow.apply import server_lock
    from idflow.apply.server_lock import CLAIM_WORKFLOW, ObjectLock, claim_definition

    remote = FakeRemote()
    leftovers = tmp_path / ".server-lock"
    leftovers.write_text("mine-before\n")
    objects = server_lock._hashed({"task:x"})
    remote.workflows[(CLAIM_WORKFLOW, 7)] = claim_definition("dead", 7, "old", objects, NOW - timedelta(hours=2))
    remote.workflows[(CLAIM_WORKFLOW, 8)] = claim_definition("mine-before", 8, "crashed", objects, NOW)
    with ObjectLock(remote, "me", {"task:x"}, leftovers=leftovers, wait=0, clock=lambda: NOW) as lock:
        assert list(_claims(remote)) == [(CLAIM_WORKFLOW, lock.version)]
    assert not remote.workflows and not leftovers.exists()


def test_claim_keys_cover_task_uses_and_the_record():
    from idflow.apply.server_lock import claim_keys
    from tests.factories import actual, desired, plan_of, simple, workflow

    plan = plan_of(
        desired({"name": "keep"}, workflows=[workflow("w", 1, [simple("keep")])]),
        actual({"name": "keep"}, {"name": "gone"}),
        force=True,
    )
    keys = claim_keys(plan, "proj")
    assert {"task:gone", "uses:gone", "workflow:w:1", "uses:keep", "record:proj"} <= keys
    assert "task:keep" not in keys, "a no-op is not written"


def test_claims_never_appear_in_actual_state():
    from idflow.apply.server_lock import claim_definition

    actual = actual_from_server([], [claim_definition("t", 5, "p", [], NOW)])
    assert actual.workflows == {}


def test_a_create_answered_200_holds_the_lock_only_if_the_lock_carries_our_token():
    """On PostgreSQL two simultaneous POSTs of the lock can both be answered 200 while the database keeps
    one: the one whose token is not stored must not think it holds the lock."""

    class RaceLost(FakeRemote):
        def create_workflow_def(self, definition):  # answered 200, but the other racer's row is what stays
            self.workflows[(LOCK_WORKFLOW, LOCK_VERSION)] = lock_definition("winner", "idflow apply other", NOW)

    remote = RaceLost()
    lock = ServerLock(remote, "me", wait=0, clock=lambda: NOW, sleep=lambda _s: None)
    with pytest.raises(LockError, match="another apply holds the server's lock"), lock:
        pass
    assert not lock.held and "winner" in remote.workflows[(LOCK_WORKFLOW, LOCK_VERSION)]["description"]
