"""``idflow schema``: the JSON Schemas accept the example project's files, and refuse broken files exactly
where `idflow validate` refuses them (checked with the ``jsonschema`` package, a dev dependency)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from idflow.cli import cli
from idflow.config import load_config
from idflow.repo.schema import KINDS, dumps, schema
from idflow.repo.workflow_files import _render

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "docflow"


def errors(kind: str, document: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema(kind))
    return [e.message for e in validator.iter_errors(document)]


def test_every_schema_is_a_valid_draft_2020_12_schema() -> None:
    for kind in KINDS:
        jsonschema.Draft202012Validator.check_schema(schema(kind))


def test_output_is_stable_and_the_written_files_are_what_kind_prints(tmp_path: Path) -> None:
    runner = CliRunner()
    written = runner.invoke(cli, ["schema", "-o", str(tmp_path / "out")])
    assert written.exit_code == 0, written.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f for _, f in KINDS.values())
    for kind, (_, filename) in KINDS.items():
        printed = runner.invoke(cli, ["schema", "--kind", kind])
        assert printed.exit_code == 0
        assert printed.output == (tmp_path / "out" / filename).read_text() == dumps(schema(kind))
    index = runner.invoke(cli, ["schema"])
    assert index.exit_code == 0 and all(f in index.output for _, f in KINDS.values())


def test_schema_mirrors_the_server_model() -> None:
    defs = schema("workflow")["$defs"]
    assert defs["WorkflowDef"]["properties"]["timeoutPolicy"]["enum"] == ["TIME_OUT_WF", "ALERT_ONLY", None]
    assert defs["WorkflowDef"]["properties"]["timeoutSeconds"]["default"] == 0
    assert defs["WorkflowTask"]["required"] == ["name", "taskReferenceName"]
    ignored = defs["WorkflowTask"]["properties"]["callbackFromWorker"]
    assert ignored["deprecated"] is True and "ignored by the server" in ignored["description"]
    assert defs["WorkflowDef"]["properties"]["retryCount"]["deprecated"] is True
    assert defs["TaskDef"]["properties"]["version"]["deprecated"] is True


# -- the example project ---------------------------------------------------------------------------


def test_the_example_projects_files_are_valid() -> None:
    config = load_config(cwd=EXAMPLE, environ={})
    raw_config = yaml.safe_load((EXAMPLE / "config" / "idflow.yml").read_text())
    assert errors("config", raw_config) == []
    templates = sorted((EXAMPLE / "idflow" / "workflows").glob("*.yaml.j2"))
    stages = sorted((EXAMPLE / "idflow" / "stages").glob("*.yml"))
    assert templates and stages
    for path in templates:
        rendered = yaml.safe_load(_render(path, path.read_text(), config.vars))
        assert rendered["tasks"], path
        assert errors("workflow", rendered) == [], path
    for path in stages:
        assert errors("stage", yaml.safe_load(path.read_text())) == [], path


# -- broken files: the schema and `idflow validate` both refuse them -----------------------------------

GOOD_WORKFLOW: dict[str, Any] = {
    "name": "wf",
    "version": 1,
    "timeoutPolicy": "TIME_OUT_WF",
    "timeoutSeconds": 60,
    "tasks": [
        {"name": "wait", "taskReferenceName": "wait", "type": "WAIT"},
        {
            "name": "sub",
            "taskReferenceName": "sub",
            "type": "SUB_WORKFLOW",
            "subWorkflowParam": {"workflowDefinition": {"tasks": [{"name": "w", "taskReferenceName": "w"}]}},
        },
        {
            "name": "dyn",
            "taskReferenceName": "dyn",
            "type": "SUB_WORKFLOW",
            "subWorkflowParam": {"name": "x", "workflowDefinition": "${workflow.input.definition}"},
        },
    ],
}


def broken_workflow(change: str) -> dict[str, Any]:
    wf = json.loads(json.dumps(GOOD_WORKFLOW))
    if change == "missing name":
        del wf["name"]
    elif change == "blank name":
        wf["name"] = "  "
    elif change == "timeoutPolicy not a choice":
        wf["timeoutPolicy"] = "RETRY"  # a task definition's policy, not a workflow's
    elif change == "version a string":
        wf["version"] = "2"
    elif change == "version 0":
        wf["version"] = 0
    elif change == "timeoutSeconds a string":
        wf["timeoutSeconds"] = "600"
    elif change == "schemaVersion 1":
        wf["schemaVersion"] = 1
    elif change == "task type a number":
        wf["tasks"][0]["type"] = 5
    elif change == "joinMode not a choice":
        wf["tasks"][0]["joinMode"] = "LATER"
    elif change == "no taskReferenceName":
        del wf["tasks"][0]["taskReferenceName"]
    elif change == "nested task without name":
        del wf["tasks"][1]["subWorkflowParam"]["workflowDefinition"]["tasks"][0]["name"]
    elif change == "no tasks":
        wf["tasks"] = []
    elif change == "optional a string":
        wf["tasks"][0]["optional"] = "yes"
    elif change == "inputParameters a list":
        wf["tasks"][0]["inputParameters"] = ["a"]
    elif change == "rateLimitConfig policy":
        wf["rateLimitConfig"] = {"rateLimitKey": "k", "policy": "DROP"}
    elif change == "embedded taskDefinition retryLogic":
        wf["tasks"][0]["taskDefinition"] = {"name": "wait", "retryLogic": "RANDOM"}
    else:
        raise AssertionError(change)
    return wf


WORKFLOW_BREAKS = [
    "missing name",
    "blank name",
    "timeoutPolicy not a choice",
    "version a string",
    "version 0",
    "timeoutSeconds a string",
    "schemaVersion 1",
    "task type a number",
    "joinMode not a choice",
    "no taskReferenceName",
    "nested task without name",
    "no tasks",
    "optional a string",
    "inputParameters a list",
    "rateLimitConfig policy",
    "embedded taskDefinition retryLogic",
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "idflow.yml").write_text("{}\n")
    (tmp_path / "idflow" / "workflows").mkdir(parents=True)
    (tmp_path / "idflow" / "tasks").mkdir()
    return tmp_path


def validate(project: Path) -> Any:
    return CliRunner().invoke(cli, ["--config", str(project / "config" / "idflow.yml"), "validate"])


def test_the_good_workflow_passes_both(project: Path) -> None:
    assert errors("workflow", GOOD_WORKFLOW) == []
    (project / "idflow" / "workflows" / "wf.json").write_text(json.dumps(GOOD_WORKFLOW))
    result = validate(project)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("change", WORKFLOW_BREAKS)
def test_a_broken_workflow_fails_the_schema_and_validate(project: Path, change: str) -> None:
    wf = broken_workflow(change)
    assert errors("workflow", wf), f"the schema accepts a workflow with {change}"
    (project / "idflow" / "workflows" / "wf.yaml").write_text(yaml.safe_dump(wf))
    result = validate(project)
    assert result.exit_code == 1, f"validate accepts a workflow with {change}: {result.output}"
    assert "wf.yaml" in result.output and "Traceback" not in result.output


def test_fields_the_server_ignores_are_allowed_by_both(project: Path) -> None:
    wf = json.loads(json.dumps(GOOD_WORKFLOW))
    wf["retryCount"] = 3  # a task definition setting at the top
    wf["madeUp"] = {"x": 1}
    wf["tasks"][0]["callbackFromWorker"] = True
    assert errors("workflow", wf) == []
    (project / "idflow" / "workflows" / "wf.json").write_text(json.dumps(wf))
    assert validate(project).exit_code == 0


CONFIG_BREAKS = {
    "unknown key": {"tasks_folder": "x"},
    "unknown conductor key": {"conductor": {"url": "http://h"}},
    "retries out of range": {"conductor": {"retries": 99}},
    "timeout not a number": {"conductor": {"timeout_seconds": "30"}},
    "timeout zero": {"conductor": {"timeout_seconds": 0}},
    "timeout a boolean": {"conductor": {"timeout_seconds": True}},
    "url not http": {"conductor_server_url": "ftp://h"},
    "owner not an email": {"owner_email": "docflow"},
    "ignore not a list": {"ignore": "*.tmp"},
    "ignore entry empty": {"ignore": [""]},
    "vars a list": {"vars": [1]},
}


@pytest.mark.parametrize("change", list(CONFIG_BREAKS))
def test_a_broken_config_fails_the_schema_and_validate(project: Path, change: str) -> None:
    config = CONFIG_BREAKS[change]
    assert errors("config", config), f"the schema accepts a config with {change}"
    (project / "config" / "idflow.yml").write_text(yaml.safe_dump(config))
    result = validate(project)
    assert result.exit_code == 1, f"validate accepts a config with {change}: {result.output}"


STAGE_BREAKS = {
    "unknown key": {"workflow": "wf", "inputs": {}},
    "no workflow": {"input": {}},
    "workflow a list": {"workflow": ["wf"]},
    "unknown workflow key": {"workflow": {"name": "wf", "latest": True}},
    "workflow without name": {"workflow": {"version": 1}},
    "version 0": {"workflow": {"name": "wf", "version": 0}},
    "version a string": {"workflow": {"name": "wf", "version": "1"}},
    "input a list": {"workflow": "wf", "input": [1]},
    "description a number": {"workflow": "wf", "description": 5},
}


@pytest.mark.parametrize("change", list(STAGE_BREAKS))
def test_a_broken_stage_fails_the_schema_and_validate(project: Path, change: str) -> None:
    stage = STAGE_BREAKS[change]
    assert errors("stage", stage), f"the schema accepts a stage with {change}"
    (project / "idflow" / "stages").mkdir()
    (project / "idflow" / "stages" / "s.yml").write_text(yaml.safe_dump(stage))
    result = validate(project)
    assert result.exit_code == 1, f"validate accepts a stage with {change}: {result.output}"


def test_the_example_project_passes_validate_too(tmp_path: Path) -> None:
    copy = tmp_path / "docflow"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("state", "__pycache__"))
    result = CliRunner().invoke(cli, ["--config", str(copy / "config" / "idflow.yml"), "validate"])
    assert result.exit_code == 0, result.output


def test_a_json_workflow_may_name_its_schema(project: Path) -> None:
    from idflow.repo.workflow_files import load_workflows

    wf = {"$schema": "../../schemas/idflow-workflow.schema.json", **GOOD_WORKFLOW}
    assert errors("workflow", wf) == []
    (project / "idflow" / "workflows" / "wf.json").write_text(json.dumps(wf))
    [local] = load_workflows(project / "idflow" / "workflows", variables={})
    assert "$schema" not in local.definition and local.notes == ()


def _wrong_value(type_: str) -> Any:
    return 5 if type_ == "string" else "x"


@pytest.mark.parametrize("struct_name", ["WorkflowDef", "WorkflowTask"])
def test_every_field_of_the_wrong_type_fails_both(struct_name: str) -> None:
    """Generated from the model: each field given a value of another type (and each field with choices a
    value that is not one), in a workflow (or its first task): the schema and the reader both refuse it."""
    from idflow.kinds.normal import type_problems
    from idflow.kinds.server_model import MODEL

    struct = MODEL[struct_name]
    checked = 0
    for name, field in struct.fields.items():
        if field.type == "any" or name in struct.server_owned:
            continue
        values = [_wrong_value(field.type)] + (["NOT_A_CHOICE"] if field.choices else [])
        for value in values:
            wf = json.loads(json.dumps(GOOD_WORKFLOW))
            target = wf if struct_name == "WorkflowDef" else wf["tasks"][0]
            target[name] = value
            assert errors("workflow", wf), f"the schema accepts {struct_name}.{name} = {value!r}"
            assert list(type_problems(MODEL["WorkflowDef"], wf)), f"the reader accepts {struct_name}.{name} = {value!r}"
            checked += 1
    assert checked > 20


@pytest.mark.processes
def test_idflow_never_imports_jsonschema_and_help_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom idflow.cli import cli\n"
        "help = CliRunner().invoke(cli, ['--help'])\n"
        "light = not any(m in sys.modules for m in ('jinja2', 'conductor', 'jsonschema'))\n"
        "out = CliRunner().invoke(cli, ['schema', '--kind', 'workflow'])\n"
        "print('schema' in help.output, light, out.exit_code, 'jsonschema' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "True True 0 False"
