"""How much work a plan does with a shared server's objects (counted, never timed): other owners' objects are
never normalised, and each workflow is walked for uses once per plan whatever asks (blockers, warnings,
fingerprints)."""

from __future__ import annotations

import idflow.kinds.usage as usage
from idflow.kinds.normal import normalise_taskdef
from idflow.kinds.workflow_normal import normalise_workflowdef
from idflow.plan.inputs import RemoteObject, actual_from_server, fingerprint
from idflow.plan.model import Action
from tests.factories import desired, plan_of, simple, workflow

MINE, THEIRS = "team@test.idflow", "other@test.idflow"


def _server():
    tasks = [{"name": f"mine{i}", "ownerEmail": MINE} for i in range(3)]
    tasks += [{"name": f"theirs{i}", "ownerEmail": THEIRS, "retryCount": 1} for i in range(50)]
    flows = [workflow(f"their_flow{i}", 1, [simple(f"theirs{i}")], ownerEmail=THEIRS) for i in range(20)]
    flows.append(workflow("their_user", 1, [simple("mine2")], ownerEmail=THEIRS))
    return actual_from_server(tasks, flows)


def _normalised(obj: RemoteObject) -> bool:
    return obj._definition is not None


def test_other_owners_objects_are_counted_not_normalised():
    actual = _server()
    wanted = desired({"name": "mine0", "ownerEmail": MINE, "retryCount": 0}, {"name": "mine1", "ownerEmail": MINE})
    plan = plan_of(wanted, actual, owner_email=MINE)
    assert {c.name: c.action for c in plan.changes} == {
        "mine0": Action.UPDATE, "mine1": Action.NOOP, "mine2": Action.DELETE,
    }  # fmt: skip
    (delete,) = [c for c in plan.changes if c.action is Action.DELETE]
    assert [b.workflow for b in delete.blockers] == ["their_user"]  # found in a foreign workflow, walked raw
    assert len(plan.unmanaged) == 50
    assert [n for n, o in actual.tasks.items() if _normalised(o)] == ["mine0", "mine1", "mine2"]
    assert not any(_normalised(o) for o in actual.workflows.values())


def test_normal_form_on_first_use_is_the_normal_form():
    actual = _server()
    assert actual.tasks["theirs3"].definition == normalise_taskdef({"name": "theirs3", "ownerEmail": THEIRS,
                                                                    "retryCount": 1})  # fmt: skip
    assert actual.workflows[("their_user", 1)].definition == normalise_workflowdef(
        workflow("their_user", 1, [simple("mine2")], ownerEmail=THEIRS)
    )
    theirs = actual.tasks["theirs3"]
    assert theirs.fingerprint == fingerprint(theirs.definition, theirs.raw)


def test_each_workflow_is_walked_once_per_plan_with_orphans(monkeypatch):
    walked: list[str] = []
    real = usage.scan

    def counting(definition):
        walked.append(str(definition.get("name")))
        return real(definition)

    monkeypatch.setattr(usage, "scan", counting)
    actual = _server()
    plan = plan_of(desired({"name": "mine0", "ownerEmail": MINE}), actual, owner_email=MINE)
    assert sum(c.action is Action.DELETE for c in plan.changes) == 2 and plan.usage_fingerprints
    assert sorted(walked) == sorted(name for name, _v in actual.workflows)  # 21 workflows, each once
    walked.clear()
    usage.UsageIndex.of([w.raw for w in actual.workflows.values()])
    assert len(walked) == 21  # outside a plan nothing is kept
