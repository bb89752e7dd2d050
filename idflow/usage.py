"""Where workflow definitions use task definitions, at any nesting depth.

Tasks nest in ``decisionCases`` and ``defaultCase`` (SWITCH, DECISION), ``forkTasks`` (FORK_JOIN),
``loopOver`` (DO_WHILE) and inline sub-workflows (``subWorkflowParam.workflowDefinition``). Every
nesting key is followed whatever the task's type says, so a use is never missed because a type is
misspelled. Input is whatever a file or a server gave us: anything malformed is skipped, never fatal.

Locations read like ``tasks[1] (switch_ref) > decisionCases.big[0] (fork_ref) > forkTasks[0][1] (b)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: Task types that pick their task names at run time.
DYNAMIC_TYPES = frozenset({"DYNAMIC", "FORK_JOIN_DYNAMIC"})
INLINE_DEFINITION = "subWorkflowParam.workflowDefinition"


@dataclass(frozen=True)
class TaskUse:
    """One task of a workflow that needs a registered task definition."""

    workflow: str
    version: int
    task_name: str
    ref: str
    location: str


def _segment(step: str, task: dict[str, Any]) -> str:
    ref = task.get("taskReferenceName")
    return f"{step} ({ref})" if isinstance(ref, str) and ref else step


def child_task_lists(task: dict[str, Any]) -> Iterator[tuple[str, list[Any]]]:
    """The nested task lists of one task, with the step that names each list."""
    cases = task.get("decisionCases")
    if isinstance(cases, dict):
        for case, tasks in cases.items():
            if isinstance(tasks, list):
                yield f"decisionCases.{case}", tasks
    default = task.get("defaultCase")
    if isinstance(default, list):
        yield "defaultCase", default
    forks = task.get("forkTasks")
    if isinstance(forks, list):
        for index, branch in enumerate(forks):
            if isinstance(branch, list):
                yield f"forkTasks[{index}]", branch
    loop = task.get("loopOver")
    if isinstance(loop, list):
        yield "loopOver", loop


def inline_definition(task: dict[str, Any]) -> Any:
    """The inline sub-workflow definition of a task (a dict, an expression string, or None)."""
    param = task.get("subWorkflowParam")
    return param.get("workflowDefinition") if isinstance(param, dict) else None


def iter_tasks(workflow: Any, *, include_inline: bool = True) -> Iterator[tuple[dict[str, Any], str]]:
    """Every task (as a dict) of a workflow at any depth, with its location.

    With ``include_inline`` the tasks of inline sub-workflow definitions are included, their
    locations prefixed by the SUB_WORKFLOW task that holds them.
    """
    if isinstance(workflow, dict):
        yield from _walk(workflow.get("tasks"), "tasks", "", include_inline)


def _walk(tasks: Any, step: str, prefix: str, include_inline: bool) -> Iterator[tuple[dict[str, Any], str]]:
    if not isinstance(tasks, list):
        return
    for index, task in enumerate(tasks):
        if not isinstance(task, dict):
            continue
        location = prefix + _segment(f"{step}[{index}]", task)
        yield task, location
        for child_step, child_tasks in child_task_lists(task):
            yield from _walk(child_tasks, child_step, location + " > ", include_inline)
        inline = inline_definition(task)
        if include_inline and isinstance(inline, dict):
            yield from _walk(
                inline.get("tasks"), "tasks", f"{location} > {INLINE_DEFINITION} > ", include_inline
            )


def _type(task: dict[str, Any]) -> str | None:
    kind = task.get("type")
    return kind.upper() if isinstance(kind, str) and kind else None


def needs_task_def(task: dict[str, Any]) -> bool:
    """SIMPLE tasks (and tasks without a type, which the server makes SIMPLE) need a task def."""
    return _type(task) in (None, "SIMPLE")


def task_uses(workflow: Any) -> list[TaskUse]:
    """Every task of the workflow, inline sub-workflows included, that needs a task definition."""
    if not isinstance(workflow, dict):
        return []
    name = workflow.get("name")
    version = workflow.get("version")
    name = name if isinstance(name, str) else ""
    version = version if isinstance(version, int) and not isinstance(version, bool) else 0
    uses = []
    for task, location in iter_tasks(workflow):
        task_name = task.get("name")
        if not needs_task_def(task) or not isinstance(task_name, str) or not task_name:
            continue
        ref = task.get("taskReferenceName")
        uses.append(TaskUse(name, version, task_name, ref if isinstance(ref, str) else "", location))
    return uses


def dynamic_uses(workflow: Any) -> list[str]:
    """Locations of tasks whose task names cannot be known before run time.

    DYNAMIC and FORK_JOIN_DYNAMIC tasks, and SUB_WORKFLOW tasks whose inline definition is an
    expression rather than a definition.
    """
    found = []
    for task, location in iter_tasks(workflow):
        if _type(task) in DYNAMIC_TYPES:
            found.append(location)
        elif isinstance(inline_definition(task), str):
            found.append(f"{location} > {INLINE_DEFINITION}")
    return found


def all_task_refs(workflow: Any) -> list[tuple[str, str]]:
    """``(taskReferenceName, location)`` of every task at any depth, for uniqueness checks.

    Inline sub-workflows are separate workflows with their own reference namespace (the server
    checks uniqueness the same way), so their tasks are not included; call this on each inline
    definition to check it.
    """
    refs = []
    for task, location in iter_tasks(workflow, include_inline=False):
        ref = task.get("taskReferenceName")
        if isinstance(ref, str) and ref:
            refs.append((ref, location))
    return refs


def inline_workflows(workflow: Any) -> list[tuple[dict[str, Any], str]]:
    """Inline sub-workflow definitions at any depth, with the location of the task holding each."""
    return [
        (inline, f"{location} > {INLINE_DEFINITION}")
        for task, location in iter_tasks(workflow)
        if isinstance(inline := inline_definition(task), dict)
    ]
