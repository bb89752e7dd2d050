"""The kinds registry and the rules the generic machinery rests on: every kind's remote calls exist on the
Remote protocol, the fake implements that protocol as declared, keys round-trip, apply order follows the
edges, a filtered plan holds nothing of the kinds it left out."""

from __future__ import annotations

import inspect

import pytest
from factories import actual, desired, plan_of, simple, workflow
from fakes import FakeRemote

from idflow.apply.applier import steps_for
from idflow.kinds.key import Kind, ObjectKey
from idflow.kinds.registry import _dependency_order, kinds, spec, users_of_kind
from idflow.plan.model import Action, Plan, PlanOptions
from idflow.server.client import Remote


def _protocol_methods() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(Remote).items()
        if callable(member) and not name.startswith("_")
    }


def test_the_fake_has_every_protocol_method_with_the_same_signature():
    methods = _protocol_methods()
    assert len(methods) >= 10  # the protocol was read: list, get, create, update, delete for two kinds
    for name, signature in methods.items():
        assert hasattr(FakeRemote, name), f"FakeRemote lacks Remote.{name}"
        fake = inspect.signature(getattr(FakeRemote, name))
        assert list(fake.parameters) == list(signature.parameters), f"FakeRemote.{name}{fake} is not {signature}"


def test_every_remote_call_a_kind_names_is_on_the_protocol():
    methods = _protocol_methods()
    registered = kinds()
    assert {s.kind for s in registered} == {Kind.TASK, Kind.WORKFLOW, Kind("event"), Kind("schedule")}
    for kind_spec in registered:
        calls = [kind_spec.list_call, kind_spec.delete_call, kind_spec.create_call, kind_spec.update_call,
                 kind_spec.upsert_call]  # fmt: skip
        for call in filter(None, calls):
            assert call in methods, f"{kind_spec.kind}: Remote has no {call}"
        assert bool(kind_spec.upsert_call) != bool(kind_spec.create_call and kind_spec.update_call)


@pytest.mark.parametrize(
    "key", [ObjectKey(Kind.TASK, "a:b"), ObjectKey(Kind.WORKFLOW, "w:x", 3), ObjectKey(Kind.TASK, "t")]
)
def test_object_keys_round_trip(key):
    assert ObjectKey.parse(str(key)) == key


@pytest.mark.parametrize("text", ["workflow:w", "workflow:w:latest", "stage:s", "uses:t"])
def test_a_key_of_no_kind_or_without_its_version_is_refused(text):
    with pytest.raises(ValueError):
        ObjectKey.parse(text)


def test_kinds_are_single_values_and_strings():
    assert Kind("task") is Kind.TASK and Kind.TASK == "task" and Kind.WORKFLOW.versioned
    with pytest.raises(ValueError, match="not a kind idflow manages"):
        Kind("bogus")


def test_apply_order_follows_uses_edges_whatever_the_registration_order():
    task, flow = spec(Kind.TASK), spec(Kind.WORKFLOW)
    assert [s.kind for s in _dependency_order([flow, task])] == [Kind.TASK, Kind.WORKFLOW]
    assert [s.kind for s in users_of_kind(Kind.TASK)] == [Kind.WORKFLOW]
    # Sub-workflows go in the same bulk request; handlers and schedules start workflows.
    assert [s.kind for s in users_of_kind(Kind.WORKFLOW)] == [Kind("event"), Kind("schedule")]
    events, schedules = spec("event"), spec("schedule")
    order = [s.kind for s in _dependency_order([schedules, events, flow, task])]
    assert order.index(Kind.TASK) < order.index(Kind.WORKFLOW) < min(order.index("event"), order.index("schedule"))


def test_deletes_run_in_reverse_order_of_creates():
    wanted = desired({"name": "new"}, workflows=[workflow("w", 1, [simple("new")])])
    now = actual({"name": "old"}, workflows=[workflow("gone", 1, [simple("old")])])
    plan = plan_of(wanted, now, prune_workflows=True, force=True)
    names = [s.name for s in steps_for(plan)]
    assert names == ["create tasks", "create or update workflows", "delete workflows", "delete tasks"]


