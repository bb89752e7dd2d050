"""``WorkflowManager``: the programmatic entry point (load desired state, plan, apply) for scripts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from idflow.config import Config, load_config
from idflow.core.operations import ApplyOutcome, apply_saved_plan, make_plan
from idflow.plan import Action, Plan, PlanOptions
from idflow.remote import Remote
from idflow.state import DesiredState, load_desired


class WorkflowManager:
    """Plan and apply a project's tasks and workflows from Python.

    >>> manager = WorkflowManager(workflows_dir="idflow/workflows", tasks_dir="idflow/tasks")
    >>> plan = manager.plan()
    >>> manager.apply(plan)
    """

    def __init__(
        self,
        workflows_dir: str | Path | None = None,
        tasks_dir: str | Path | None = None,
        *,
        config: Config | None = None,
        remote: Remote | None = None,
    ):
        base = config or load_config()
        overrides = {}
        if workflows_dir is not None:
            overrides["workflows_dir"] = (base.root / workflows_dir).resolve()
        if tasks_dir is not None:
            overrides["tasks_dir"] = (base.root / tasks_dir).resolve()
        self.config = replace(base, **overrides)
        self._remote = remote

    @property
    def remote(self) -> Remote:
        if self._remote is None:
            from idflow.remote import ConductorRemote

            self._remote = ConductorRemote(self.config)
        return self._remote

    def load_desired(self) -> DesiredState:
        """The local tasks and workflows, read without running any task code."""
        return load_desired(self.config)

    def plan(
        self,
        *,
        targets: tuple[str, ...] = (),
        only: tuple[str, ...] = (),
        force: bool = False,
        overwrite: bool = False,
        prune_workflows: bool = False,
    ) -> Plan:
        options = PlanOptions(tuple(targets), tuple(Action(a) for a in only), force, overwrite, prune_workflows)
        return make_plan(self.config, self.remote, options)

    def apply(self, plan: Plan, *, parallelism: int = 8) -> ApplyOutcome:
        """Apply a plan made by :meth:`plan` (refused if the server changed since)."""
        return apply_saved_plan(self.config, self.remote, plan, None, parallelism=parallelism)
