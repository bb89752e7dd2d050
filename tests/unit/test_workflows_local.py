from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from idflow.errors import DefinitionError, Problem
from idflow.kinds.workflow_normal import normalise_workflowdef
from idflow.repo.workflow_files import LocalWorkflow, load_workflows, read_workflow_tree, validate_workflows


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def load(folder: Path, variables: dict[str, Any] | None = None, **kwargs: Any) -> list[LocalWorkflow]:
    """Every read three times: without the read cache, filling it, from it; all three must agree (so every
    test here also checks that a cached result is the result)."""
    cache = folder.parent / f"read-cache-{folder.name}"
    shutil.rmtree(cache, ignore_errors=True)
    outcomes = []
    for cache_dir in (None, cache, cache):
        try:
            tree = read_workflow_tree(folder, variables=variables or {}, cache_dir=cache_dir, **kwargs)
            outcomes.append(tree.workflows)
        except DefinitionError as exc:
            outcomes.append(exc.problems)
    assert outcomes[0] == outcomes[1] == outcomes[2]
    if isinstance(outcomes[0], list) and outcomes[0] and isinstance(outcomes[0][0], Problem):
        raise DefinitionError(outcomes[0], what="workflow")
    return outcomes[0]


def load_problems(folder: Path, variables: dict[str, Any] | None = None) -> list[Problem]:
    with pytest.raises(DefinitionError) as caught:
        load(folder, variables)
    assert caught.value.problems
    return caught.value.problems


def load_problems_with(folder: Path, **kwargs: Any) -> list[Problem]:
    with pytest.raises(DefinitionError) as caught:
        load(folder, **kwargs)
    assert caught.value.problems
    return caught.value.problems


def minimal(name: str = "wf", version: int = 1, **extra: Any) -> dict[str, Any]:
    tasks = [{"name": "worker", "taskReferenceName": "w"}]
    return {"name": name, "version": version, "tasks": tasks, **extra}


# -- loading ---------------------------------------------------------------------------------------


def test_missing_folder_is_no_workflows(tmp_path: Path) -> None:
    assert load(tmp_path / "absent") == []


def test_json_file_is_loaded_and_normalised(tmp_path: Path) -> None:
    path = write(tmp_path, "wf.json", json.dumps(minimal(description="d"), indent=2))
    [workflow] = load(tmp_path, owner_email="team@example.com")
    assert (workflow.name, workflow.version, workflow.path, workflow.line) == ("wf", 1, path, 1)
    expected = normalise_workflowdef({**minimal(description="d"), "ownerEmail": "team@example.com"})
    assert workflow.definition == expected
    assert workflow.definition["schemaVersion"] == 2
    assert workflow.definition["tasks"][0]["type"] == "SIMPLE"


def test_owner_email_of_another_owner_is_a_problem_at_its_line(tmp_path: Path) -> None:
    text = json.dumps(minimal(ownerEmail="mine@example.com"), indent=2)
    path = write(tmp_path, "wf.json", text)
    [problem] = load_problems_with(tmp_path, owner_email="team@example.com")
    owner_line = next(n for n, line in enumerate(text.splitlines(), 1) if '"ownerEmail"' in line)
    assert (problem.path, problem.line) == (str(path), owner_line)
    assert "'mine@example.com' is not the configured owner_email 'team@example.com'" in problem.message


def test_owner_email_same_as_configured_is_fine_and_without_config_the_file_keeps_its_own(tmp_path: Path) -> None:
    write(tmp_path, "wf.json", json.dumps(minimal(ownerEmail="team@example.com")))
    [workflow] = load(tmp_path, owner_email="team@example.com")
    assert workflow.definition["ownerEmail"] == "team@example.com"
    write(tmp_path, "wf.json", json.dumps(minimal(ownerEmail="mine@example.com")))
    [workflow] = load(tmp_path)
    assert workflow.definition["ownerEmail"] == "mine@example.com"


