"""``idflow tasks list|upload|purge|deps``: views over plan/apply, no second path to the server."""

from __future__ import annotations

import json

import click

from idflow.cli.common import confirm_plan, echo, emit_plan, interactive, list_scope_options
from idflow.cli.context import AppContext, pass_app
from idflow.errors import ConfirmationRefused, IdflowError
from idflow.plan.model import Action, Kind, Plan, PlanOptions


@click.group()
def tasks() -> None:
    """List, upload and purge task definitions; show or install their requirements."""


@tasks.command("list")
@list_scope_options("Only local tasks (no server needed).", "Only tasks registered on the server.")
@pass_app
def list_tasks(app: AppContext, scope: str | None, fmt: str) -> None:
    """All tasks, local and remote, with their status."""
    if scope == "local":
        _list_local(app, fmt)
    elif scope == "remote":
        _list_remote(app, fmt)
    else:
        list_from_plan(app, fmt, grouped=scope == "sync", kind=Kind.TASK)


def _list_local(app: AppContext, fmt: str) -> None:
    from idflow.plan.inputs import read_cache_dir
    from idflow.repo.task_files import discover_tasks

    tasks_dir = app.config.require_tasks_dir()
    found = discover_tasks(
        tasks_dir,
        owner_email=app.config.owner_email,
        import_root=app.config.root,
        cache_dir=read_cache_dir(app.config),
    )
    if fmt == "json":
        echo(
            json.dumps(
                [
                    {
                        "name": t.name,
                        "source": f"{app.config.relative(t.path)}:{t.line}",
                        "module": t.module,
                        "function": t.function,
                        "requirements": list(t.requirements),
                        "definition": t.definition,
                    }
                    for t in found
                ],
                indent=2,
            ),
            lines=True,
        )
        return
    if not found:
        echo(f"No tasks under {app.config.tasks_dir}.")
        return
    width = max(len(t.name) for t in found)
    for task in found:
        d = task.definition
        settings = (
            f"retries={d['retryCount']} timeout={d['timeoutSeconds']}s "
            f"response_timeout={d['responseTimeoutSeconds']}s policy={d['timeoutPolicy']}"
        )
        echo(f"{task.name:<{width}}  {app.config.relative(task.path)}:{task.line}  {settings}")
    echo(f"{len(found)} local task(s).")


def _list_remote(app: AppContext, fmt: str) -> None:
    from idflow.plan.inputs import read_actual

    actual = read_actual(app.remote, ())
    names = sorted(actual.tasks)
    if fmt == "json":
        echo(json.dumps([dict(actual.tasks[n].definition) for n in names], indent=2, default=str), lines=True)
        return
    for name in names:
        d = actual.tasks[name].definition
        owner = d.get("ownerEmail") or "-"
        echo(f"{name}  owner={owner} retries={d['retryCount']} timeout={d['timeoutSeconds']}s")
    echo(f"{len(names)} task(s) on {app.config.server_url}.")


def list_from_plan(app: AppContext, fmt: str, grouped: bool, kind: Kind) -> None:
    from idflow.kinds.registry import spec
    from idflow.plan.views import sync_groups
    from idflow.reconcile import make_plan

    plan = make_plan(app.config, app.remote, PlanOptions())
    names = spec(kind).list_groups
    groups = sync_groups(plan, kind)
    if not grouped:
        rows = {r.name: r for r in groups[names[0]] + groups[names[1]]}
        if fmt == "json":
            echo(json.dumps([r.to_dict() for r in sorted(rows.values(), key=lambda r: r.name)], indent=2), lines=True)
            return
        for row in sorted(rows.values(), key=lambda r: r.name):
            echo(f"{row.name}  {row.status}")
        echo(f"{len(rows)} {kind.value}(s).")
        return
    if fmt == "json":
        echo(json.dumps({g: [r.to_dict() for r in rows] for g, rows in groups.items()}, indent=2), lines=True)
        return
    for group, rows in groups.items():
        echo(f"{group} ({len(rows)})")
        for row in rows:
            echo(f"  {row.name}  {row.status}")
            if app.verbose or group == "Remote Only":
                for detail in row.details:
                    echo(f"      {detail}")
        echo("")


