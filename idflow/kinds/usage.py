"""Where workflow definitions use task definitions, at any nesting depth.

Tasks nest in ``decisionCases`` and ``defaultCase`` (SWITCH, DECISION), ``forkTasks`` (FORK_JOIN),
``loopOver`` (DO_WHILE) and inline sub-workflows (``subWorkflowParam.workflowDefinition``). Every
nesting key is followed whatever the task's type says, so a use is never missed because a type is
misspelled. Input is whatever a file or a server gave us: anything malformed is skipped, never fatal.

What counts as a use of task definition X (Conductor looks a definition up by the task's name):

* every workflow task named X, whatever its type: a definition named like an HTTP (or other system)
  task gives that task its retries, timeouts and rate limits;
* a DYNAMIC task whose parameter named by ``dynamicTaskNameParam`` (default ``taskToExecute``) is
  the literal ``"X"``;
* a FORK_JOIN_DYNAMIC whose ``inputParameters.forkTaskName`` is ``"X"`` (the docs' pattern, with
  ``forkTaskType``, SIMPLE when absent, and ``forkTaskInputs``), or, without ``forkTaskName``, whose
  ``forkTaskType`` is the system type ``X``; or whose ``dynamicForkTasksParam`` (or the older
  ``dynamicForkJoinTasksParam``) names an input that is a literal list of tasks, one of them X.

Only ``${...}`` expressions are unknown until run time: those places are ``RuntimeChoice``s. A use
*needs* the definition (``needs_def``) when the server cannot run it without one: SIMPLE and untyped
tasks, literal DYNAMIC targets, dynamic fork targets of type SIMPLE; not when the task embeds its own
``taskDefinition``. System tasks without a definition are fine; with one, deleting it is still a use.

Locations read like ``tasks[1] (switch_ref) > decisionCases.big[0] (fork_ref) > forkTasks[0][1] (b)``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from idflow.kinds.key import Kind, ObjectKey
from idflow.kinds.normal import content_hash

#: Task types that pick their task names at run time.
#: What a definition's objects are: plain dicts (frozen ones are dicts too) or read-only views. Checked
#: by type, not against ``Mapping`` (an ABC check per value is a third of a scan's time).
_MAPS = (dict, MappingProxyType)
DYNAMIC_TYPES = frozenset({"DYNAMIC", "FORK_JOIN_DYNAMIC"})
INLINE_DEFINITION = "subWorkflowParam.workflowDefinition"
#: What the server reads a DYNAMIC task's name from when ``dynamicTaskNameParam`` is not set.
DEFAULT_DYNAMIC_NAME_PARAM = "taskToExecute"


@dataclass(frozen=True)
class TaskUse:
    """One place in a workflow that uses the task definition ``task_name``.

    ``ref`` is the reference name of the workflow task at ``location`` (for a dynamic target: the
    DYNAMIC / FORK_JOIN_DYNAMIC task's own). ``needs_def``: the task cannot run without the definition.
    """

    workflow: str
    version: int
    task_name: str
    ref: str
    location: str
    needs_def: bool = True

    used_version = None  # a task definition has no versions

    @property
    def used_name(self) -> str:
        return self.task_name

    @property
    def user(self) -> ObjectKey:
        return ObjectKey(Kind.WORKFLOW, self.workflow, self.version)

    @property
    def identity(self) -> tuple[Any, ...]:
        return self.workflow, self.version, self.location


@dataclass(frozen=True)
class RuntimeChoice:
    """A place whose task name is an expression, known only at run time."""

    workflow: str
    version: int
    location: str
    expression: str

    def __str__(self) -> str:
        return f"workflow {self.workflow} v{self.version} at {self.location} ({self.expression})"


def _segment(step: str, task: dict[str, Any]) -> str:
    ref = task.get("taskReferenceName")
    return f"{step} ({ref})" if isinstance(ref, str) and ref else step


# The keys under which a task nests tasks (child_task_lists, inline_definition): most tasks have none (or,
# in normal form, empty ones), and a walk that checks this first does not build a generator for each task.
NESTING_KEYS = frozenset({"decisionCases", "defaultCase", "forkTasks", "loopOver", "subWorkflowParam"})


def nests(task: Mapping[str, Any]) -> bool:
    get = task.get
    return bool(
        get("decisionCases") or get("defaultCase") or get("forkTasks") or get("loopOver") or get("subWorkflowParam")
    )


def child_task_lists(task: dict[str, Any]) -> Iterator[tuple[str, list[Any]]]:
    """The nested task lists of one task, with the step that names each list."""
    cases = task.get("decisionCases")
    if isinstance(cases, _MAPS):
        for case, tasks in cases.items():
            if isinstance(tasks, list | tuple):
                yield f"decisionCases.{case}", tasks
    default = task.get("defaultCase")
    if isinstance(default, list | tuple):
        yield "defaultCase", default
    forks = task.get("forkTasks")
    if isinstance(forks, list | tuple):
        for index, branch in enumerate(forks):
            if isinstance(branch, list | tuple):
                yield f"forkTasks[{index}]", branch
    loop = task.get("loopOver")
    if isinstance(loop, list | tuple):
        yield "loopOver", loop


def inline_definition(task: dict[str, Any]) -> Any:
    """The inline sub-workflow definition of a task (a dict, an expression string, or None)."""
    param = task.get("subWorkflowParam")
    return param.get("workflowDefinition") if isinstance(param, _MAPS) else None


def iter_tasks(workflow: Any, *, include_inline: bool = True) -> Iterator[tuple[dict[str, Any], str]]:
    """Every task (as a dict) of a workflow at any depth, with its location.

    With ``include_inline`` the tasks of inline sub-workflow definitions are included, their
    locations prefixed by the SUB_WORKFLOW task that holds them.
    """
    if isinstance(workflow, _MAPS):
        yield from _walk(workflow.get("tasks"), "tasks", "", include_inline)


def _walk(tasks: Any, step: str, prefix: str, include_inline: bool) -> Iterator[tuple[dict[str, Any], str]]:
    if not isinstance(tasks, list | tuple):
        return
    for index, task in enumerate(tasks):
        if not isinstance(task, _MAPS):
            continue
        location = prefix + _segment(f"{step}[{index}]", task)
        yield task, location
        if not nests(task):
            continue
        for child_step, child_tasks in child_task_lists(task):
            yield from _walk(child_tasks, child_step, location + " > ", include_inline)
        inline = inline_definition(task)
        if include_inline and isinstance(inline, _MAPS):
            yield from _walk(inline.get("tasks"), "tasks", f"{location} > {INLINE_DEFINITION} > ", include_inline)


def _type(task: Mapping[str, Any]) -> str | None:
    kind = task.get("type")
    return kind.upper() if isinstance(kind, str) and kind else None


def needs_task_def(task: Mapping[str, Any]) -> bool:
    """SIMPLE tasks (and tasks without a type, which the server makes SIMPLE) need a task def."""
    return _type(task) in (None, "SIMPLE")


def _is_expression(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def _literal_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and "${" not in value


def _embeds_definition(task: Mapping[str, Any]) -> bool:
    return isinstance(task.get("taskDefinition"), _MAPS)


def _identity(workflow: Any) -> tuple[str, int]:
    name = workflow.get("name")
    version = workflow.get("version")
    name = name if isinstance(name, str) else ""
    version = version if isinstance(version, int) and not isinstance(version, bool) else 0
    return name, version


def scan(workflow: Any) -> tuple[list[TaskUse], list[RuntimeChoice]]:
    """Every use of a task definition in the workflow (inline sub-workflows included), and every place
    whose task name is known only at run time. One walk."""
    if not isinstance(workflow, _MAPS):
        return [], []
    name, version = _identity(workflow)
    uses: list[TaskUse] = []
    choices: list[RuntimeChoice] = []

    def use(task_name: str, ref: Any, location: str, needs_def: bool) -> None:
        uses.append(TaskUse(name, version, task_name, ref if isinstance(ref, str) else "", location, needs_def))

    def choice(location: str, expression: Any) -> None:
        choices.append(RuntimeChoice(name, version, location, str(expression)))

    def visit(task: dict[str, Any], location: str, evaluated: bool) -> None:
        """One workflow task. ``evaluated``: it sits in a dynamic fork's input, where the server
        evaluates expressions, so a ``${...}`` name is a run-time choice, not a literal."""
        ref = task.get("taskReferenceName")
        task_name = task.get("name")
        if evaluated and _is_expression(task_name):
            choice(f"{location}.name", task_name)
        elif isinstance(task_name, str) and task_name:
            use(task_name, ref, location, needs_task_def(task) and not _embeds_definition(task))
        kind = _type(task)
        inputs = task.get("inputParameters")
        inputs = inputs if isinstance(inputs, _MAPS) else {}
        if kind == "DYNAMIC":
            param = task.get("dynamicTaskNameParam")
            param = param if isinstance(param, str) and param else DEFAULT_DYNAMIC_NAME_PARAM
            target, where = inputs.get(param), f"{location} > inputParameters.{param}"
            if _is_expression(target):
                choice(where, target)
            elif _literal_name(target):
                use(target, ref, where, not _embeds_definition(task))
        elif kind == "FORK_JOIN_DYNAMIC":
            fork_dynamic(task, inputs, location)
        if isinstance(inline_definition(task), str):
            choice(f"{location} > {INLINE_DEFINITION}", inline_definition(task))

    def fork_dynamic(task: dict[str, Any], inputs: Mapping[str, Any], location: str) -> None:
        ref = task.get("taskReferenceName")
        fork_inputs = inputs.get("forkTaskInputs")
        # The server tries the "same task in every fork" form first, when forkTaskInputs is a list
        # (a literal forkTaskName is counted even without it: when unsure, keep the definition).
        simple_form = isinstance(fork_inputs, list | tuple) or _is_expression(fork_inputs) or "forkTaskName" in inputs
        if simple_form and inputs.get("forkTaskWorkflow") is None:
            fork_name, fork_type = inputs.get("forkTaskName"), inputs.get("forkTaskType")
            where = f"{location} > inputParameters.forkTaskName"
            system_type = _literal_name(fork_type) and fork_type.upper() != "SIMPLE"
            if fork_name is None and (system_type or _is_expression(fork_type)):
                # Without a name, a system type names the forked tasks (an HTTP fork runs "HTTP" tasks).
                fork_name, where = fork_type, f"{location} > inputParameters.forkTaskType"
            if fork_name is None:  # what the server falls back to
                fork_name, where = ref, f"{location} > taskReferenceName"
            if _is_expression(fork_name):
                choice(where, fork_name)
            elif _literal_name(fork_name):
                simple_type = fork_type is None or (isinstance(fork_type, str) and fork_type.upper() == "SIMPLE")
                use(fork_name, ref, where, simple_type)
        if isinstance(fork_inputs, list | tuple):
            return  # the other forms are not read
        param = task.get("dynamicForkTasksParam")
        legacy = task.get("dynamicForkJoinTasksParam")
        if isinstance(param, str) and param:
            listed, where = inputs.get(param), f"{location} > inputParameters.{param}"
            if _is_expression(listed):
                choice(where, listed)
            elif isinstance(listed, list | tuple):
                for index, item in enumerate(listed):
                    if _is_expression(item):
                        choice(f"{where}[{index}]", item)
                    elif isinstance(item, _MAPS):
                        for forked, forked_location in _walk_listed(item, f"{where}[{index}]"):
                            visit(forked, forked_location, True)
        elif isinstance(legacy, str) and legacy:
            listed, where = inputs.get(legacy), f"{location} > inputParameters.{legacy}"
            entries = listed.get("dynamicTasks") if isinstance(listed, _MAPS) else None
            if _is_expression(listed) or _is_expression(entries):
                choice(where, listed if _is_expression(listed) else entries)
            elif isinstance(entries, list | tuple):
                for index, entry in enumerate(entries):
                    if not isinstance(entry, _MAPS):
                        continue
                    entry_where = f"{where}.dynamicTasks[{index}]"
                    target = entry.get("taskName")
                    if _is_expression(target):
                        choice(f"{entry_where}.taskName", target)
                    elif _literal_name(target):
                        use(target, ref, entry_where, needs_task_def(entry))

    for task, location in iter_tasks(workflow):
        visit(task, location, False)
    return uses, choices


def _walk_listed(task: dict[str, Any], step: str) -> Iterator[tuple[dict[str, Any], str]]:
    """A task listed in a dynamic fork's input (at ``step``), and the tasks nested in it."""
    location = _segment(step, task)
    yield task, location
    for child_step, child_tasks in child_task_lists(task):
        yield from _walk(child_tasks, child_step, location + " > ", True)
    inline = inline_definition(task)
    if isinstance(inline, _MAPS):
        yield from _walk(inline.get("tasks"), "tasks", f"{location} > {INLINE_DEFINITION} > ", True)


def task_uses(workflow: Any) -> list[TaskUse]:
    """Every use of a task definition in the workflow, inline sub-workflows included (see ``scan``)."""
    return scan(workflow)[0]


def dynamic_uses(workflow: Any) -> list[RuntimeChoice]:
    """Places whose task name (or inline sub-workflow) is an expression, known only at run time."""
    return scan(workflow)[1]


@dataclass(frozen=True)
class UsageIndex:
    """Which objects use which objects of one kind, computed once from a set of the users' definitions
    (the same user may come twice: the server's version and a local one). Everything that asks "who uses
    X" reads this: blockers, warnings, the stale check's fingerprints.

    A use is a ``TaskUse`` (a workflow using a task definition) or a ``WorkflowStart`` use (an event
    handler or schedule starting a workflow); each has ``user`` (an ``ObjectKey``), ``used_version``
    (None: any version, for uses of unversioned kinds or of a workflow's latest), ``location``, ``ref`` and
    ``identity`` (what the fingerprint hashes). ``by_name`` is keyed by the used object's name."""

    by_name: Mapping[str, tuple[Any, ...]]
    choices: tuple[RuntimeChoice, ...]

    @classmethod
    def of(cls, workflows: Iterable[Any]) -> UsageIndex:
        """Task uses among workflow definitions."""
        uses: list[TaskUse] = []
        choices: set[RuntimeChoice] = set()
        for definition in workflows:
            found, runtime = _scan_shared(definition)
            uses.extend(found)
            choices.update(runtime)
        return cls.of_uses(uses, choices)

    @classmethod
    def of_uses(cls, uses: Iterable[Any], choices: Iterable[RuntimeChoice] = ()) -> UsageIndex:
        found: dict[str, set[Any]] = defaultdict(set)
        for one in uses:
            found[one.used_name].add(one)
        return cls(
            {name: tuple(sorted(uses, key=_use_order)) for name, uses in found.items()},
            tuple(sorted(set(choices), key=lambda c: (c.workflow, c.version, c.location))),
        )

    @classmethod
    def merged(cls, indexes: Iterable[UsageIndex]) -> UsageIndex:
        """One index of the uses of several user kinds."""
        indexes = list(indexes)
        uses = [u for index in indexes for found in index.by_name.values() for u in found]
        return cls.of_uses(uses, [c for index in indexes for c in index.choices])

    def uses_of(self, used: Any) -> tuple[Any, ...]:
        """The uses of ``used``: a name, or an ``ObjectKey`` (for a versioned kind, the uses of that version
        and those of whichever version is the latest)."""
        name, version = (used.name, used.version) if isinstance(used, ObjectKey) else (used, None)
        found = self.by_name.get(name, ())
        if version is None:
            return found
        return tuple(u for u in found if u.used_version in (None, version))

    def users_of(self, used: Any) -> list[str]:
        """``workflow name vN`` / ``schedule name`` of each object that uses it, sorted."""
        return sorted({u.user.described for u in self.uses_of(used)})

    def fingerprint(self, used: Any) -> str:
        """Which objects use it, where: apply compares it to refuse deleting an object that became used."""
        return content_hash(sorted({u.identity for u in self.uses_of(used)}))


#: Within ``shared_scans()``: the scan of each definition object walked so far (by id, the object kept alive).
_scans: ContextVar[dict[int, tuple[Any, tuple[list[TaskUse], list[RuntimeChoice]]]] | None] = ContextVar(
    "idflow_usage_scans", default=None
)


@contextmanager
def shared_scans() -> Iterator[None]:
    """Inside, every ``UsageIndex.of`` walks a given definition object once: a plan's indexes (after
    apply, for blockers and warnings; the server's now, for fingerprints) share the server's workflows."""
    token = _scans.set({})
    try:
        yield
    finally:
        _scans.reset(token)


def _scan_shared(definition: Any) -> tuple[list[TaskUse], list[RuntimeChoice]]:
    memo = _scans.get()
    if memo is None:
        return scan(definition)
    found = memo.get(id(definition))
    if found is None or found[0] is not definition:
        found = memo[id(definition)] = (definition, scan(definition))
    return found[1]


def _use_order(use: Any) -> tuple[str, str, int, str, bool]:
    if type(use) is TaskUse:  # most uses: the same order without building the user's key for each
        return Kind.WORKFLOW.value, use.workflow, use.version or 0, use.location, use.needs_def
    user = use.user
    return user.kind.value, user.name, user.version or 0, use.location, getattr(use, "needs_def", True)


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
        if isinstance(inline := inline_definition(task), _MAPS)
    ]