def test_nested_owners_of_another_owner_are_problems_too(tmp_path: Path) -> None:
    text = """
        name: wf
        ownerEmail: team@example.com
        tasks:
          - name: prepare
            taskReferenceName: prepare
            taskDefinition:
              name: prepare
              ownerEmail: idflow@example.com
          - name: child
            taskReferenceName: child
            type: SUB_WORKFLOW
            subWorkflowParam:
              workflowDefinition:
                name: inline
                ownerEmail: idflow@example.com
                tasks: [{name: w, taskReferenceName: w}]
        """
    write(tmp_path, "wf.yaml", text)
    problems = load_problems_with(tmp_path, owner_email="team@example.com")
    assert [(p.line, p.message.split(": ")[1]) for p in problems] == [
        (8, "tasks[0].taskDefinition.ownerEmail"),
        (15, "tasks[1].subWorkflowParam.workflowDefinition.ownerEmail"),
    ]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        # JSON: the nested key written once more than the workflow's own, or spelt with an escape
        (
            "wf.json",
            '{"name": "wf", "ownerEmail": "team@example.com", "tasks": [{"name": "t", '
            '"taskReferenceName": "t", "taskDefinition": {"name": "t", "ownerEmail": "idflow@example.com"}}]}',
        ),
        (
            "wf.json",
            '{"name": "wf", "tasks": [{"name": "t", "taskReferenceName": "t", '
            '"taskDefinition": {"name": "t", "owner\\u0045mail": "idflow@example.com"}}]}',
        ),
        # YAML: an escaped key, and an alias repeating a node whose key is written once
        (
            "wf.yaml",
            "name: wf\ntasks:\n  - name: t\n    taskReferenceName: t\n"
            '    taskDefinition: {name: t, "owner\\x45mail": idflow@example.com}\n',
        ),
        (
            "wf.yaml",
            "name: wf\nownerEmail: &who idflow@example.com\nx: &td {name: t, ownerEmail: idflow@example.com}\n"
            "tasks:\n  - {name: t, taskReferenceName: t, taskDefinition: *td}\n",
        ),
    ],
)
def test_a_nested_owner_is_found_however_the_file_spells_it(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    problems = load_problems_with(tmp_path, owner_email="team@example.com")
    assert any("taskDefinition.ownerEmail" in p.message for p in problems), problems


def test_no_owner_email_anywhere_leaves_it_out(tmp_path: Path) -> None:
    write(tmp_path, "wf.json", json.dumps(minimal()))
    [workflow] = load(tmp_path)
    assert "ownerEmail" not in workflow.definition


def test_yaml_and_yml_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        """
        # a comment first
        name: a
        version: 2
        description: released 2024-01-31
        variables: {created: 2024-01-31}
        tasks:
          - name: worker
            taskReferenceName: w
        """,
    )
    write(tmp_path, "sub/b.yml", "name: b\nversion: 1\ntasks: [{name: worker, taskReferenceName: w}]\n")
    workflows = load(tmp_path)
    assert [(w.name, w.version) for w in workflows] == [("a", 2), ("b", 1)]
    assert workflows[0].line == 2
    assert workflows[0].definition["variables"]["created"] == "2024-01-31"  # a string, as in JSON, not a date


def test_other_and_hidden_files_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "# not a workflow\n")
    write(tmp_path, "notes.txt", "{")
    write(tmp_path, ".hidden.json", "{")
    write(tmp_path, ".git/x.json", "{")
    write(tmp_path, "wf.json", json.dumps(minimal()))
    assert [w.name for w in load(tmp_path)] == ["wf"]


def test_sorted_by_name_then_version(tmp_path: Path) -> None:
    write(tmp_path, "1.json", json.dumps(minimal("b", 1)))
    write(tmp_path, "2.json", json.dumps(minimal("a", 10)))
    write(tmp_path, "3.json", json.dumps(minimal("a", 2)))
    assert [(w.name, w.version) for w in load(tmp_path)] == [("a", 2), ("a", 10), ("b", 1)]


