"""``idflow plan`` and ``idflow show``."""

from __future__ import annotations

from pathlib import Path

import click

from idflow.cli.common import emit_plan, format_option
from idflow.cli.context import AppContext, env_option, pass_app
from idflow.errors import DefinitionError, IdflowError
from idflow.plan.model import Action, Plan, PlanOptions

EXIT_CHANGES = 2


def plan_options(func):  # type: ignore[no-untyped-def]
    """The options that shape a plan, shared by `plan` and `apply --plan-now`."""
    options = [
        click.option(
            "--target", "targets", multiple=True, metavar="NAME", help="Only this task/workflow (repeatable)."
        ),
        click.option(
            "--only",
            "only",
            multiple=True,
            type=click.Choice(["create", "update", "delete"]),
            help="Only these actions (repeatable).",
        ),
        click.option("--force", is_flag=True, help="Make deletes of tasks that workflows use applicable."),
        click.option("--overwrite", is_flag=True, help="Plan an update even for definitions already equal."),
        click.option(
            "--prune-workflows", is_flag=True, help="Plan deletes for server workflow versions that have no local file."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def options_from(
    targets: tuple[str, ...], only: tuple[str, ...], force: bool, overwrite: bool, prune_workflows: bool
) -> PlanOptions:
    return PlanOptions(
        targets=tuple(targets),
        only=tuple(Action(a) for a in only),
        force=force,
        overwrite=overwrite,
        prune_workflows=prune_workflows,
    )


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "github"]),
    default="text",
    show_default=True,
    help="Output format. github: the text plan, and problems and warnings as GitHub Actions annotations.",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Plan file to write (default: state/plan.json).",
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when there are no changes, 2 when there are.")
@click.option(
    "--drift",
    is_flag=True,
    help="Report only what changed on the server since the last apply (drift, conflicts); save no plan. "
    "With --detailed-exitcode: 2 when there is any.",
)
@click.option(
    "--max-chars",
    type=click.IntRange(min=1000),
    default=65_000,
    show_default=True,
    help="Markdown: split the output into parts of at most this many characters.",
)
@click.option(
    "--parts-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Markdown: also write each part to DIR/plan-part-N.md.",
)
@click.option(
    "--from",
    "from_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Restore: plan the server back to an export (idflow export DIR) instead of the local files.",
)
@click.option(
    "--revert",
    "revert",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    metavar="REPORT",
    help="Plan what undoes one apply (its report, state/apply-*.json) instead of the local files.",
)
@click.option(
    "--all-envs", is_flag=True, help="Plan every environment of the config (one plan file each, one rendering)."
)
@plan_options
@pass_app
def plan(
    app: AppContext,
    fmt: str,
    out: Path | None,
    detailed_exitcode: bool,
    drift: bool,
    max_chars: int,
    parts_dir: Path | None,
    from_dir: Path | None,
    revert: Path | None,
    all_envs: bool,
    **shape: object,
) -> None:
    """Compare local definitions with the server and save what would change.

    With several --env (or --all-envs): one plan per environment, each saved in its own state folder,
    rendered together (markdown: one comment, a summary of every environment first)."""
    from idflow.plan.file import write_plan
    from idflow.plan.inputs import read_cache_dir
    from idflow.reconcile import make_plan

    options = options_from(**shape)  # type: ignore[arg-type]
    if from_dir is not None and revert is not None:
        raise click.UsageError("--from and --revert plan from different sources: give one")
    if all_envs or len(app.envs) > 1:
        if from_dir is not None or revert is not None:
            raise click.UsageError("--from and --revert plan one environment: give one --env")
        _plan_environments(app, options, fmt, out, detailed_exitcode, drift, max_chars, parts_dir, all_envs)
        return
    try:
        if from_dir is not None:
            from idflow.adopt.restore import restore_plan

            the_plan = restore_plan(app.config, app.remote, from_dir, options)
        elif revert is not None:
            from idflow.adopt.restore import revert_plan

            the_plan = revert_plan(app.config, app.remote, revert, options)
        else:
            the_plan = make_plan(app.config, app.remote, options)
    except IdflowError as exc:
        if fmt == "github":
            from idflow.cli.annotate import echo_error_annotations

            echo_error_annotations(exc, app.config.root if isinstance(exc, DefinitionError) else Path.cwd())
        raise
    if drift:
        _emit_drift(app, the_plan, "text" if fmt == "github" else fmt, max_chars, parts_dir)
        if detailed_exitcode and the_plan.drift:
            click.get_current_context().exit(EXIT_CHANGES)
        return
    path = out or app.config.state_dir / "plan.json"
    write_plan(the_plan, path, cache_dir=read_cache_dir(app.config))
    emit_plan(app, the_plan, "text" if fmt == "github" else fmt, max_chars=max_chars, parts_dir=parts_dir)
    if fmt == "github":
        from idflow.cli.annotate import find_repo_root
        from idflow.render.github import render_plan_warnings

        root = app.config.root
        click.echo(
            render_plan_warnings(the_plan, base=root, repo_root=find_repo_root(root), literals=app.config.secrets),
            nl=False,
        )
    if fmt in ("text", "github"):
        click.echo(f"Saved the plan to {path}. Apply it with: idflow apply {path}", err=True)
    if detailed_exitcode and the_plan.has_changes:
        click.get_current_context().exit(EXIT_CHANGES)


