"""`idflow validate`: plan's checks of the local files, with no server, as one-line problems or annotations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from idflow.cli import cli
from idflow.config import load_config
from idflow.errors import DefinitionError, Problem
from idflow.plan.inputs import load_desired
from idflow.repo.workflow_files import workflow_files
from tests.factories import write_task_file

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "docflow"


def validate(root: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(
        cli,
        ["--config", str(root / "config" / "idflow.yml"), "validate", *args],
        env={"CONDUCTOR_SERVER_URL": "http://127.0.0.1:9/api", **(env or {})},
        catch_exceptions=False,
    )


@pytest.fixture
def broken(project: Path) -> Path:
    """A project (inside a git repository) with one bad file of each kind next to good ones."""
    (project / ".git").mkdir()
    write_task_file(project, "good", retry_count=2)
    write_task_file(project, "bad", retry_count="many")
    workflows = project / "idflow" / "workflows"
    workflows.mkdir()
    fine = {"name": "fine", "version": 1, "tasks": [{"name": "good", "taskReferenceName": "g"}]}
    (workflows / "fine.json").write_text(json.dumps(fine))
    (workflows / "broken.yaml").write_text("name: broken\nversion: 1\ntasks:\n  - name: good\n   bad: indent\n")
    (workflows / "template.json.j2").write_text('{"name": "t", "version": {{ missing }}, "tasks": []}\n')
    stages = project / "idflow" / "stages"
    stages.mkdir()
    (stages / "ingest.yml").write_text("workflow:\n  name: fine\ninput:\n  doc: '{{ doc_uuid'\n")
    (stages / "other.yml").write_text("workflow: {name: fine}\ncolour: blue\n")
    return project


def test_the_example_project_is_valid_and_the_summary_counts_what_was_read():
    result = validate(EXAMPLE)
    assert result.exit_code == 0, result.output
    tasks = len([p for p in (EXAMPLE / "idflow" / "tasks").iterdir() if p.is_dir() and not p.name.startswith("_")])
    workflows = len(workflow_files(EXAMPLE / "idflow" / "workflows"))
    stages = len(list((EXAMPLE / "idflow" / "stages").glob("*.yml")))
    assert tasks and workflows and stages
    plural = {1: ""}
    assert result.stdout == (
        f"OK: {tasks} task{plural.get(tasks, 's')}, {workflows} workflow{plural.get(workflows, 's')}, "
        f"{stages} stage{plural.get(stages, 's')} (config/idflow.yml)\n"
    )


def test_every_bad_file_is_one_file_line_problem_and_exit_1(broken):
    result = validate(broken)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "Error: 5 problems in local files"
    located = [line.strip() for line in lines[1:]]
    tasks, workflows, stages = (broken / "idflow" / kind for kind in ("tasks", "workflows", "stages"))
    assert any(line.startswith(f"{tasks / 'bad' / 'bad.py'}:4:") and "retry_count" in line for line in located)
    assert any(line.startswith(f"{workflows / 'broken.yaml'}:5:") and "invalid YAML" in line for line in located)
    assert any(
        line.startswith(f"{workflows / 'template.json.j2'}:1:") and "'missing' is undefined" in line for line in located
    )
    assert any(line.startswith(f"{stages / 'ingest.yml'}:4:") and "template syntax error" in line for line in located)
    assert any(line.startswith(f"{stages / 'other.yml'}:2:") and "unknown key 'colour'" in line for line in located)
    assert result.stdout == ""


def test_task_and_workflow_problems_are_exactly_the_ones_plan_reads(broken):
    """validate adds nothing of its own for tasks and workflows: plan's reader (load_desired) finds them."""
    with pytest.raises(DefinitionError) as raised:
        load_desired(load_config(broken / "config" / "idflow.yml"))
    shown = validate(broken).stderr
    assert len(raised.value.problems) == 3
    for problem in raised.value.problems:
        assert str(problem) in shown


def test_a_workflow_problem_found_after_reading_is_reported_and_references_are_left_to_plan(project):
    workflows = project / "idflow" / "workflows"
    workflows.mkdir()
    (workflows / "flow.yaml").write_text(
        "name: flow\nversion: 1\ntasks:\n"
        "  - {name: only_on_the_server, taskReferenceName: a}\n"
        "  - {name: sub, taskReferenceName: s, type: SUB_WORKFLOW, subWorkflowParam: {name: elsewhere}}\n"
    )
    assert validate(project).exit_code == 0  # the server may well define both: plan checks that
    (workflows / "flow.yaml").write_text(
        "name: flow\nversion: 1\nschemaVersion: 1\ntasks:\n  - {name: t, taskReferenceName: a}\n"
    )
    result = validate(project)
    assert result.exit_code == 1
    assert f"{workflows / 'flow.yaml'}:3:1: workflow 'flow' version 1: 'schemaVersion' must be 2" in result.stderr


def test_a_config_problem_is_one_line_naming_the_file(project):
    (project / "config" / "idflow.yml").write_text("owner_email: nobody\n")
    result = validate(project)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {project / 'config' / 'idflow.yml'}:1: 'owner_email' 'nobody' is not an email address"
    )


def test_github_format_prints_annotations_relative_to_the_repository_root(broken):
    result = validate(broken, "--format", "github")
    assert result.exit_code == 1
    annotations = result.stdout.splitlines()
    assert len(annotations) == 5 and all(a.startswith("::error file=") for a in annotations)
    assert "::error file=idflow/tasks/bad/bad.py,line=4,col=" in result.stdout
    assert "::error file=idflow/stages/other.yml,line=2,col=1::unknown key 'colour'" in result.stdout
    assert str(broken) not in result.stdout
    assert "Error: 5 problems in local files" in result.stderr  # the usual message too, for the log


def test_github_format_uses_the_workspace_when_the_project_is_a_subfolder(broken, tmp_path):
    (broken / "config" / "idflow.yml").write_text("owner_email: x\n")
    result = validate(broken, "--format", "github", env={"GITHUB_WORKSPACE": str(broken.parent)})
    assert result.exit_code == 1
    assert result.stdout == (
        f"::error file={broken.name}/config/idflow.yml,line=1,col=1::'owner_email' 'x' is not an email address\n"
    )


@pytest.mark.processes
def test_validate_neither_imports_the_sdk_nor_opens_a_connection():
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k):\n    raise SystemExit('validate tried to connect')\n"
        "socket.socket.connect = refuse\nsocket.create_connection = refuse\n"
        "from idflow.cli import cli\n"
        "code = cli.main(['validate'], standalone_mode=False)\n"
        "print(code, 'conductor' in sys.modules, 'httpx' in sys.modules)\n"
    )
    # -P: the project folder (the working directory) holds an idflow/ folder of its own
    result = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, cwd=EXAMPLE, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "0 False False"


def test_problem_from_a_one_line_message():
    assert Problem.from_message("/p/a.yml:3:7: bad") == Problem("/p/a.yml", 3, 7, "bad")
    assert Problem.from_message("/p/a.yml:3: bad: worse") == Problem("/p/a.yml", 3, 1, "bad: worse")
    assert Problem.from_message("/p/stages: cannot read") == Problem("/p/stages", 0, 0, "cannot read")
    assert Problem.from_message("an API key is set but X is not") == Problem("", 0, 0, "an API key is set but X is not")