def test_json_template_rendered_with_vars(tmp_path: Path) -> None:
    write(
        tmp_path,
        "wf.json.j2",
        """
        {
          "name": "{{ prefix }}_flow",
          "version": {{ version }},
          "timeoutSeconds": {{ timeouts.workflow }},
          "inputParameters": {{ inputs | tojson }},
          "tasks": [
            {% for step in steps %}
            {"name": "{{ step }}", "taskReferenceName": "{{ step }}_ref"}{{ "," if not loop.last }}
            {% endfor %}
          ]
        }
        """,
    )
    variables = {
        "prefix": "orders",
        "version": 3,
        "timeouts": {"workflow": 60},
        "inputs": ["id"],
        "steps": ["fetch", "store"],
    }
    [workflow] = load(tmp_path, variables)
    assert (workflow.name, workflow.version) == ("orders_flow", 3)
    assert workflow.definition["timeoutSeconds"] == 60
    assert workflow.definition["inputParameters"] == ["id"]
    assert [t["taskReferenceName"] for t in workflow.definition["tasks"]] == ["fetch_ref", "store_ref"]


def test_yaml_templates(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml.j2", "name: {{ env }}_a\nversion: 1\ntasks: [{name: w, taskReferenceName: w}]\n")
    write(tmp_path, "b.yml.j2", "name: {{ env }}_b\nversion: 1\ntasks: [{name: w, taskReferenceName: w}]\n")
    assert [w.name for w in load(tmp_path, {"env": "prod"})] == ["prod_a", "prod_b"]


def test_undefined_variable_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "wf.yaml.j2", "name: x\nversion: 1\n\ndescription: {{ missing }}\ntasks: []\n")
    [problem] = load_problems(tmp_path, {"other": 1})
    assert (problem.path, problem.line) == (str(path), 4)
    assert "missing" in problem.message and "undefined" in problem.message


def test_undefined_attribute_of_a_variable_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "wf.json.j2", '{\n  "name": "x",\n  "version": {{ cfg.version }}\n}\n')
    [problem] = load_problems(tmp_path, {"cfg": {}})
    assert (problem.path, problem.line) == (str(path), 3)
    assert "version" in problem.message


def test_template_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "wf.yaml.j2", "name: x\nversion: 1\n{% if %}\n")
    [problem] = load_problems(tmp_path)
    assert (problem.path, problem.line) == (str(path), 3)
    assert "template syntax error" in problem.message


def test_templates_are_sandboxed(tmp_path: Path) -> None:
    write(tmp_path, "wf.yaml.j2", "name: x\nversion: 1\ndescription: {{ ''.__class__.__mro__ }}\n")
    [problem] = load_problems(tmp_path)
    assert problem.line == 3
    assert "unsafe" in problem.message


def test_json_parse_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "wf.json", '{\n  "name": "x",\n  "version": 1,,\n}\n')
    [problem] = load_problems(tmp_path)
    assert (problem.path, problem.line, problem.col) == (str(path), 3, 16)
    assert problem.message.startswith("invalid JSON")
    assert str(problem).startswith(f"{path}:3:16: invalid JSON")


def test_yaml_parse_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "wf.yaml", "name: x\nversion: 1\ntasks:\n  - name: a\n   bad: [\n")
    [problem] = load_problems(tmp_path)
    assert problem.path == str(path)
    assert problem.line in (5, 6)
    assert problem.message.startswith("invalid YAML")


def test_parse_error_in_a_rendered_template_says_so(tmp_path: Path) -> None:
    write(tmp_path, "wf.json.j2", '{"name": "{{ n }}",\n "version": 1,,}\n')
    [problem] = load_problems(tmp_path, {"n": "x"})
    assert problem.line == 2
    assert "rendered template" in problem.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1, 2]\n", "not a workflow: a YAML list (2 items)"),
        ("", "not a workflow: holds an empty document"),
        ("version: 1\ntasks: []\n", "'name'"),
        ("name: ''\nversion: 1\n", "'name'"),
        ("name: x\nversion: 0\n", "'version'"),
        ("name: x\nversion: '1'\n", "'version'"),
        ("name: x\nversion: true\n", "'version'"),
        ("name: x\nversion: 1.5\n", "'version'"),
    ],
)
def test_name_and_version_are_required(tmp_path: Path, text: str, expected: str) -> None:
    write(tmp_path, "wf.yaml", text)
    [problem] = load_problems(tmp_path)
    assert expected in problem.message