def test_a_plan_of_one_kind_holds_no_change_or_fingerprint_of_another():
    wanted = desired({"name": "t", "retryCount": 1}, workflows=[workflow("w", 1, [simple("t")])])
    now = actual({"name": "t"})
    full = plan_of(wanted, now)
    only_tasks = plan_of(wanted, now, kinds=(Kind.TASK,))
    assert {c.kind for c in full.changes} == {Kind.TASK, Kind.WORKFLOW}
    assert [c.key for c in only_tasks.changes] == ["task:t"]
    assert set(only_tasks.fingerprints) == {"task:t"} and "workflow:w:1" in full.fingerprints


def test_a_plan_of_one_kind_is_the_full_plan_filtered_though_the_other_kind_is_not_compared():
    me = {"ownerEmail": "me@example.com"}
    wanted = desired(
        {"name": "t", "retryCount": 1, **me}, {"name": "kept", **me},
        workflows=[workflow("w", 1, [simple("t")], **me), workflow("w2", 1, [simple("used")], **me)],
    )  # fmt: skip
    now = actual(
        {"name": "t", **me}, {"name": "kept", **me}, {"name": "used", **me}, {"name": "gone", **me},
        {"name": "foreign", "ownerEmail": "x@example.com"},
        workflows=[
            workflow("w", 1, [simple("t")], description="changed on the server", **me),
            workflow("theirs", 1, [simple("gone")], ownerEmail="x@example.com"),
        ],
    )  # fmt: skip
    for only in ((), (Action.DELETE,)):
        options = {"force": True, "only": only, "owner_email": "me@example.com"}
        full = plan_of(wanted, now, **options)
        tasks = plan_of(wanted, now, kinds=(Kind.TASK,), **options)
        assert tasks.changes == tuple(c for c in full.changes if c.kind is Kind.TASK)
        assert any(c.kind is Kind.WORKFLOW and c.action is Action.UPDATE for c in full.changes) or only
        assert {c.name for c in tasks.changes if c.action is Action.DELETE} == {"used", "gone"}
        assert "workflow:theirs:1" in full.unmanaged and "task:foreign" in full.unmanaged
        assert (tasks.unmanaged, tasks.warnings, tasks.usage_fingerprints) == (
            full.unmanaged, full.warnings, full.usage_fingerprints,
        )  # fmt: skip
        assert tasks.fingerprints == {k: v for k, v in full.fingerprints.items() if k.startswith("task:")}


def test_a_filtered_kind_still_counts_as_a_user():
    wanted = desired(workflows=[workflow("w", 1, [simple("used")])])
    now = actual({"name": "used"})
    plan = plan_of(wanted, now, kinds=(Kind.TASK,), only=(Action.DELETE,))
    (change,) = plan.changes
    assert change.blocked and change.blockers[0].workflow == "w"
    assert set(plan.usage_fingerprints) == {"task:used"}


def test_planned_bodies_are_deep_frozen():
    plan = plan_of(desired(workflows=[workflow("w", 1, [simple("t")])]), actual({"name": "t"}))
    (change,) = [c for c in plan.changes if c.kind is Kind.WORKFLOW]
    with pytest.raises(TypeError):
        change.after["name"] = "x"  # type: ignore[index]
    with pytest.raises((TypeError, AttributeError)):
        change.after["tasks"][0]["name"] = "x"  # type: ignore[index]


def test_a_1_2_plan_file_s_usage_fingerprints_are_read_into_their_own_field():
    raw = plan_of(desired(), actual({"name": "old"})).to_dict()
    raw["format_version"] = "1.2"
    raw["fingerprints"]["uses:old"] = raw.pop("usage_fingerprints")["task:old"]
    plan = Plan.from_dict(raw)
    assert set(plan.fingerprints) == {"task:old"} and set(plan.usage_fingerprints) == {"task:old"}


def test_options_kinds_round_trip():
    options = PlanOptions(kinds=(Kind.TASK,))
    assert PlanOptions.from_dict(options.to_dict()) == options
