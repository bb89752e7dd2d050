from idflow.plan.model import Action, Reason
from tests.factories import actual, applied_record, desired, plan_of, simple, workflow


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


def dynamic_task(ref, expression, param="taskToExecute"):
    return {"name": f"{ref}_dyn", "taskReferenceName": ref, "type": "DYNAMIC", "dynamicTaskNameParam": param,
            "inputParameters": {param: expression}}  # fmt: skip


def test_run_time_choices_warn_once_per_plan_naming_each_place():
    dyn = workflow("dyn", 1, [dynamic_task("pick_ref", "${workflow.input.worker}", "taskToRun")])
    loop = {"name": "again", "taskReferenceName": "loop_ref", "type": "DO_WHILE", "loopCondition": "false",
            "loopOver": [dynamic_task("inner_ref", "${prep_ref.output.next}")]}  # fmt: skip
    other = workflow("other", 3, [loop])
    plan = plan_of(desired(), actual({"name": "x"}, {"name": "y"}, workflows=[dyn, other]))
    assert [c.action for c in plan.changes] == [Action.DELETE, Action.DELETE]
    assert all(c.warnings == () for c in plan.changes)
    assert list(plan.warnings) == [
        "workflow dyn v1 at tasks[0] (pick_ref) > inputParameters.taskToRun (${workflow.input.worker}) "
        "chooses its task at run time: it may be one of the 2 tasks this plan deletes",
        "workflow other v3 at tasks[0] (loop_ref) > loopOver[0] (inner_ref) > inputParameters.taskToExecute "
        "(${prep_ref.output.next}) chooses its task at run time: it may be one of the 2 tasks this plan deletes",
    ]
    one = plan_of(desired({"name": "x"}), actual({"name": "x"}, {"name": "y"}, workflows=[dyn]))
    assert list(one.warnings) == [
        "workflow dyn v1 at tasks[0] (pick_ref) > inputParameters.taskToRun (${workflow.input.worker}) "
        "chooses its task at run time: it may be y, which this plan deletes"
    ]


def test_no_run_time_warning_without_a_delete_that_apply_would_make():
    dyn = workflow("dyn", 1, [dynamic_task("pick_ref", "${workflow.input.worker}"), simple("used")])
    assert plan_of(desired({"name": "x"}, {"name": "used"}), actual({"name": "x"}, workflows=[dyn])).warnings == ()
    blocked = plan_of(desired(), actual({"name": "used"}, workflows=[dyn]))
    assert blocked.blocked and blocked.warnings == ()
    forced = plan_of(desired(), actual({"name": "used"}, workflows=[dyn]), force=True)
    assert len(forced.warnings) == 1 and "it may be used, which this plan deletes" in forced.warnings[0]


def test_literal_dynamic_targets_and_same_named_system_tasks_block_deletes():
    """The uses the walk used to miss: every one of these deletes would have changed a running workflow."""
    fork = {"name": "thumbs", "taskReferenceName": "thumbs_ref", "type": "FORK_JOIN_DYNAMIC",
            "inputParameters": {"forkTaskName": "make_thumbnail", "forkTaskType": "SIMPLE",
                                "forkTaskInputs": [{"image": "a.png"}, {"image": "b.png"}]}}  # fmt: skip
    join = {"name": "thumbs_join", "taskReferenceName": "thumbs_join_ref", "type": "JOIN"}
    ship = dynamic_task("ship_ref", "ship_via_post")
    http = {"name": "notify_call", "taskReferenceName": "notify_ref", "type": "HTTP",
            "inputParameters": {"http_request": {"uri": "http://example.invalid", "method": "POST"}}}  # fmt: skip
    wf = workflow("media", 2, [fork, join, ship, http])
    defined = ({"name": "make_thumbnail"}, {"name": "ship_via_post"}, {"name": "notify_call"})
    plan = plan_of(desired(), actual(*defined, workflows=[wf]))
    assert plan.actionable == () and len(plan.blocked) == 3
    where = {c.name: [(b.workflow, b.version, b.location, b.ref) for b in c.blockers] for c in plan.changes}
    assert where == {
        "make_thumbnail": [("media", 2, "tasks[0] (thumbs_ref) > inputParameters.forkTaskName", "thumbs_ref")],
        "ship_via_post": [("media", 2, "tasks[2] (ship_ref) > inputParameters.taskToExecute", "ship_ref")],
        "notify_call": [("media", 2, "tasks[3] (notify_ref)", "notify_ref")],
    }
    assert plan.warnings == ()


