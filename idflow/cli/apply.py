"""``idflow apply``: execute exactly a saved plan, after confirmation."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from idflow.cli.common import confirm_plan, echo, emit_plan
from idflow.cli.context import AppContext, pass_app
from idflow.cli.plan import options_from, plan_options
from idflow.errors import ApplyFailed, ApplyInterrupted

if TYPE_CHECKING:
    from idflow.plan.model import Plan
    from idflow.reconcile import ApplyOutcome


@click.command()
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-y", "--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--parallelism", type=click.IntRange(1, 64), default=8, show_default=True, help="Updates sent at once.")
@click.option("--plan-now", is_flag=True, help="Plan, show, confirm and apply in one go (no saved plan).")
@click.option("--dry-run", is_flag=True, help="Say which requests would be sent, and send none.")
@click.option(
    "--allow-conflicts", is_flag=True, help="Overwrite conflicts (changed locally and on the server) without asking."
)
@plan_options
@pass_app
def apply(
    app: AppContext,
    plan_file: Path | None,
    auto_approve: bool,
    parallelism: int,
    plan_now: bool,
    dry_run: bool,
    allow_conflicts: bool,
    **shape: object,
) -> None:
    """Apply a saved plan (default: state/plan.json), refusing it if the server changed since."""
    from idflow.apply.applier import explain, forced_task_deletes, users_now
    from idflow.plan.file import read_plan
    from idflow.reconcile import check_plan_file, make_plan

    config = app.config
    if plan_now:
        if plan_file is not None:
            raise click.UsageError("give either a PLAN_FILE or --plan-now, not both")
        if config.protected:
            from idflow.reconcile import check_protected

            check_protected(config, None, None, env_from_flag=app.env_from_flag)
        the_plan, path = make_plan(config, app.remote, options_from(**shape)), None  # type: ignore[arg-type]
    else:
        if any(shape.values()):
            raise click.UsageError(
                "--target/--only/--force/--overwrite/--prune-workflows shape a new plan: "
                "use them with `idflow plan` or with --plan-now"
            )
        path = plan_file or config.state_dir / "plan.json"
        the_plan, applied = read_plan(path)
        check_plan_file(the_plan, applied, config, path, env_from_flag=app.env_from_flag)

    emit_plan(app, the_plan, "text")
    if not the_plan.actionable:
        echo("Nothing to apply.")
        return
    if dry_run:
        for line in explain(the_plan):
            echo(f"would send: {line}")
        return
    used_now: dict[str, list[str]] = {}
    forced = forced_task_deletes(the_plan)
    if forced and not auto_approve:
        used_now = users_now(app.remote, [c.name for c in forced])
    confirm_plan(the_plan, auto_approve, used_now=used_now, allow_conflicts=allow_conflicts)

    try:
        outcome = _run(app, the_plan, path, parallelism)
    except ApplyInterrupted as stopped:
        _summary(stopped.outcome)  # type: ignore[arg-type]
        raise
    _summary(outcome)
    if outcome.failed:
        raise ApplyFailed(f"{len(outcome.failed)} change(s) failed; run `idflow plan` to see what is left")


def _run(app: AppContext, the_plan: Plan, path: Path | None, parallelism: int) -> ApplyOutcome:
    from idflow.reconcile import apply_saved_plan

    config = app.config
    total = len(the_plan.actionable)
    if sys.stderr.isatty():
        with click.progressbar(length=total, label="Applying", file=sys.stderr) as bar:
            outcome = apply_saved_plan(
                config, app.remote, the_plan, path, parallelism=parallelism, on_result=lambda _r: bar.update(1)
            )
    else:
        from idflow.log import get_logger

        log = get_logger("idflow.apply.applier")
        outcome = apply_saved_plan(
            config,
            app.remote,
            the_plan,
            path,
            parallelism=parallelism,
            on_result=lambda r: log.info(
                r.status.value, change=r.change.key, action=r.change.action.value, detail=r.detail or None
            ),
        )
    return outcome


def _summary(outcome: ApplyOutcome) -> None:
    for result in outcome.results:
        if result.status.value != "applied":
            echo(f"  {result.status.value}: {result.change.kind.value} {result.change.label}: {result.detail}")
            for field_error in result.field_errors:
                echo(f"      {field_error}")
        elif result.detail.startswith("FORCED"):
            echo(f"  applied: {result.change.kind.value} {result.change.label}: {result.detail}")
    counts = {s: sum(1 for r in outcome.results if r.status.value == s) for s in ("applied", "failed", "skipped")}
    echo(
        f"Apply: {counts['applied']} applied, {counts['failed']} failed, {counts['skipped']} skipped. "
        f"Report: {outcome.report_path}"
    )
