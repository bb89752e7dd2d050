"""`idflow validate` against `idflow plan` on the real server: the same problems where no server is needed,
the server's part left to plan, and both as GitHub annotations."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def write_workflow(cli, name, tasks):
    folder = cli.root / "idflow" / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    definition = {"name": name, "version": 1, "schemaVersion": 2, "tasks": tasks}
    (folder / f"{name}.json").write_text(json.dumps(definition, indent=2) + "\n")
    return folder / f"{name}.json"


def problem_lines(stderr):
    return sorted(line.strip() for line in stderr.splitlines()[1:])


def test_validate_reports_the_local_problems_plan_reports_and_neither_writes(cli_project, remote, unique):
    good, bad = f"{unique}_good", f"{unique}_bad"
    cli_project.write_task(good, retry_count=1)
    cli_project.write_task(bad, timeout_policy="SOMETIMES")
    write_workflow(
        cli_project,
        f"{unique}_flow",
        [{"name": good, "taskReferenceName": "same"}, {"name": good, "taskReferenceName": "same"}],
    )
    validated = cli_project("validate")
    planned = cli_project("plan")
    assert validated.exit_code == 1 and planned.exit_code == 1, (validated.output, planned.output)
    assert "timeout_policy" in validated.stderr
    # validate stops at nothing plan would not stop at: the same task problem, one per line
    assert problem_lines(validated.stderr) == problem_lines(planned.stderr)
    assert remote.get_task_def(good) is None and remote.get_task_def(bad) is None

    cli_project.remove_task(bad)  # now the workflow's own problem, found after reading
    validated, planned = cli_project("validate"), cli_project("plan")
    assert validated.exit_code == planned.exit_code == 1
    assert "taskReferenceName 'same' is used 2 times" in validated.stderr
    assert validated.stderr == planned.stderr


def test_references_need_the_server_so_plan_checks_them_and_annotates_the_line(cli_project, remote, unique):
    (cli_project.root / ".git").mkdir()  # the repository root the annotation paths are relative to
    on_server, nowhere = f"{unique}_remote", f"{unique}_nowhere"
    remote.create_task_defs([{"name": on_server, "ownerEmail": f"{unique}@test.idflow"}])
    try:
        path = write_workflow(cli_project, f"{unique}_flow", [{"name": on_server, "taskReferenceName": "r"}])
        assert cli_project("validate").exit_code == 0
        assert cli_project("plan").exit_code == 0  # the server has it

        write_workflow(
            cli_project,
            f"{unique}_flow",
            [{"name": on_server, "taskReferenceName": "r"}, {"name": nowhere, "taskReferenceName": "n"}],
        )
        validated = cli_project("validate")
        assert validated.exit_code == 0, validated.output  # validate cannot know: it asks no server
        assert validated.stdout.startswith("OK: 0 tasks, 1 workflow, 0 stages")

        planned = cli_project("plan", "--format", "github")
        assert planned.exit_code == 1
        line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if '"n"' in text)
        (annotation,) = planned.stdout.splitlines()
        assert annotation.startswith(f"::error file=idflow/workflows/{path.name},line={line},col=1::")
        assert f"uses task definition '{nowhere}', which is neither defined locally nor on the server" in annotation
        assert remote.get_workflow_def(f"{unique}_flow", 1) is None
    finally:
        remote.delete_task_def(on_server)


def test_plan_github_prints_the_text_plan_and_warnings_as_annotations(cli_project, unique):
    task = f"{unique}_t"
    cli_project.write_task(task)
    result = cli_project("plan", "--format", "github", "--target", task, "--target", f"{unique}_missing")
    assert result.exit_code == 0, result.output
    assert f"+ task {task}" in result.stdout and "Plan: 1 to create" in result.stdout
    assert f"::warning::--target {unique}_missing: no task, workflow, event or schedule of that name" in result.stdout
    assert "Saved the plan to" in result.stderr