def test_a_task_only_a_new_local_workflow_uses_is_blocked_whatever_the_filter():
    """plan, --target, --only delete and purge (targets + only delete) agree: one usage model."""
    new_local = workflow("fresh", 1, [simple("needed"), simple("kept")])
    state = (desired({"name": "kept"}, workflows=[new_local]), actual({"name": "needed"}, {"name": "kept"}))
    shapes = {
        "plan": {},
        "--target": {"targets": ("needed",)},
        "--only delete": {"only": (Action.DELETE,)},
        "purge": {"targets": ("needed",), "only": (Action.DELETE,)},
        "purge --orphaned": {"only": (Action.DELETE,)},
    }
    for label, options in shapes.items():
        change = by_name(plan_of(*state, **options))["needed"]
        assert change.blocked, label
        assert [(b.workflow, b.location) for b in change.blockers] == [("fresh", "tasks[0] (needed_ref)")], label


def test_a_filtered_out_update_leaves_both_versions_counting():
    """--only delete does not apply the local update, so the server's version still uses the task."""
    server = workflow("w", 1, [simple("old_step")])
    local = workflow("w", 1, [simple("new_step")])
    state = (
        desired({"name": "new_step"}, workflows=[local]),
        actual({"name": "old_step"}, {"name": "new_step"}, workflows=[server]),
    )
    assert by_name(plan_of(*state, only=(Action.DELETE,)))["old_step"].blocked
    assert not by_name(plan_of(*state))["old_step"].blocked  # the update is in the plan: nothing uses it after


def test_warnings_about_other_owners_workflows_are_kept_apart():
    mine = workflow("mine", 1, [simple("ghost_a"), dynamic_task("d_ref", "${workflow.input.t}")], ownerEmail="me@x.io")
    theirs = [
        workflow(f"theirs_{i}", 1, [simple(f"ghost_{i}"), dynamic_task("d_ref", "${workflow.input.t}")],
                 ownerEmail="other@x.io")
        for i in range(3)
    ]  # fmt: skip
    local = workflow("local", 1, [simple("orphan_free")])
    plan = plan_of(
        desired(workflows=[local]),
        actual({"name": "gone", "ownerEmail": "me@x.io"}, workflows=[mine, *theirs]),
        owner_email="me@x.io",
    )
    assert [w.split(" uses ")[0].split(" at ")[0] for w in plan.warnings] == [
        "workflow mine v1",
        "workflow local v1",
        "workflow mine v1",
    ]
    assert len(plan.unmanaged_warnings) == 6
    assert all("theirs_" in w for w in plan.unmanaged_warnings)
    # Without an owner the whole server is the project's: nothing is set apart.
    unowned = plan_of(desired(), actual({"name": "gone"}, workflows=[mine, *theirs]))
    assert len(unowned.warnings) == 8 and unowned.unmanaged_warnings == ()


def test_undefined_task_warnings_only_for_tasks_that_need_a_definition():
    http = {"name": "http_call", "taskReferenceName": "h", "type": "HTTP"}
    wf = workflow("w", 1, [http, dynamic_task("ship_ref", "ship_via_drone"), simple("ghost")])
    warned = sorted(w.split("'")[1] for w in plan_of(desired(), actual(workflows=[wf])).warnings)
    assert warned == ["ghost", "ship_via_drone"]


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
    assert plan.usage_fingerprints["task:old"].startswith("sha256:")