def test_version_problem_points_at_its_line(tmp_path: Path) -> None:
    write(tmp_path, "wf.yaml", "name: x\ndescription: d\nversion: -3\n")
    [problem] = load_problems(tmp_path)
    assert problem.line == 3


def test_not_utf8_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "wf.json").write_bytes(b'{"name": "x",\n"version": 1, "d": "\xff"}')
    [problem] = load_problems(tmp_path)
    assert problem.line == 2 and "UTF-8" in problem.message


def test_duplicate_name_and_version_names_both_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.json", json.dumps(minimal("same", 2)))
    second = write(tmp_path, "b.yaml", "name: same\nversion: 2\ntasks: [{name: w, taskReferenceName: w}]\n")
    write(tmp_path, "c.json", json.dumps(minimal("same", 3)))
    [problem] = load_problems(tmp_path)
    assert problem.path == str(second)
    assert str(first) in problem.message
    assert "'same' version 2" in problem.message


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    write(tmp_path, "a.json", "{")
    write(tmp_path, "b.yaml", "name: [\n")
    write(tmp_path, "c.json.j2", "{{ nope }}")
    write(tmp_path, "ok.json", json.dumps(minimal()))
    with pytest.raises(DefinitionError) as caught:
        load(tmp_path)
    assert [Path(p.path).name for p in caught.value.problems] == ["a.json", "b.yaml", "c.json.j2"]
    assert "3 problems in local workflows" in str(caught.value)


# -- validation ------------------------------------------------------------------------------------


def load_one(tmp_path: Path, definition: dict[str, Any] | str, filename: str = "wf.json") -> LocalWorkflow:
    text = definition if isinstance(definition, str) else json.dumps(definition, indent=2)
    write(tmp_path, filename, text)
    [workflow] = load(tmp_path)
    return workflow


def validate(
    workflows: list[LocalWorkflow],
    tasks: set[str] | None = None,
    known: set[Any] | None = None,
) -> list[Problem]:
    return validate_workflows(
        workflows, known_task_names={"worker"} if tasks is None else tasks, known_workflows=known or set()
    )


def test_valid_workflow_has_no_problems(tmp_path: Path) -> None:
    assert validate([load_one(tmp_path, minimal())]) == []


def test_schema_version_defaults_to_2(tmp_path: Path) -> None:
    workflow = load_one(tmp_path, minimal())
    assert workflow.definition["schemaVersion"] == 2
    assert validate([workflow]) == []


def test_schema_version_other_than_2_is_a_problem(tmp_path: Path) -> None:
    text = "name: wf\nversion: 1\nschemaVersion: 1\ntasks: [{name: worker, taskReferenceName: w}]\n"
    workflow = load_one(tmp_path, text, "wf.yaml")
    [problem] = validate([workflow])
    assert problem.line == 3
    assert "'schemaVersion' must be 2" in problem.message


@pytest.mark.parametrize("tasks", [None, []])
def test_tasks_must_be_a_non_empty_list(tmp_path: Path, tasks: Any) -> None:
    definition: dict[str, Any] = {"name": "wf", "version": 1}
    if tasks is not None:
        definition["tasks"] = tasks
    [problem] = validate([load_one(tmp_path, definition)])
    assert "'tasks' must be a non-empty list" in problem.message


@pytest.mark.parametrize("tasks", ["x", {}])
def test_tasks_of_another_type_are_refused_on_reading(tmp_path: Path, tasks: Any) -> None:
    with pytest.raises(DefinitionError) as caught:
        load_one(tmp_path, {"name": "wf", "version": 1, "tasks": tasks})
    [problem] = caught.value.problems
    assert "'tasks' must be a list" in problem.message


