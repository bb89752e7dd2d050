from __future__ import annotations

from typing import Any

import pytest

from idflow.kinds.usage import (
    RuntimeChoice,
    TaskUse,
    UsageIndex,
    all_task_refs,
    dynamic_uses,
    inline_workflows,
    task_uses,
)


def simple(name: str, ref: str) -> dict[str, Any]:
    return {"name": name, "taskReferenceName": ref}


def deep_workflow() -> dict[str, Any]:
    """A task used only inside a fork, inside a switch, inside a do-while loop."""
    fork = {
        "name": "fork",
        "taskReferenceName": "fork_ref",
        "type": "FORK_JOIN",
        "forkTasks": [
            [simple("left", "left_ref")],
            [simple("other", "other_ref"), simple("deep", "deep_ref")],
        ],
    }
    switch = {
        "name": "switch",
        "taskReferenceName": "switch_ref",
        "type": "SWITCH",
        "evaluatorType": "value-param",
        "expression": "size",
        "decisionCases": {"big": [fork, {"name": "join", "taskReferenceName": "join_ref", "type": "JOIN"}]},
        "defaultCase": [simple("small", "small_ref")],
    }
    loop = {
        "name": "loop",
        "taskReferenceName": "loop_ref",
        "type": "DO_WHILE",
        "loopCondition": "false",
        "loopOver": [switch],
    }
    return {"name": "wf", "version": 3, "tasks": [simple("first", "first_ref"), loop]}


def test_task_deep_inside_fork_switch_loop_is_found_with_location() -> None:
    uses = {u.task_name: u for u in task_uses(deep_workflow())}
    assert uses["deep"] == TaskUse(
        workflow="wf",
        version=3,
        task_name="deep",
        ref="deep_ref",
        location="tasks[1] (loop_ref) > loopOver[0] (switch_ref) > decisionCases.big[0] (fork_ref)"
        " > forkTasks[1][1] (deep_ref)",
    )
    assert uses["small"].location == ("tasks[1] (loop_ref) > loopOver[0] (switch_ref) > defaultCase[0] (small_ref)")
    assert uses["first"].location == "tasks[0] (first_ref)"
    assert sorted(n for n, u in uses.items() if u.needs_def) == ["deep", "first", "left", "other", "small"]
    # The operators' own names are uses too (a definition of that name would apply), but need none.
    assert sorted(n for n, u in uses.items() if not u.needs_def) == ["fork", "join", "loop", "switch"]


def test_system_tasks_are_uses_that_need_no_definition() -> None:
    """Conductor applies a task definition of the same name to any task type (retries, timeouts)."""
    types = (
        "HTTP",
        "INLINE",
        "WAIT",
        "TERMINATE",
        "SET_VARIABLE",
        "EVENT",
        "HUMAN",
        "JSON_JQ_TRANSFORM",
        "KAFKA_PUBLISH",
        "NOOP",
        "START_WORKFLOW",
        "JOIN",
    )
    system = [{"name": f"{n.lower()}_call", "taskReferenceName": f"{n}_ref", "type": n} for n in types]
    workflow = {"name": "wf", "version": 1, "tasks": [*system, {**simple("worker", "w"), "type": "SIMPLE"}]}
    uses = task_uses(workflow)
    assert [u.task_name for u in uses] == [*(f"{n.lower()}_call" for n in types), "worker"]
    assert [u.task_name for u in uses if u.needs_def] == ["worker"]


def test_embedded_task_definition_is_a_use_that_needs_no_separate_one() -> None:
    task = {**simple("worker", "w"), "taskDefinition": {"name": "worker", "retryCount": 1}}
    (use,) = task_uses({"name": "wf", "version": 1, "tasks": [task]})
    assert (use.task_name, use.needs_def) == ("worker", False)


def test_lowercase_simple_type_is_a_use() -> None:
    workflow = {"name": "wf", "version": 1, "tasks": [{**simple("worker", "w"), "type": "simple"}]}
    assert [u.task_name for u in task_uses(workflow)] == ["worker"]