def test_fingerprints_only_for_changes_in_the_plan():
    plan = plan_of(
        desired({"name": "new"}, {"name": "upd", "retryCount": 1}), actual({"name": "upd"}), only=(Action.CREATE,)
    )
    assert dict(plan.fingerprints) == {"task:new": None}


def test_three_way_reasons_from_the_apply_record():
    applied = actual({"name": "pend", "retryCount": 1}, {"name": "drift", "retryCount": 1},
                     {"name": "both", "retryCount": 1}, {"name": "gone", "retryCount": 1})  # fmt: skip
    record = applied_record(applied)
    now = actual({"name": "pend", "retryCount": 1}, {"name": "drift", "retryCount": 5},
                 {"name": "both", "retryCount": 5}, {"name": "new", "ownerEmail": "me@x.io"})  # fmt: skip
    local = desired({"name": "pend", "retryCount": 2}, {"name": "drift", "retryCount": 1},
                    {"name": "both", "retryCount": 3}, {"name": "gone", "retryCount": 1})  # fmt: skip
    plan = plan_of(local, now, owner_email="me@x.io", record=record)
    got = {c.name: (c.action.value, c.reason.value) for c in plan.changes}
    assert got == {
        "pend": ("update", "changed-locally"),
        "drift": ("update", "changed-on-server"),
        "both": ("update", "conflict"),
        "gone": ("create", "deleted-on-server"),
        "new": ("delete", "new-on-server"),
    }
    both = by_name(plan)["both"]
    assert [(d.path, d.before, d.after) for d in both.local_diff] == [("retryCount", 1, 3)]
    assert [(d.path, d.before, d.after) for d in both.server_diff] == [("retryCount", 1, 5)]
    assert [c.name for c in plan.conflicts] == ["both"]
    assert sorted(c.name for c in plan.drift) == ["both", "drift", "gone", "new"]
    assert plan.three_way


def test_without_a_record_the_plan_is_two_way_says_why_once_and_drift_is_every_change():
    now = actual({"name": "a", "retryCount": 5})
    plan = plan_of(desired({"name": "a", "retryCount": 1}), now, owner_email="me@x.io", record_note="no apply record")
    assert not plan_of(desired({"name": "b"}), actual(), owner_email="me@x.io", record_note="no apply record").notes
    assert by_name(plan)["a"].reason.value == "changed-locally" and not plan.three_way
    assert [n for n in plan.notes if "no apply record" in n] == [plan.notes[0]] and len(plan.notes) == 1
    assert [c.name for c in plan.drift] == ["a"]


def test_each_server_workflow_is_walked_once_for_blockers_and_fingerprints(monkeypatch):
    """A no-op workflow stays as the server holds it: the index of blockers (after apply) and the stale
    check's (the server now) walk the same body once, whatever the deletes."""
    from idflow.kinds import usage

    walked: list[str] = []
    real = usage.scan

    def counted(definition):
        walked.append(definition.get("name"))
        return real(definition)

    monkeypatch.setattr(usage, "scan", counted)
    from idflow.kinds.workflow_normal import normalise_workflowdef

    flows = [workflow(f"w{i}", 1, [simple("used"), simple("kept")]) for i in range(3)]
    wanted = desired({"name": "kept"}, workflows=[normalise_workflowdef(w) for w in flows])
    plan = plan_of(wanted, actual({"name": "used"}, {"name": "kept"}, workflows=flows))
    assert {c.action for c in plan.changes if c.name.startswith("w")} == {Action.NOOP}
    (delete,) = [c for c in plan.changes if c.action is Action.DELETE]
    assert delete.name == "used" and {b.workflow for b in delete.blockers} == {"w0", "w1", "w2"}
    assert plan.usage_fingerprints and sorted(walked) == ["w0", "w1", "w2"]