def test_every_task_needs_name_and_reference_at_any_depth(tmp_path: Path) -> None:
    definition = minimal()
    definition["tasks"].append(
        {
            "name": "loop",
            "taskReferenceName": "loop_ref",
            "type": "DO_WHILE",
            "loopCondition": "false",
            "loopOver": [{"name": "worker"}, {"taskReferenceName": "lost"}, "junk"],
        }
    )
    problems = validate([load_one(tmp_path, definition)])
    messages = sorted(p.message for p in problems)
    assert len(messages) == 3
    assert any("tasks[1] (loop_ref) > loopOver[0] needs a 'taskReferenceName'" in m for m in messages)
    assert any("loopOver[1] (lost) needs a 'name'" in m for m in messages)
    assert any("loopOver[2] must be a mapping" in m for m in messages)


def test_duplicate_references_in_nested_tasks(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """
        name: wf
        version: 1
        tasks:
          - name: worker
            taskReferenceName: dup
          - name: fork
            taskReferenceName: fork_ref
            type: FORK_JOIN
            forkTasks:
              - - name: worker
                  taskReferenceName: fine
              - - name: worker
                  taskReferenceName: dup
          - name: join
            taskReferenceName: join_ref
            type: JOIN
        """
    ).lstrip()
    [problem] = validate([load_one(tmp_path, text, "wf.yaml")])
    assert problem.line == 13
    assert "taskReferenceName 'dup' is used 2 times" in problem.message
    assert "tasks[0] (dup)" in problem.message
    assert "tasks[1] (fork_ref) > forkTasks[1][0] (dup)" in problem.message


def test_inline_sub_workflows_have_their_own_reference_namespace(tmp_path: Path) -> None:
    inline = {"name": "inner", "tasks": [{"name": "worker", "taskReferenceName": "w"}]}
    definition = minimal()
    definition["tasks"].append(
        {
            "name": "s",
            "taskReferenceName": "s",
            "type": "SUB_WORKFLOW",
            "subWorkflowParam": {"name": "inner", "workflowDefinition": inline},
        }
    )
    workflow = load_one(tmp_path, definition)
    assert validate([workflow]) == []
    inline["tasks"].append({"name": "worker", "taskReferenceName": "w"})
    (tmp_path / "wf.json").unlink()
    [problem] = validate([load_one(tmp_path, definition)])
    assert "'w' is used 2 times in the inline sub-workflow at tasks[1] (s)" in problem.message


def test_unknown_task_definition_names_workflow_reference_and_file(tmp_path: Path) -> None:
    definition = minimal()
    definition["tasks"].append(
        {
            "name": "sw",
            "taskReferenceName": "sw_ref",
            "type": "SWITCH",
            "evaluatorType": "value-param",
            "expression": "x",
            "decisionCases": {"a": [{"name": "ghost", "taskReferenceName": "ghost_ref"}]},
        }
    )
    definition["tasks"].append({"name": "h", "taskReferenceName": "h", "type": "HTTP"})
    workflow = load_one(tmp_path, definition)
    [problem] = validate([workflow])
    assert problem.path == str(workflow.path)
    text = workflow.path.read_text().splitlines()
    assert '"ghost_ref"' in text[problem.line - 1]
    assert "workflow 'wf' version 1" in problem.message
    assert "'ghost_ref'" in problem.message and "'ghost'" in problem.message
    assert "decisionCases.a[0]" in problem.message
    assert str(workflow.path) in str(problem)
    assert validate([workflow], tasks={"worker", "ghost"}) == []


def test_unknown_task_inside_inline_sub_workflow(tmp_path: Path) -> None:
    definition = minimal()
    definition["tasks"].append(
        {
            "name": "s",
            "taskReferenceName": "s",
            "type": "SUB_WORKFLOW",
            "subWorkflowParam": {
                "workflowDefinition": {"name": "i", "tasks": [{"name": "ghost", "taskReferenceName": "g"}]}
            },
        }
    )
    [problem] = validate([load_one(tmp_path, definition)])
    assert "'ghost'" in problem.message and "subWorkflowParam.workflowDefinition" in problem.message