def test_inline_sub_workflow_tasks_are_uses_of_the_outer_workflow() -> None:
    inline = {"name": "inner", "version": 1, "tasks": [simple("inner_task", "inner_ref")]}
    sub = {
        "name": "sub",
        "taskReferenceName": "sub_ref",
        "type": "SUB_WORKFLOW",
        "subWorkflowParam": {"name": "inner", "workflowDefinition": inline},
    }
    workflow = {"name": "outer", "version": 2, "tasks": [simple("a", "a_ref"), sub]}
    uses = task_uses(workflow)
    assert [(u.workflow, u.version, u.task_name, u.needs_def) for u in uses] == [
        ("outer", 2, "a", True),
        ("outer", 2, "sub", False),
        ("outer", 2, "inner_task", True),
    ]
    where = "tasks[1] (sub_ref) > subWorkflowParam.workflowDefinition"
    assert uses[2].location == f"{where} > tasks[0] (inner_ref)"
    assert inline_workflows(workflow) == [(inline, where)]


def test_sub_workflow_by_name_uses_no_task_but_its_own_name() -> None:
    sub = {"name": "sub", "taskReferenceName": "s", "type": "SUB_WORKFLOW", "subWorkflowParam": {"name": "x"}}
    assert [(u.task_name, u.needs_def) for u in task_uses({"name": "wf", "version": 1, "tasks": [sub]})] == [
        ("sub", False)
    ]


def test_run_time_choices_are_reported_at_any_depth_with_their_expression() -> None:
    dynamic = {
        "name": "d",
        "taskReferenceName": "dyn_ref",
        "type": "DYNAMIC",
        "dynamicTaskNameParam": "t",
        "inputParameters": {"t": "${pick.output.task}"},
    }
    fork_dynamic = {
        "name": "fd",
        "taskReferenceName": "fd_ref",
        "type": "FORK_JOIN_DYNAMIC",
        "dynamicForkTasksParam": "dynamicTasks",
        "dynamicForkTasksInputParamName": "dynamicTasksInput",
        "inputParameters": {"dynamicTasks": "${plan_ref.output.tasks}", "dynamicTasksInput": "${plan_ref.output.in}"},
    }
    expression_sub = {
        "name": "s",
        "taskReferenceName": "s_ref",
        "type": "SUB_WORKFLOW",
        "subWorkflowParam": {"name": "s", "workflowDefinition": "${workflow.input.def}"},
    }
    loop = {"name": "l", "taskReferenceName": "loop_ref", "type": "DO_WHILE", "loopOver": [dynamic]}
    workflow = {"name": "wf", "version": 1, "tasks": [loop, fork_dynamic, expression_sub]}
    assert dynamic_uses(workflow) == [
        RuntimeChoice(
            "wf", 1, "tasks[0] (loop_ref) > loopOver[0] (dyn_ref) > inputParameters.t", "${pick.output.task}"
        ),
        RuntimeChoice("wf", 1, "tasks[1] (fd_ref) > inputParameters.dynamicTasks", "${plan_ref.output.tasks}"),
        RuntimeChoice("wf", 1, "tasks[2] (s_ref) > subWorkflowParam.workflowDefinition", "${workflow.input.def}"),
    ]
    assert str(dynamic_uses(workflow)[0]) == (
        "workflow wf v1 at tasks[0] (loop_ref) > loopOver[0] (dyn_ref) > inputParameters.t (${pick.output.task})"
    )
    assert [u.task_name for u in task_uses(workflow) if u.needs_def] == []


def test_all_task_refs_cover_every_depth_but_not_inline_sub_workflows() -> None:
    refs = all_task_refs(deep_workflow())
    assert [r for r, _ in refs] == [
        "first_ref",
        "loop_ref",
        "switch_ref",
        "fork_ref",
        "left_ref",
        "other_ref",
        "deep_ref",
        "join_ref",
        "small_ref",
    ]
    inline = {"name": "i", "tasks": [simple("x", "first_ref")]}
    sub = {
        "name": "s",
        "taskReferenceName": "s",
        "type": "SUB_WORKFLOW",
        "subWorkflowParam": {"workflowDefinition": inline},
    }
    workflow = {"name": "wf", "tasks": [simple("x", "first_ref"), sub]}
    assert all_task_refs(workflow) == [("first_ref", "tasks[0] (first_ref)"), ("s", "tasks[1] (s)")]


