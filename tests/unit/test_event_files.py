"""Reading and checking local event handlers (idflow/events/ and the original's event_handlers.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from idflow.errors import DefinitionError
from idflow.kinds.event_normal import normalise_event_handler
from idflow.kinds.workflow_starts import WorkflowStart
from idflow.repo.event_files import check_event_starts, read_event_handlers
from idflow.repo.workflow_files import read_workflow_tree

# Shaped like the original idflow's idflow/workflows/<name>/event_handlers.json: a JSON list, each handler
# with a description (which conductor-oss drops), a javascript condition and one action.
ORIGINAL_LIST = [
    {
        "name": "on_review_done__publish",
        "description": "Starts publishing once a review workflow is done",
        "event": "idflow:review.done",
        "evaluatorType": "javascript",
        "condition": "function ok(){ return !!($.docId && $.approved); } ok();",
        "actions": [
            {
                "action": "start_workflow",
                "start_workflow": {"name": "publish_doc", "version": 3, "input": {"docId": "${docId}"}},
            }
        ],
        "active": True,
    },
    {
        "name": "on_comment__wake_waiter",
        "description": "Completes the waiting task of a document",
        "event": "idflow:comment.added",
        "evaluatorType": "javascript",
        "condition": "function ok(){ return !!($.workflowId && $.taskRefName); } ok();",
        "actions": [
            {
                "action": "complete_task",
                "complete_task": {
                    "workflowId": "${workflowId}",
                    "taskRefName": "${taskRefName}",
                    "output": {"comment": "${comment}"},
                },
            }
        ],
        "active": True,
    },
]

WORKFLOW = {"name": "publish_doc", "version": 3, "tasks": [{"name": "publish", "taskReferenceName": "publish"}]}


def original_layout(root: Path) -> Path:
    folder = root / "idflow" / "workflows" / "review"
    folder.mkdir(parents=True)
    (folder / "publish_doc.json").write_text(json.dumps(WORKFLOW, indent=2))
    (folder / "event_handlers.json").write_text(json.dumps(ORIGINAL_LIST, indent=2))
    return root / "idflow" / "workflows"


def read(root: Path, lists: list[Path] = (), variables: dict | None = None):
    return read_event_handlers(
        root / "idflow" / "events",
        handler_lists=lists,
        variables=variables or {},
        workflows_dir=root / "idflow" / "workflows",
        root=root,
    )


def problems_of(root: Path, **kwargs) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        read(root, **kwargs)
    return [str(p) for p in caught.value.problems]


def write_event(root: Path, name: str, text: str) -> Path:
    path = root / "idflow" / "events" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_original_layout_is_read_through_the_workflow_tree(tmp_path: Path) -> None:
    workflows = original_layout(tmp_path)
    tree = read_workflow_tree(workflows, variables={}, root=tmp_path)
    assert [w.name for w in tree.workflows] == ["publish_doc"]
    lists = [f.path for f in tree.event_handler_files]
    handlers = read(tmp_path, lists)
    assert [h.name for h in handlers] == ["on_comment__wake_waiter", "on_review_done__publish"]
    publish = handlers[1]
    assert publish.definition["actions"][0]["start_workflow"] == {
        "name": "publish_doc", "version": 3, "input": {"docId": "${docId}"},
    }  # fmt: skip
    assert publish.definition["actions"][0]["expandInlineJSON"] is False  # the server's default, written out
    assert "description" not in publish.definition
    assert publish.starts == [WorkflowStart("publish_doc", 3, "actions[0].start_workflow")]
    # the description is a note at its own line, and so is the project's own queue type
    lines = (workflows / "review" / "event_handlers.json").read_text().splitlines()
    notes = {n.line: n.message for n in publish.notes}
    description_line = next(i for i, text in enumerate(lines, 1) if "Starts publishing" in text)
    assert "'description' is ignored by the server" in notes[description_line]
    event_line = next(i for i, text in enumerate(lines, 1) if "idflow:review.done" in text)
    assert "no event queue of type 'idflow'" in notes[event_line]


def test_a_handler_file_under_events_with_a_template(tmp_path: Path) -> None:
    write_event(
        tmp_path,
        "notify.yaml.j2",
        "name: notify_{{ team }}\n"
        "event: conductor:docflow_ingest:report\n"
        "active: true\n"
        "actions:\n"
        "  - action: start_workflow\n"
        "    start_workflow:\n"
        "      name: notify\n"
        "      version: {{ version }}\n",
    )
    (handler,) = read(tmp_path, variables={"team": "ops", "version": 2})
    assert handler.name == "notify_ops"
    assert handler.notes == ()
    assert handler.starts == [WorkflowStart("notify", 2, "actions[0].start_workflow")]
    assert handler.start_lines["actions[0].start_workflow"] == 6


def test_every_problem_names_its_file_and_line(tmp_path: Path) -> None:
    path = write_event(
        tmp_path,
        "bad.yaml",
        "name: bad handler/x\n"  # 1
        "event: no-colon-here\n"  # 2
        "condition: 5\n"  # 3
        "evaluatorType: lua\n"  # 4
        "actions:\n"  # 5
        "  - action: start_workflow\n"  # 6
        "    start_workflow: {version: 0}\n"  # 7
        "  - action: complete_task\n"  # 8
        "    complete_task: {workflowId: w}\n"  # 9
        "    fail_task: {taskId: t}\n"  # 10
        "  - action: explode\n"  # 11
        "  - action: terminate_workflow\n"  # 12
        "    terminate_workflow: {workflowId: w}\n",  # 13
    )
    found = problems_of(tmp_path)
    expected = {
        1: "the name may only contain",
        2: "'event' 'no-colon-here' must be 'type:queue'",
        3: "'condition' must be a string, not the number 5",
        4: "'evaluatorType' must be one of javascript, graaljs, python, value-param",
        7: "actions[0].start_workflow needs 'name'",
        9: "actions[1].complete_task needs 'taskId' or 'workflowId' and 'taskRefName'",
        10: "actions[1] is a complete_task action: its 'fail_task' is never read",
        11: "actions[2] has 'action' 'explode': it must be one of start_workflow",
        12: "conductor-oss stores a terminate_workflow action but its event processor cannot run it",
    }
    for line, text in expected.items():
        assert any(p.startswith(f"{path}:{line}:") and text in p for p in found), (line, text, found)
    assert any(f"{path}:7:" in p and "start_workflow.version must be 1 or more, not 0" in p for p in found)


def test_missing_required_fields(tmp_path: Path) -> None:
    write_event(tmp_path, "a.json", json.dumps({"name": "a"}))
    write_event(tmp_path, "b.json", json.dumps({"event": "sqs:q", "actions": []}))
    found = problems_of(tmp_path)
    assert any("a.json:1:" in p and "needs an 'event'" in p for p in found), found
    assert any("a.json:1:" in p and "needs 'actions'" in p for p in found), found
    assert any("b.json:1:" in p and "needs a 'name'" in p for p in found), found


def test_a_list_under_events_and_a_duplicate_name_are_problems(tmp_path: Path) -> None:
    write_event(tmp_path, "list.json", json.dumps(ORIGINAL_LIST))
    found = problems_of(tmp_path)
    assert len(found) == 1 and "holds one event handler" in found[0] and "event_handlers.json" in found[0]

    (tmp_path / "idflow" / "events" / "list.json").unlink()
    workflows = original_layout(tmp_path)
    write_event(tmp_path, "dup.json", json.dumps({**ORIGINAL_LIST[0], "description": None}))
    found = problems_of(tmp_path, lists=[workflows / "review" / "event_handlers.json"])
    assert len(found) == 1 and "'on_review_done__publish' is defined twice" in found[0], found


def test_unset_active_is_a_note_and_a_template_error_is_a_problem(tmp_path: Path) -> None:
    write_event(tmp_path, "quiet.json", json.dumps({"name": "q", "event": "sqs:q", "actions": [
        {"action": "fail_task", "fail_task": {"taskId": "${taskId}"}}]}))  # fmt: skip
    (handler,) = read(tmp_path)
    assert handler.definition["active"] is False
    assert [n.message for n in handler.notes] == [
        "event handler 'q': 'active' is not set: the server stores the handler inactive (active: false)"
    ]
    write_event(tmp_path, "broken.yaml.j2", "name: {{ missing }}\n")
    found = problems_of(tmp_path)
    assert any("broken.yaml.j2:1:" in p and "undefined template variable" in p for p in found), found


def test_the_normal_form_follows_the_server() -> None:
    written = {
        "name": "h",
        "event": "sqs:q",
        "condition": "",
        "actions": [{"action": "start_workflow", "start_workflow": {"name": "w", "taskToDomain": {}}}],
    }
    # what conductor-oss 3.32.3 answers for it (read from the real server)
    answered = {
        "name": "h",
        "event": "sqs:q",
        "condition": "",
        "actions": [
            {
                "action": "start_workflow",
                "start_workflow": {"name": "w", "input": {}, "taskToDomain": {}},
                "expandInlineJSON": False,
            },
        ],
        "active": False,
    }
    assert normalise_event_handler(written) == normalise_event_handler(answered)
    assert normalise_event_handler(answered)["actions"][0]["start_workflow"] == {"name": "w", "input": {}}
    assert normalise_event_handler({**answered, "active": True}) != normalise_event_handler(answered)


def test_starts_of_workflows_defined_nowhere(tmp_path: Path) -> None:
    workflows = original_layout(tmp_path)
    handlers = read(tmp_path, [workflows / "review" / "event_handlers.json"])
    assert check_event_starts(handlers, {("publish_doc", 3)}) == []
    (problem,) = check_event_starts(handlers, {("publish_doc", 1), ("publish_doc", 2)})
    lines = (workflows / "review" / "event_handlers.json").read_text().splitlines()
    assert problem.line == next(i for i, t in enumerate(lines, 1) if '"start_workflow": {' in t)
    assert "starts workflow 'publish_doc' version 3, which is defined neither locally nor on the server" in (
        problem.message
    )
    assert "(there are versions 1, 2)" in problem.message