def test_task_with_embedded_definition_needs_no_registered_one(tmp_path: Path) -> None:
    definition = minimal()
    definition["tasks"][0]["taskDefinition"] = {"name": "worker2", "retryCount": 1}
    definition["tasks"][0]["name"] = "worker2"
    assert validate([load_one(tmp_path, definition)]) == []


def test_literal_dynamic_targets_need_a_definition_system_tasks_do_not(tmp_path: Path) -> None:
    definition = minimal()
    definition["tasks"] += [
        {"name": "notify_call", "taskReferenceName": "notify_ref", "type": "HTTP", "inputParameters": {}},
        {
            "name": "fan_out",
            "taskReferenceName": "fan_ref",
            "type": "FORK_JOIN_DYNAMIC",
            "inputParameters": {"forkTaskName": "resize", "forkTaskInputs": [{"w": 1}]},
        },
        {"name": "fan_join", "taskReferenceName": "fan_join_ref", "type": "JOIN"},
        {
            "name": "pick",
            "taskReferenceName": "pick_ref",
            "type": "DYNAMIC",
            "dynamicTaskNameParam": "which",
            "inputParameters": {"which": "ship_via_rail"},
        },
        {
            "name": "pick_later",
            "taskReferenceName": "later_ref",
            "type": "DYNAMIC",
            "inputParameters": {"taskToExecute": "${workflow.input.which}"},
        },
    ]
    workflow = load_one(tmp_path, definition)
    problems = validate([workflow])
    assert [p.message.split(" uses task definition ")[1].split(",")[0] for p in problems] == [
        "'resize'",
        "'ship_via_rail'",
    ]
    lines = workflow.path.read_text().splitlines()
    assert '"fan_ref"' in lines[problems[0].line - 1] and '"pick_ref"' in lines[problems[1].line - 1]
    assert "fan_ref" in problems[0].message and "inputParameters.forkTaskName" in problems[0].message
    assert validate([workflow], tasks={"worker", "resize", "ship_via_rail"}) == []


def sub(name: str | None = None, version: int | None = None, **param: Any) -> dict[str, Any]:
    if name is not None:
        param["name"] = name
    if version is not None:
        param["version"] = version
    return {"name": "s", "taskReferenceName": "s_ref", "type": "SUB_WORKFLOW", "subWorkflowParam": param}


def test_unknown_sub_workflow_is_a_problem(tmp_path: Path) -> None:
    definition = minimal()
    definition["tasks"].append(sub("child"))
    workflow = load_one(tmp_path, definition)
    [problem] = validate([workflow])
    assert "sub-workflow 'child'" in problem.message and "'s_ref'" in problem.message
    assert validate([workflow], known={"child"}) == []
    assert validate([workflow], known={("child", 4)}) == []


def test_sub_workflow_with_version_needs_that_version(tmp_path: Path) -> None:
    definition = minimal()
    definition["tasks"].append(sub("child", 2))
    workflow = load_one(tmp_path, definition)
    [problem] = validate([workflow], known={("child", 1)})
    assert "sub-workflow 'child' version 2" in problem.message
    assert validate([workflow], known={("child", 2)}) == []
    assert validate([workflow], known={"child"}) == []


def test_local_workflows_count_as_known_sub_workflows(tmp_path: Path) -> None:
    parent = minimal("parent")
    parent["tasks"].append(sub("child", 1))
    write(tmp_path, "parent.json", json.dumps(parent))
    write(tmp_path, "child.json", json.dumps(minimal("child")))
    assert validate(load(tmp_path)) == []


@pytest.mark.parametrize(
    "task",
    [
        sub(workflowDefinition={"name": "i", "tasks": [{"name": "worker", "taskReferenceName": "x"}]}),
        sub("any", workflowDefinition="${workflow.input.definition}"),
        sub("${workflow.input.child}"),
    ],
)
def test_inline_or_run_time_sub_workflows_need_nothing_known(tmp_path: Path, task: dict[str, Any]) -> None:
    definition = minimal()
    definition["tasks"].append(task)
    assert validate([load_one(tmp_path, definition)]) == []


