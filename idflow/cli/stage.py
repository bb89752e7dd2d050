"""``idflow stage run|list``: start the workflow of a stage for one document."""

from __future__ import annotations

import json

import click

from idflow.cli.context import AppContext, pass_app
from idflow.errors import StageError


@click.group()
def stage() -> None:
    """Start a stage's workflow for one document, and list the stages."""


@stage.command("run")
@click.option("--stage", "stage_name", required=True, metavar="NAME", help="The stage (<stages_dir>/NAME.yml).")
@click.option("--doc-uuid", required=True, metavar="UUID", help="The document to run it for.")
@click.option("--input", "inputs", multiple=True, metavar="KEY=VALUE", help="A template variable (repeatable).")
@click.option("--wait", is_flag=True, help="Wait for the workflow to finish; print its status and output.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=300,
    show_default=True,
    help="With --wait: seconds to wait before giving up.",
)
@click.option("--allow-rerun", is_flag=True, help="Start even if this stage is still running for this document.")
@pass_app
def run(
    app: AppContext,
    stage_name: str,
    doc_uuid: str,
    inputs: tuple[str, ...],
    wait: bool,
    timeout: float,
    allow_rerun: bool,
) -> None:
    """Start the stage's workflow (correlation id STAGE:UUID) and print the workflow id."""
    from idflow.log import get_logger
    from idflow.run.stages import FAILED_STATUSES, load_stage, parse_input_options, start_stage, wait_for_workflow

    log = get_logger("idflow.stage")
    the_stage = load_stage(app.config.stages_dir, stage_name)
    variables = parse_input_options(inputs)
    started = start_stage(app.remote, the_stage, doc_uuid, variables, app.config.vars, allow_rerun=allow_rerun)
    version = "latest" if started.version is None else started.version
    log.info(
        "workflow started",
        stage=the_stage.name,
        workflow=f"{started.workflow}:{version}",
        correlation_id=started.correlation_id,
        workflow_id=started.workflow_id,
    )
    click.echo(started.workflow_id)
    if not wait:
        return
    workflow = wait_for_workflow(app.remote, started.workflow_id, timeout)
    status = workflow.get("status")
    click.echo(f"status: {status}")
    click.echo(json.dumps(workflow.get("output") or {}, indent=2, sort_keys=True, default=str))
    if status in FAILED_STATUSES:
        reason = workflow.get("reasonForIncompletion") or "no reason given"
        raise StageError(f"workflow {started.workflow_id} {status}: {reason}")


@stage.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_app
def list_stages(app: AppContext, fmt: str) -> None:
    """Every stage file, with its workflow and input keys. Exit 1 when a stage file is invalid."""
    from idflow.run.stages import read_stage, stage_files

    stages, problems = [], []
    for path in stage_files(app.config.stages_dir).values():
        try:
            stages.append(read_stage(path))
        except StageError as exc:
            problems.append(str(exc))
    if fmt == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "name": s.name,
                        "path": str(s.path),
                        "workflow": s.workflow,
                        "version": s.version,
                        "input": sorted(s.input),
                        "description": s.description,
                    }
                    for s in stages
                ],
                indent=2,
            )
        )
    else:
        if not stages and not problems:
            click.echo(f"No stages under {app.config.stages_dir}.")
        for s in stages:
            version = "latest" if s.version is None else s.version
            line = f"{s.name}  workflow={s.workflow}:{version}  input={','.join(s.input) or '-'}"
            click.echo(line + (f"  {s.description}" if s.description else ""))
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        raise StageError(f"{len(problems)} invalid stage file(s)")