@pytest.mark.parametrize(
    "workflow",
    [
        None,
        [],
        "text",
        {},
        {"tasks": None},
        {"tasks": "nope"},
        {"tasks": [None, 3, "x", []]},
        {"name": 5, "version": "x", "tasks": [{"name": None, "taskReferenceName": None}]},
        {
            "tasks": [
                {
                    "name": "a",
                    "decisionCases": None,
                    "defaultCase": "x",
                    "forkTasks": [None, "y", [1]],
                    "loopOver": {"a": 1},
                    "subWorkflowParam": "z",
                }
            ]
        },
        {
            "tasks": [
                {
                    "name": "a",
                    "decisionCases": {"c": None, "d": "x"},
                    "subWorkflowParam": {"workflowDefinition": 7},
                }
            ]
        },
        {"tasks": [{"type": None, "name": ["x"]}, {"type": 3, "name": "b"}]},
    ],
)
def test_malformed_input_never_crashes(workflow: Any) -> None:
    task_uses(workflow)
    dynamic_uses(workflow)
    all_task_refs(workflow)
    inline_workflows(workflow)


def test_malformed_parts_are_skipped_but_good_parts_found() -> None:
    workflow = {
        "name": "wf",
        "version": True,
        "tasks": [
            None,
            {"name": "ok", "taskReferenceName": "ok_ref", "type": None},
            {"name": "", "taskReferenceName": "empty"},
            {"taskReferenceName": "noname"},
            {"name": "sw", "type": "SWITCH", "decisionCases": {"a": [None, simple("inner", "inner_ref")]}},
        ],
    }
    uses = task_uses(workflow)
    assert [(u.task_name, u.version, u.location) for u in uses] == [
        ("ok", 0, "tasks[1] (ok_ref)"),
        ("sw", 0, "tasks[4]"),
        ("inner", 0, "tasks[4] > decisionCases.a[1] (inner_ref)"),
    ]


# Literal dynamic targets: shaped like the examples in Conductor's own docs and e2e workflows.


def fork_join_dynamic(ref: str, inputs: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": f"{ref}_fork", "taskReferenceName": ref, "type": "FORK_JOIN_DYNAMIC", "inputParameters": inputs,
            **fields}  # fmt: skip


def with_join(*tasks: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "media_pipeline",
        "version": 4,
        "tasks": [*tasks, {"name": "collect", "taskReferenceName": "collect_ref", "type": "JOIN"}],
    }


