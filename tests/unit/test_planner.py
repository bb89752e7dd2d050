from idflow.plan import Action, Reason
from tests.factories import actual, desired, plan_of, simple, workflow


def by_name(plan):
    return {c.name: c for c in plan.changes}


def test_create_update_delete_noop_and_reasons():
    plan = plan_of(
        desired({"name": "new"}, {"name": "changed", "retryCount": 5}, {"name": "same"}),
        actual({"name": "changed", "retryCount": 3}, {"name": "same"}, {"name": "orphan"}),
    )
    changes = by_name(plan)
    assert (changes["new"].action, changes["new"].reason) == (Action.CREATE, Reason.NEW_LOCALLY)
    assert (changes["changed"].action, changes["changed"].reason) == (Action.UPDATE, Reason.CHANGED)
    assert [(d.path, d.before, d.after) for d in changes["changed"].diff] == [("retryCount", 3, 5)]
    assert (changes["same"].action, changes["same"].reason) == (Action.NOOP, Reason.IN_SYNC)
    assert (changes["orphan"].action, changes["orphan"].reason) == (Action.DELETE, Reason.ORPHANED)
    assert changes["new"].before is None and changes["orphan"].after is None
    assert plan.counts() == {"create": 1, "update": 1, "delete": 1, "no-op": 1, "blocked": 0}


def test_server_defaults_do_not_show_as_changes():
    plan = plan_of(
        desired({"name": "a"}),
        actual(
            {
                "name": "a",
                "retryCount": 3,
                "timeoutPolicy": "TIME_OUT_WF",
                "createdBy": "x",
                "ownerApp": "y",
                "runtimeMetadata": [],
            }
        ),
    )
    assert not plan.has_changes


def test_overwrite_plans_forced_update_for_equal_definitions():
    plan = plan_of(desired({"name": "a"}), actual({"name": "a"}), overwrite=True)
    (change,) = plan.changes
    assert (change.action, change.reason, change.diff) == (Action.UPDATE, Reason.FORCED, ())


def test_owner_email_limits_deletes_to_owned_tasks():
    plan = plan_of(
        desired(),
        actual(
            {"name": "mine", "ownerEmail": "me@x.io"}, {"name": "theirs", "ownerEmail": "o@x.io"}, {"name": "nobody"}
        ),
        owner_email="me@x.io",
    )
    assert [c.name for c in plan.changes] == ["mine"]
    assert plan.unmanaged == ("task:nobody", "task:theirs")


def test_ignore_globs_exclude_both_sides():
    plan = plan_of(desired({"name": "tmp_local"}, {"name": "keep"}), actual({"name": "tmp_remote"}), ignore=["tmp_*"])
    assert [c.name for c in plan.changes] == ["keep"]


def test_target_and_only_filter():
    state = (desired({"name": "a"}, {"name": "b", "retryCount": 1}), actual({"name": "b"}, {"name": "c"}))
    assert [c.name for c in plan_of(*state, targets=("b",)).changes] == ["b"]
    only_delete = plan_of(*state, only=(Action.DELETE,))
    assert [(c.name, c.action) for c in only_delete.changes] == [("c", Action.DELETE)]
    unknown = plan_of(*state, targets=("zzz",))
    assert unknown.changes == () and "zzz" in unknown.warnings[0]


def test_blocked_at_every_nesting_depth():
    deep = workflow(
        "wf",
        3,
        [
            {
                "name": "loop",
                "taskReferenceName": "loop",
                "type": "DO_WHILE",
                "loopOver": [
                    {
                        "name": "sw",
                        "taskReferenceName": "sw",
                        "type": "SWITCH",
                        "decisionCases": {
                            "big": [
                                {
                                    "name": "fork",
                                    "taskReferenceName": "fork",
                                    "type": "FORK_JOIN",
                                    "forkTasks": [[simple("other")], [simple("hidden")]],
                                }
                            ]
                        },
                        "defaultCase": [],
                    }
                ],
            }
        ],
    )
    plan = plan_of(desired({"name": "other"}), actual({"name": "other"}, {"name": "hidden"}, workflows=[deep]))
    change = by_name(plan)["hidden"]
    assert change.blocked and plan.blocked == (change,)
    (blocker,) = change.blockers
    assert (blocker.workflow, blocker.version, blocker.ref) == ("wf", 3, "hidden_ref")
    for part in ("loopOver", "decisionCases", "forkTasks"):
        assert part in blocker.location
    assert plan.actionable == ()
    assert (
        plan_of(desired({"name": "other"}), actual({"name": "other"}, {"name": "hidden"}, workflows=[deep]), force=True)
        .actionable[0]
        .name
        == "hidden"
    )