@tasks.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_tasks", is_flag=True, help="Every local task.")
@click.option("--force", is_flag=True, help="Upload even unchanged tasks.")
@click.option("-y", "--yes", "auto_approve", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def upload(app: AppContext, names: tuple[str, ...], all_tasks: bool, force: bool, auto_approve: bool) -> None:
    """Upload new or changed local tasks (NAME... or --all); unchanged ones are skipped."""
    from idflow.reconcile import make_plan

    if bool(names) == all_tasks:
        raise click.UsageError("name the tasks to upload, or pass --all (not both)")
    _refuse_protected(app)
    from idflow.plan.inputs import load_desired_partial

    options = PlanOptions(
        targets=tuple(names), only=(Action.CREATE, Action.UPDATE), overwrite=force, kinds=(Kind.TASK,)
    )
    desired, problems = load_desired_partial(app.config)
    plan = make_plan(app.config, app.remote, options, desired=desired)
    local_names = {c.name for c in plan.changes if c.after is not None}
    missing = [n for n in names if n not in local_names]
    if problems:
        echo("Invalid task definitions (nothing is uploaded for them):", err=True)
        for problem in problems:
            echo(f"  {problem}", err=True)
    if missing:
        raise IdflowError(f"no valid local task named {', '.join(missing)} under {app.config.tasks_dir}")
    skipped = [c.name for c in plan.changes if c.action is Action.NOOP]
    if skipped:
        echo(f"Unchanged, skipped: {', '.join(skipped)}")
    _confirm_and_apply(app, plan, auto_approve)
    if problems:
        raise IdflowError(f"{len(problems)} problem(s) in local task files; those tasks were not uploaded")


def _refuse_protected(app: AppContext) -> None:
    """A protected environment takes only reviewed plan files: refused before the server is read."""
    if app.config.protected:
        from idflow.reconcile import check_protected

        check_protected(app.config, None, None, env_from_flag=True)


def _confirm_and_apply(app: AppContext, plan: Plan, auto_approve: bool, question: str = "Apply these changes?") -> None:
    """Show the plan (field diffs included), confirm, and apply it: the same path as `idflow apply`."""
    from idflow.reconcile import apply_saved_plan

    if not plan.actionable:
        echo("Nothing to do.")
        return
    emit_plan(app, plan, "text")
    confirm_plan(plan, auto_approve, question)
    outcome = apply_saved_plan(app.config, app.remote, plan, None)
    for result in outcome.results:
        line = f"  {result.status.value}: {result.change.kind.value} {result.change.label}"
        echo(line + (f": {result.detail}" if result.detail else ""))
    if outcome.failed:
        raise IdflowError(f"{len(outcome.failed)} change(s) failed; report: {outcome.report_path}")


@tasks.command()
@click.argument("names", nargs=-1)
@click.option("--orphaned", is_flag=True, help="Every managed task on the server that has no local file.")
@click.option("--force", is_flag=True, help="Delete even tasks that workflows use, and tasks that exist locally.")
@click.option("-y", "--yes", "auto_approve", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def purge(app: AppContext, names: tuple[str, ...], orphaned: bool, force: bool, auto_approve: bool) -> None:
    """Delete task definitions from the server (NAME... or --orphaned)."""
    from idflow.reconcile import purge_plan

    if bool(names) == orphaned:
        raise click.UsageError("name the tasks to purge, or pass --orphaned (not both)")
    _refuse_protected(app)
    plan = purge_plan(app.config, app.remote, names, force=force)
    held = [c for c in plan.changes if c.blocked]
    if held and force:
        click.secho(
            f"WARNING: --force deletes {len(held)} task(s) that workflows still use; "
            "those workflows will fail when they reach them.",
            fg="red",
            bold=True,
            err=True,
        )
    elif held:
        echo(f"Held back, in use ({len(held)}):")
        for change in held:
            for blocker in change.blockers:
                echo(f"  {change.name}: {blocker}")
    if not plan.actionable:
        echo("Nothing to delete.")
        return
    if not auto_approve and not interactive():
        deletes = [c.name for c in plan.actionable]
        echo(f"Would delete ({len(deletes)}):")
        for name in deletes:
            echo(f"  {name}")
        raise ConfirmationRefused("refusing to delete without confirmation: no terminal to ask; pass -y")
    _confirm_and_apply(app, plan, auto_approve, question="Delete these task definitions?")
