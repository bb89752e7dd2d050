"""The checks of the local files, shared by `idflow plan` (which then also knows the server) and
`idflow validate` (which never asks one, so it can run as a pre-commit hook).

Nothing here imports the Conductor SDK or opens a connection: validate reads config, task files, workflow
files (templates rendered) and stage files with the same readers plan uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idflow.errors import DefinitionError, Problem, StageError

if TYPE_CHECKING:
    from idflow.config import Config
    from idflow.plan.inputs import DesiredState


def workflow_problems(
    desired: DesiredState,
    known_tasks: set[str] | None,
    known_workflows: set[Any] | None,
    *,
    root: Path,
) -> list[Problem]:
    """The workflow checks of plan; ``None`` for the known objects means no server was asked, so references
    to task definitions and sub-workflows are left to plan. Sources are relative to the project ``root``
    (the files are read again there, to find the line of each problem): it has no default, since the
    working directory is not the project's when idflow runs with ``--config`` from elsewhere."""
    if not desired.manages_workflows or not desired.workflows:
        return []
    from idflow.repo.workflow_files import LocalWorkflow, validate_workflows

    workflows = [
        LocalWorkflow(
            name, version, obj.definition, root / obj.source.rsplit(":", 1)[0], int(obj.source.rsplit(":", 1)[1])
        )
        for (name, version), obj in desired.workflows.items()
    ]
    return validate_workflows(workflows, known_task_names=known_tasks, known_workflows=known_workflows)


def validate_desired_workflows(
    desired: DesiredState,
    known_tasks: set[str] | None,
    known_workflows: set[Any] | None,
    *,
    root: Path = Path(),
) -> None:
    """``workflow_problems``, raised as one DefinitionError (`idflow validate`; plan carries them instead)."""
    problems = workflow_problems(desired, known_tasks, known_workflows, root=root)
    if problems:
        raise DefinitionError(problems, what="workflow")


@dataclass(frozen=True)
class LocalCheck:
    """What `idflow validate` read and found fine."""

    tasks: int
    workflows: int
    stages: int

    def summary(self) -> str:
        return f"{_count(self.tasks, 'task')}, {_count(self.workflows, 'workflow')}, {_count(self.stages, 'stage')}"


def validate_local(config: Config) -> LocalCheck:
    """Every check of the local files that needs no server. Raises DefinitionError with every problem."""
    from idflow.plan.inputs import load_desired

    problems: list[Problem] = []
    tasks = workflows = 0
    try:
        desired = load_desired(config)
    except DefinitionError as exc:
        problems.extend(exc.problems)
    else:
        tasks, workflows = len(desired.tasks), len(desired.workflows)
        try:
            validate_desired_workflows(desired, None, None, root=config.root)
        except DefinitionError as exc:
            problems.extend(exc.problems)
    stages, stage_problems = _check_stages(config.stages_dir)
    problems.extend(stage_problems)
    if problems:
        raise DefinitionError(problems, what="file")
    return LocalCheck(tasks, workflows, stages)


def _check_stages(stages_dir: Path) -> tuple[int, list[Problem]]:
    """Read every stage file as `idflow stage run` does (templates compiled); one problem per bad file."""
    try:
        os.stat(stages_dir)
    except FileNotFoundError:  # no stages (as stage_files says), and no import of their reader and jinja2
        return 0, []
    from idflow.run.stages import read_stage, stage_files

    try:
        files = stage_files(stages_dir)
    except StageError as exc:
        return 0, [Problem.from_message(str(exc))]
    problems = []
    for path in files.values():
        try:
            read_stage(path)
        except StageError as exc:
            problems.append(Problem.from_message(str(exc)))
    return len(files), problems


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