def test_blocked_by_inline_sub_workflow_and_default_case():
    inline = workflow(
        "outer",
        1,
        [
            {
                "name": "sub",
                "taskReferenceName": "sub",
                "type": "SUB_WORKFLOW",
                "subWorkflowParam": {"name": "inner", "workflowDefinition": workflow("inner", 1, [simple("deep")])},
            },
            {
                "name": "d",
                "taskReferenceName": "d",
                "type": "DECISION",
                "decisionCases": {},
                "defaultCase": [simple("fallback")],
            },
        ],
    )
    plan = plan_of(desired(), actual({"name": "deep"}, {"name": "fallback"}, workflows=[inline]))
    assert all(c.blocked for c in plan.changes) and len(plan.changes) == 2


def test_dynamic_tasks_warn_on_every_delete():
    dyn = workflow(
        "dyn", 1, [{"name": "d", "taskReferenceName": "d", "type": "DYNAMIC", "dynamicTaskNameParam": "taskToRun"}]
    )
    plan = plan_of(desired(), actual({"name": "x"}, {"name": "y"}, workflows=[dyn]))
    assert all("may be used at run time by workflow dyn v1" in c.warnings[0] for c in plan.changes)


def test_workflow_using_undefined_task_warns():
    plan = plan_of(desired(), actual(workflows=[workflow("w", 1, [simple("ghost")])]))
    assert any("ghost" in w and "neither locally nor on the server" in w for w in plan.warnings)


def test_local_workflow_change_removing_the_use_unblocks_the_delete():
    old = workflow("w", 1, [simple("keep"), simple("gone")])
    new = workflow("w", 1, [simple("keep")])
    plan = plan_of(
        desired({"name": "keep"}, workflows=[new]), actual({"name": "keep"}, {"name": "gone"}, workflows=[old])
    )
    changes = {(c.kind.value, c.name): c for c in plan.changes}
    assert changes[("workflow", "w")].action is Action.UPDATE
    assert changes[("task", "gone")].action is Action.DELETE and not changes[("task", "gone")].blocked


def test_remote_only_workflows_are_reported_and_pruned_only_on_request():
    remote = workflow("old", 2, [simple("a")])
    state = (desired({"name": "a"}, workflows=[]), actual({"name": "a"}, workflows=[remote]))
    plan = plan_of(*state)
    assert "workflow:old:2" in plan.unmanaged and not plan.has_changes
    pruned = plan_of(*state, prune_workflows=True)
    (change,) = [c for c in pruned.changes if c.kind.value == "workflow"]
    assert (change.action, change.reason, change.version) == (Action.DELETE, Reason.PRUNED, 2)


def test_fingerprints_cover_what_apply_depends_on():
    plan = plan_of(desired({"name": "new"}, {"name": "upd", "retryCount": 1}), actual({"name": "upd"}, {"name": "old"}))
    assert plan.fingerprints["task:new"] is None
    assert plan.fingerprints["task:upd"].startswith("sha256:")
    assert plan.fingerprints["task:old"].startswith("sha256:")
    assert plan.fingerprints["uses:old"].startswith("sha256:")


def test_fingerprints_only_for_changes_in_the_plan():
    plan = plan_of(
        desired({"name": "new"}, {"name": "upd", "retryCount": 1}), actual({"name": "upd"}), only=(Action.CREATE,)
    )
    assert dict(plan.fingerprints) == {"task:new": None}