plan.params.append(env_option(multiple=True))


def _emit_drift(app: AppContext, the_plan: Plan, fmt: str, max_chars: int, parts_dir: Path | None) -> None:
    """The plan cut down to drift: what the server did since the last apply (everything, without a record)."""
    from dataclasses import replace

    drift = replace(the_plan, changes=the_plan.drift, unmanaged=())
    emit_plan(app, drift, fmt, max_chars=max_chars, parts_dir=parts_dir)
    if fmt == "text":
        pending = sum(1 for c in the_plan.changes if c.action is not Action.NOOP) - len(drift.changes)
        verdict = f"Drift: {len(drift.changes)} object(s) changed on the server" if drift.changes else "No drift"
        tail = f"; {pending} local change(s) pending apply, not drift" if pending else ""
        click.echo(f"{verdict}{tail}.", err=True)


@click.command()
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@format_option
@click.option("--max-chars", type=click.IntRange(min=1000), default=65_000, show_default=True)
@click.option(
    "--parts-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Markdown: also write each part to DIR/plan-part-N.md.",
)
@pass_app
def show(app: AppContext, plan_file: Path | None, fmt: str, max_chars: int, parts_dir: Path | None) -> None:
    """Render a saved plan (default: state/plan.json)."""
    from idflow.plan.file import read_plan

    the_plan, applied = read_plan(plan_file or app.config.state_dir / "plan.json")
    emit_plan(app, the_plan, fmt, max_chars=max_chars, parts_dir=parts_dir)
    if applied and fmt == "text":
        click.echo(f"(This plan was applied at {applied.get('at', '?')}.)", err=True)


def _plan_environments(
    app: AppContext,
    options: PlanOptions,
    fmt: str,
    out: Path | None,
    detailed_exitcode: bool,
    drift: bool,
    max_chars: int,
    parts_dir: Path | None,
    all_envs: bool,
) -> None:
    """Plan each environment in turn against its own server; render them together. An environment that
    fails stops the command (exit 1, naming it): a comment that silently lacks prod would read as "no
    changes in prod"."""
    from dataclasses import replace

    from idflow.cli.common import echo, emit_plans
    from idflow.config import environment_names
    from idflow.plan.file import write_plan
    from idflow.plan.inputs import read_cache_dir
    from idflow.reconcile import make_plan
    from idflow.server.client import ConductorRemote

    if all_envs and app.envs:
        raise click.UsageError("give --all-envs or --env NAME, not both")
    if out is not None:
        raise click.UsageError("--out names one plan file: with several environments each is saved in its own "
                               "state folder (state/ENV/plan.json)")  # fmt: skip
    names = environment_names(app.config_path) if all_envs else tuple(dict.fromkeys(app.envs))
    if not names:
        raise click.UsageError("--all-envs: the config defines no environments")
    plans: list[Plan] = []
    literals: list[str] = []
    for name in names:
        config = app.config_for(name)
        literals += config.secrets
        try:
            the_plan = make_plan(config, ConductorRemote(config), options)
        except IdflowError as exc:
            if fmt == "github":
                from idflow.cli.annotate import echo_error_annotations

                echo_error_annotations(exc, config.root if isinstance(exc, DefinitionError) else Path.cwd())
            echo(f"Error: environment {name} ({config.server_url}): the plan could not be made; no other "
                 "environment's plan is shown", err=True)  # fmt: skip
            raise
        if drift:
            the_plan = replace(the_plan, changes=the_plan.drift, unmanaged=())
        else:
            path = write_plan(the_plan, config.state_dir / "plan.json", cache_dir=read_cache_dir(config))
            if fmt in ("text", "github"):
                echo(f"Saved the plan for {name} to {path}. Apply it with: idflow apply --env {name} {path}", err=True)
        plans.append(the_plan)
    emit_plans(plans, "text" if fmt == "github" else fmt, tuple(dict.fromkeys(literals)), max_chars=max_chars,
               parts_dir=parts_dir, verbose=app.verbose)  # fmt: skip
    if fmt == "github":
        from idflow.cli.annotate import find_repo_root
        from idflow.render.github import render_plan_warnings

        for the_plan, name in zip(plans, names, strict=True):
            root = app.config_for(name).root
            click.echo(render_plan_warnings(the_plan, base=root, repo_root=find_repo_root(root),
                                            literals=tuple(literals)), nl=False)  # fmt: skip
    changed = [p.environment for p in plans if (p.changes if drift else p.has_changes)]
    if fmt == "text":
        what = "drift" if drift else "changes"
        echo(f"{what.capitalize()} in {len(changed)} of {len(plans)} environments"
             + (f": {', '.join(str(c) for c in changed)}." if changed else "."), err=True)  # fmt: skip
    if detailed_exitcode and changed:
        click.get_current_context().exit(EXIT_CHANGES)