def test_sub_workflow_without_name(tmp_path: Path) -> None:
    definition = minimal()
    definition["tasks"].append(sub(version=1))
    [problem] = validate([load_one(tmp_path, definition)])
    assert "without 'subWorkflowParam.name'" in problem.message


def test_sub_workflow_without_params(tmp_path: Path) -> None:
    definition = minimal()
    task = sub()
    del task["subWorkflowParam"]
    definition["tasks"].append(task)
    [problem] = validate([load_one(tmp_path, definition)])
    assert "SUB_WORKFLOW without a 'subWorkflowParam'" in problem.message


def test_validation_of_unreadable_source_falls_back_to_the_definition_line(tmp_path: Path) -> None:
    tasks = [{"name": "ghost", "taskReferenceName": "g"}]
    definition = normalise_workflowdef({"name": "wf", "version": 1, "tasks": tasks})
    workflow = LocalWorkflow("wf", 1, definition, tmp_path / "gone.json", 7)
    [problem] = validate([workflow])
    assert (problem.path, problem.line) == (str(tmp_path / "gone.json"), 7)


def test_duplicate_yaml_keys_are_an_error_with_the_line(tmp_path):
    import pytest as _pytest

    from idflow.errors import DefinitionError

    (tmp_path / "w.yaml").write_text("name: w\nversion: 1\nname: again\ntasks: []\n")
    with _pytest.raises(DefinitionError) as caught:
        load_workflows(tmp_path, variables={})
    assert "w.yaml:3" in str(caught.value) and "duplicate key 'name'" in str(caught.value)


# -- what the server ignores, and files that are not workflows --------------------------------------


REAL_SHAPED = """
{
  "name": "wrap",
  "schemaVersion": 2,
  "retryCount": 2,
  "responseTimeoutSeconds": 300,
  "tasks": [
    {
      "name": "prepare",
      "taskReferenceName": "prepare",
      "callbackFromWorker": true,
      "taskDefinition": {
        "name": "prepare",
        "version": 1,
        "responseTimeoutSeconds": 30
      }
    }
  ]
}
"""


def test_fields_the_server_ignores_are_noted_at_their_lines_and_left_out(tmp_path: Path) -> None:
    path = write(tmp_path, "wrap/wrap.json", REAL_SHAPED)
    [workflow] = load(tmp_path)
    assert (workflow.name, workflow.version) == ("wrap", 1)  # no version: 1, as on the server
    assert [(n.path, n.line) for n in workflow.notes] == [
        (str(path), 4),
        (str(path), 5),
        (str(path), 10),
        (str(path), 13),
    ]
    messages = [n.message for n in workflow.notes]
    assert "'retryCount' is ignored by the server: a task definition setting" in messages[0]
    assert "'responseTimeoutSeconds' is ignored by the server" in messages[1]
    assert "'tasks[0].callbackFromWorker' is ignored by the server: a workflow task has no field" in messages[2]
    assert "'tasks[0].taskDefinition.version' is ignored by the server: task definitions have no version" in messages[3]
    assert all(m.startswith("workflow 'wrap' version 1: ") for m in messages)
    definition = workflow.definition
    assert "retryCount" not in definition and "callbackFromWorker" not in definition["tasks"][0]
    assert "version" not in definition["tasks"][0]["taskDefinition"]
    assert definition["tasks"][0]["taskDefinition"]["responseTimeoutSeconds"] == 30


def test_a_file_the_server_keeps_whole_has_no_notes(tmp_path: Path) -> None:
    write(tmp_path, "wf.json", json.dumps(minimal(description="d", timeoutSeconds=5, timeoutPolicy="TIME_OUT_WF")))
    [workflow] = load(tmp_path)
    assert workflow.notes == ()