def targets(workflow: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(task, location, needs_def) of the uses that are not the workflow tasks' own names."""
    return [(u.task_name, u.location, u.needs_def) for u in task_uses(workflow) if " > inputParameters" in u.location
            or u.location.endswith("taskReferenceName")]  # fmt: skip


def test_fork_join_dynamic_with_literal_fork_task_name_is_a_use_that_needs_the_definition() -> None:
    fork = fork_join_dynamic(
        "thumbs_ref",
        {
            "forkTaskName": "make_thumbnail",
            "forkTaskType": "SIMPLE",
            "forkTaskInputs": [{"image": "a.png", "width": 64}, {"image": "b.png", "width": 128}],
        },
    )
    uses = [u for u in task_uses(with_join(fork)) if u.task_name == "make_thumbnail"]
    assert uses == [
        TaskUse(
            "media_pipeline", 4, "make_thumbnail", "thumbs_ref", "tasks[0] (thumbs_ref) > inputParameters.forkTaskName"
        )
    ]
    assert dynamic_uses(with_join(fork)) == []


def test_fork_task_type_defaults_to_simple_and_a_system_type_needs_no_definition() -> None:
    untyped = fork_join_dynamic("a_ref", {"forkTaskName": "make_thumbnail", "forkTaskInputs": [1, 2, 3]})
    http_named = fork_join_dynamic(
        "b_ref", {"forkTaskName": "notify_call", "forkTaskType": "HTTP", "forkTaskInputs": [{"http_request": {}}]}
    )
    http_only = fork_join_dynamic("c_ref", {"forkTaskType": "HTTP", "forkTaskInputs": [{"http_request": {}}]})
    nameless = fork_join_dynamic("d_ref", {"forkTaskInputs": "${split_ref.output.items}"})
    assert targets(with_join(untyped, http_named, http_only, nameless)) == [
        ("make_thumbnail", "tasks[0] (a_ref) > inputParameters.forkTaskName", True),
        ("notify_call", "tasks[1] (b_ref) > inputParameters.forkTaskName", False),
        ("HTTP", "tasks[2] (c_ref) > inputParameters.forkTaskType", False),
        # Without a name or a system type the server names the forked tasks after the fork's reference.
        ("d_ref", "tasks[3] (d_ref) > taskReferenceName", True),
    ]


def test_fork_task_name_expression_is_a_run_time_choice() -> None:
    fork = fork_join_dynamic("t_ref", {"forkTaskName": "${workflow.input.worker}", "forkTaskInputs": [1]})
    assert targets(with_join(fork)) == []
    assert dynamic_uses(with_join(fork)) == [
        RuntimeChoice(
            "media_pipeline", 4, "tasks[0] (t_ref) > inputParameters.forkTaskName", "${workflow.input.worker}"
        )
    ]


def test_fork_task_workflow_forks_a_sub_workflow_not_a_task() -> None:
    fork = fork_join_dynamic("w_ref", {"forkTaskWorkflow": "resize_one", "forkTaskInputs": [{"image": "a.png"}]})
    assert targets(with_join(fork)) == [] and dynamic_uses(with_join(fork)) == []


def test_literal_dynamic_fork_tasks_list_is_walked_like_any_task_list() -> None:
    fork = fork_join_dynamic(
        "many_ref",
        {
            "dynamicTasks": [
                {"name": "transcode", "taskReferenceName": "transcode_ref", "type": "SIMPLE"},
                {"name": "webhook_call", "taskReferenceName": "hook_ref", "type": "HTTP", "inputParameters": {}},
                {
                    "name": "inner_switch",
                    "taskReferenceName": "sw_ref",
                    "type": "SWITCH",
                    "decisionCases": {"big": [{"name": "archive", "taskReferenceName": "archive_ref"}]},
                },
                "${prepare_ref.output.extra}",
                {"name": "${prepare_ref.output.name}", "taskReferenceName": "late_ref"},
            ],
            "dynamicTasksInput": {"transcode_ref": {"codec": "h264"}},
        },
        dynamicForkTasksParam="dynamicTasks",
        dynamicForkTasksInputParamName="dynamicTasksInput",
    )
    where = "tasks[0] (many_ref) > inputParameters.dynamicTasks"
    assert targets(with_join(fork)) == [
        ("transcode", f"{where}[0] (transcode_ref)", True),
        ("webhook_call", f"{where}[1] (hook_ref)", False),
        ("inner_switch", f"{where}[2] (sw_ref)", False),
        ("archive", f"{where}[2] (sw_ref) > decisionCases.big[0] (archive_ref)", True),
    ]
    assert [(c.location, c.expression) for c in dynamic_uses(with_join(fork))] == [
        (f"{where}[3]", "${prepare_ref.output.extra}"),
        (f"{where}[4] (late_ref).name", "${prepare_ref.output.name}"),
    ]


def test_literal_fork_task_inputs_win_over_dynamic_fork_tasks_param() -> None:
    """As on the server: the "same task" form is tried first, the named parameter is then not read."""
    fork = fork_join_dynamic(
        "both_ref",
        {"forkTaskName": "scan_page", "forkTaskInputs": [1, 2], "forkedTasks": "${nowhere.output.x}"},
        dynamicForkTasksParam="forkedTasks",
        dynamicForkTasksInputParamName="forkedTasksInputs",
    )
    assert [t[0] for t in targets(with_join(fork))] == ["scan_page"] and dynamic_uses(with_join(fork)) == []


def test_legacy_dynamic_fork_join_tasks_param() -> None:
    fork = fork_join_dynamic(
        "old_ref",
        {"legacy": {"dynamicTasks": [{"taskName": "crop", "referenceName": "crop_ref", "type": "SIMPLE"}]}},
        dynamicForkJoinTasksParam="legacy",
    )
    assert targets(with_join(fork)) == [("crop", "tasks[0] (old_ref) > inputParameters.legacy.dynamicTasks[0]", True)]


def test_dynamic_task_with_literal_name_is_a_use_that_needs_the_definition() -> None:
    default_param = {"name": "ship", "taskReferenceName": "ship_ref", "type": "DYNAMIC",
                     "inputParameters": {"taskToExecute": "ship_via_post"}}  # fmt: skip
    named_param = {"name": "ship2", "taskReferenceName": "ship2_ref", "type": "DYNAMIC",
                   "dynamicTaskNameParam": "courier", "inputParameters": {"courier": "ship_via_rail"}}  # fmt: skip
    embedded = {**named_param, "taskReferenceName": "ship3_ref", "taskDefinition": {"name": "ship_via_rail"}}
    missing = {"name": "ship4", "taskReferenceName": "ship4_ref", "type": "DYNAMIC", "inputParameters": {}}
    workflow = {"name": "shipping", "version": 1, "tasks": [default_param, named_param, embedded, missing]}
    assert targets(workflow) == [
        ("ship_via_post", "tasks[0] (ship_ref) > inputParameters.taskToExecute", True),
        ("ship_via_rail", "tasks[1] (ship2_ref) > inputParameters.courier", True),
        ("ship_via_rail", "tasks[2] (ship3_ref) > inputParameters.courier", False),
    ]
    assert dynamic_uses(workflow) == []


@pytest.mark.parametrize(
    "task",
    [
        {"type": "DYNAMIC", "inputParameters": None, "dynamicTaskNameParam": 5},
        {"type": "DYNAMIC", "inputParameters": {"taskToExecute": ["x"]}},
        {"type": "FORK_JOIN_DYNAMIC", "inputParameters": "x", "dynamicForkTasksParam": "t"},
        {
            "type": "FORK_JOIN_DYNAMIC",
            "inputParameters": {"t": [None, 3, [], {"name": 5}]},
            "dynamicForkTasksParam": "t",
        },
        {
            "type": "FORK_JOIN_DYNAMIC",
            "inputParameters": {"forkTaskName": 7, "forkTaskType": [], "forkTaskInputs": [1]},
        },
        {
            "type": "FORK_JOIN_DYNAMIC",
            "inputParameters": {"l": {"dynamicTasks": [None, {"taskName": 3}]}},
            "dynamicForkJoinTasksParam": "l",
        },
        {"type": "FORK_JOIN_DYNAMIC", "inputParameters": {"l": "text"}, "dynamicForkJoinTasksParam": "l"},
    ],
)
def test_malformed_dynamic_inputs_never_crash(task: dict[str, Any]) -> None:
    assert targets({"name": "wf", "version": 1, "tasks": [task]}) == []
    dynamic_uses({"name": "wf", "version": 1, "tasks": [task]})


def test_usage_index_counts_each_place_once_and_fingerprints_who_uses_a_task() -> None:
    server = {"name": "wf", "version": 1, "tasks": [simple("resize", "r1")]}
    local = {"name": "wf", "version": 1, "tasks": [simple("resize", "r1"), simple("resize", "r2")]}
    other = {"name": "other", "version": 2, "tasks": [{"name": "resize", "taskReferenceName": "h", "type": "HTTP"}]}
    index = UsageIndex.of([server, local, other])
    assert [(u.workflow, u.location) for u in index.uses_of("resize")] == [
        ("other", "tasks[0] (h)"),
        ("wf", "tasks[0] (r1)"),
        ("wf", "tasks[1] (r2)"),
    ]
    assert index.users_of("resize") == ["workflow other v2", "workflow wf v1"] and index.uses_of("nothing") == ()
    assert index.fingerprint("resize") == UsageIndex.of([other, local]).fingerprint("resize")
    assert index.fingerprint("resize") != UsageIndex.of([server]).fingerprint("resize")
    assert UsageIndex.of([]).fingerprint("resize") == UsageIndex.of([server]).fingerprint("absent")


def test_the_nesting_keys_are_every_key_a_walk_descends_into():
    """``nests`` lets a walk skip tasks without nested tasks: it must know every key that
    ``child_task_lists`` and ``inline_definition`` read from a task."""
    import ast
    import inspect

    from idflow.kinds import usage

    def keys_read(function) -> set[str]:  # task.get("k"), or get("k") after get = task.get
        found = set()
        for node in ast.walk(ast.parse(inspect.getsource(function))):
            called = getattr(node, "func", None)
            by_task = isinstance(called, ast.Attribute) and getattr(called.value, "id", "") == "task"
            if (by_task and called.attr == "get") or (isinstance(called, ast.Name) and called.id == "get"):
                found.add(node.args[0].value)
        return found

    read = keys_read(usage.child_task_lists) | keys_read(usage.inline_definition)
    assert keys_read(usage.nests) == read
    assert read == usage.NESTING_KEYS
    switch = {"name": "s", "taskReferenceName": "s", "type": "SWITCH", "decisionCases": {"a": [{"name": "x"}]}}
    assert usage.nests(switch) and not usage.nests({"name": "x", "taskReferenceName": "x"})
    assert not usage.nests({"name": "x", "decisionCases": {}, "defaultCase": [], "forkTasks": [], "loopOver": []})
    assert [t["name"] for t, _ in usage.iter_tasks({"tasks": [switch]})] == ["s", "x"]
