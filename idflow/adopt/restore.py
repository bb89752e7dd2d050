"""Restore and revert as plans: the desired state comes from an export or an apply report instead of the
local files, and everything after that is the ordinary plan (blockers, ownership, stale check, apply)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from idflow.plan.model import Plan, PlanOptions

if TYPE_CHECKING:
    from idflow.config import Config
    from idflow.server.client import Remote


def restore_plan(config: Config, remote: Remote, folder: Path, options: PlanOptions) -> Plan:
    """The server planned back to an export (``idflow plan --from DIR``)."""
    from idflow.adopt.export import desired_from_export
    from idflow.reconcile import make_plan

    desired, _notes = desired_from_export(config, folder)
    return make_plan(config, remote, options, desired=desired)


def revert_plan(config: Config, remote: Remote, report: Path, options: PlanOptions) -> Plan:
    """What undoes one apply (``idflow plan --revert REPORT``); the objects it cannot put back are warnings."""
    from idflow.adopt.revert import plan_revert
    from idflow.plan.inputs import read_actual
    from idflow.reconcile import make_plan

    actual = read_actual(remote)
    revert = plan_revert(config, report, actual)
    targets = tuple(t for t in revert.targets if not options.targets or t in options.targets)
    if not targets:
        from idflow.errors import IdflowError

        raise IdflowError(f"--target: none of {', '.join(options.targets)} was changed by {report}")
    shaped = replace(options, targets=targets, prune_workflows=True)
    plan = make_plan(config, remote, shaped, desired=revert.desired, actual=actual)
    note = f"revert of {config.relative(report)}: {revert.count} object(s) put back, {len(revert.refused)} refused"
    return replace(plan, warnings=(*plan.warnings, *revert.refused), notes=(*plan.notes, note))