def test_inline_sub_workflow_name_and_version_come_from_the_inline_definition() -> None:
    task = {
        "name": "child",
        "taskReferenceName": "child",
        "type": "SUB_WORKFLOW",
        "subWorkflowParam": {"name": "other", "version": 3, "workflowDefinition": minimal("inline")},
    }
    normal = normalise_workflowdef(minimal(tasks=[task]))
    assert {k: normal["tasks"][0]["subWorkflowParam"][k] for k in ("name", "version")} == {
        "name": "inline",
        "version": 1,
    }


def test_event_handler_files_are_recognised_and_counted(tmp_path: Path) -> None:
    handler = {"name": "on_x", "event": "idflow:doc.changed", "actions": [], "active": True}
    write(tmp_path, "trigger/trigger.json", json.dumps(minimal("trigger")))
    path = write(tmp_path, "trigger/event_handlers.json", json.dumps([handler, {**handler, "name": "on_y"}]))
    one = write(tmp_path, "stage/event_handlers.yaml", "name: on_z\nevent: idflow:stage.completed\nactions: []\n")
    tree = read_workflow_tree(tmp_path, variables={})
    assert [w.name for w in tree.workflows] == ["trigger"]
    assert sorted((f.path, f.count) for f in tree.event_handler_files) == sorted([(path, 2), (one, 1)])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"name": "t", "retryCount": 3, "responseTimeoutSeconds": 30}, "looks like a task definition ('retryCount'"),
        ([{"name": "t", "timeoutSeconds": 60, "inputKeys": []}], "looks like a list of 1 task definitions"),
        ([minimal("a"), minimal("b")], "a JSON list of 2 workflow definitions; idflow reads one workflow per file"),
        ([1, 2, 3], "a JSON list (3 items), not one workflow definition"),
        ({"name": "s", "cronExpression": "0 0 * * * ?"}, "looks like a schedule"),
        ([{"event": "e", "actions": []}, {"name": "x"}], "list of event handlers, but item 1 is not one"),
        ("just text", "holds a string"),
    ],
)
def test_a_file_that_is_not_a_workflow_is_one_problem_saying_what_it_looks_like(
    tmp_path: Path, content: Any, expected: str
) -> None:
    path = write(tmp_path, "wrap/other.json", json.dumps(content, indent=2))
    [problem] = load_problems(tmp_path)
    assert problem.path == str(path) and problem.line == 1
    assert problem.message.startswith("not a workflow: ") and expected in problem.message


@pytest.mark.parametrize(
    ("name", "ref", "task", "fragment"),
    [
        ("bad\nname", "r", "t", "the workflow name may only contain"),
        ("wf<!--", "r", "t", "the workflow name may only contain"),
        ("wf", "ref`x`", "t", "'taskReferenceName' 'ref`x`' may only contain"),
        ("wf", "r", "t\x1b]0;x\x07", "'name' 't\\x1b]0;x\\x07' may only contain"),
        ("wf", " r", "t", "'taskReferenceName' ' r' may only contain"),
    ],
)
def test_unsafe_local_names_are_problems_at_their_line(tmp_path: Path, name: str, ref: str, task: str, fragment: str):
    definition = {**minimal(), "name": name, "tasks": [{"name": task, "taskReferenceName": ref, "type": "SIMPLE"}]}
    problems = validate([load_one(tmp_path, definition)], tasks={task})
    assert [p for p in problems if fragment in p.message], problems
    assert all(p.path.endswith("wf.json") and p.line >= 1 for p in problems)


def test_real_names_with_spaces_dots_and_expressions_are_fine(tmp_path: Path):
    definition = {**minimal(), "name": "Order Flow.v2-final", "tasks": [
        {"name": "pick_one", "taskReferenceName": "pick one", "type": "SIMPLE"},
        {"name": "${workflow.input.task}", "taskReferenceName": "late", "type": "SIMPLE"},
    ]}  # fmt: skip
    assert validate([load_one(tmp_path, definition)], tasks={"pick_one", "${workflow.input.task}"}) == []
