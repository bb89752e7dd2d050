"""Stage files: parsing, errors with file and line, input templates, rerun refusal, waiting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from idflow.errors import StageError
from idflow.run.stages import (
    canonical_doc_uuid,
    correlation_id,
    load_stage,
    parse_input_options,
    parse_stage,
    read_stage,
    render_input,
    stage_files,
    start_stage,
    wait_for_workflow,
)

DOC = "5B0C6A4E-2A43-4E41-9B3C-3D2A9F1B7C11"
DOC_CANONICAL = DOC.lower()
EXAMPLE_STAGES = Path(__file__).resolve().parents[2] / "examples" / "docflow" / "idflow" / "stages"


def write(tmp_path: Path, text: str, name: str = "ingest") -> Path:
    path = tmp_path / f"{name}.yml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(StageError) as caught:
        read_stage(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


# -- parsing --------------------------------------------------------------------------------------


def test_a_valid_stage(tmp_path):
    stage = read_stage(
        write(
            tmp_path,
            "description: Ingest\nworkflow:\n  name: wf\n  version: 2\ninput:\n  doc: '{{ doc_uuid }}'\n  n: 3\n",
        )
    )
    assert (stage.name, stage.workflow, stage.version, stage.description) == ("ingest", "wf", 2, "Ingest")
    assert stage.input == {"doc": "{{ doc_uuid }}", "n": 3}
    assert stage.line("input.doc") == 6


def test_version_and_input_are_optional_and_workflow_may_be_a_name(tmp_path):
    stage = read_stage(write(tmp_path, "workflow: wf\n"))
    assert (stage.workflow, stage.version, stage.input) == ("wf", None, {})


def test_invalid_yaml_names_file_line_and_column(tmp_path):
    message = error_of(tmp_path, "workflow:\n  name: wf\ninput: [unclosed\n")
    assert message.startswith(f"{tmp_path / 'ingest.yml'}:4:") and "invalid YAML" in message


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("", 1, "empty"),
        ("input: {}\n", 1, "'workflow' is missing"),
        ("workflow:\n  version: 1\n", 1, "'workflow.name' is missing"),
        ("# c\nworkflow:\n  name: ''\n", 3, "'workflow.name' is missing"),
        ("workflow:\n  name: wf\n  version: 0\n", 3, "'workflow.version' must be a whole number"),
        ("workflow:\n  name: wf\n  version: two\n", 3, "'workflow.version' must be a whole number"),
        ("workflow:\n  name: wf\n  versoin: 1\n", 3, "unknown key 'workflow.versoin'"),
        ("workflow: {name: wf}\ninputs: {}\n", 2, "unknown key 'inputs'"),
        ("workflow: [a]\n", 1, "'workflow' must be a mapping"),
        ("workflow: {name: wf}\ninput: [a, b]\n", 2, "'input' must be a mapping"),
        ("- a\n", 1, "holds a mapping"),
        ("workflow: {name: wf}\ninput:\n  a: ok\n  b: '{{ x'\n", 4, "input.b: template syntax error"),
    ],
)
def test_stage_file_errors_are_one_line_with_file_and_line(tmp_path, text, line, fragment):
    message = error_of(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'ingest.yml'}:{line}: "), message
    assert fragment in message


def test_load_stage_by_name_and_unknown_names_list_the_known(tmp_path):
    write(tmp_path, "workflow: {name: a}\n", "first")
    write(tmp_path, "workflow: {name: b}\n", "second")
    assert load_stage(tmp_path, "second").workflow == "b"
    with pytest.raises(StageError, match=r"no stage 'third'.*known stages: first, second"):
        load_stage(tmp_path, "third")
    with pytest.raises(StageError, match="not a stage name"):
        load_stage(tmp_path, "../first")
    assert stage_files(tmp_path / "missing") == {}


def test_yml_and_yaml_of_one_name_is_an_error(tmp_path):
    write(tmp_path, "workflow: a\n", "dup")
    (tmp_path / "dup.yaml").write_text("workflow: b\n")
    with pytest.raises(StageError, match="defined twice"):
        stage_files(tmp_path)


def test_the_example_stage_parses():
    stage = load_stage(EXAMPLE_STAGES, "ingest")
    assert stage.workflow == "docflow_ingest" and stage.version == 1


# -- input ----------------------------------------------------------------------------------------


def stage_with_input(tmp_path, body: str):
    return parse_stage(tmp_path / "s.yml", "workflow: {name: wf}\ninput:\n" + body)


def test_templates_render_over_doc_uuid_inputs_and_vars(tmp_path):
    stage = stage_with_input(
        tmp_path,
        "  doc: '{{ doc_uuid }}'\n"
        "  label: 'doc {{ doc_uuid[:8] }} in {{ lang }}'\n"
        "  keywords: '{{ vars.keywords }}'\n"
        "  pages: '{{ pages | int + 1 }}'\n"
        "  title: \"{{ title | default('untitled') }}\"\n"
        "  nested: {list: ['{{ stage }}', 2, true], plain: text}\n"
        "  all: '{{ input }}'\n",
    )
    rendered = render_input(stage, DOC_CANONICAL, {"lang": "de", "pages": "4"}, {"keywords": ["a", "b"]})
    assert rendered == {
        "doc": DOC_CANONICAL,
        "label": f"doc {DOC_CANONICAL[:8]} in de",
        "keywords": ["a", "b"],
        "pages": 5,
        "title": "untitled",
        "nested": {"list": ["s", 2, True], "plain": "text"},
        "all": {"lang": "de", "pages": "4"},
    }
    json.dumps(rendered)


def test_an_undefined_variable_names_file_line_and_variable(tmp_path):
    stage = stage_with_input(tmp_path, "  a: x\n  b: 'value {{ missing }}'\n")
    with pytest.raises(StageError) as caught:
        render_input(stage, DOC_CANONICAL)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 's.yml'}:4: input.b: undefined variable")
    assert "'missing' is undefined" in message and "known: doc_uuid, input, stage, vars" in message


def test_an_undefined_whole_expression_and_attribute_are_errors_too(tmp_path):
    for body in ("  a: '{{ missing }}'\n", "  a: '{{ vars.nothing }}'\n"):
        with pytest.raises(StageError, match="undefined variable"):
            render_input(stage_with_input(tmp_path, body), DOC_CANONICAL, {}, {})


def test_a_failing_filter_is_a_stage_error(tmp_path):
    with pytest.raises(StageError, match=r"s.yml:3: input.a: template error"):
        render_input(stage_with_input(tmp_path, "  a: '{{ 1 / 0 }}'\n"), DOC_CANONICAL)


def test_the_sandbox_refuses_unsafe_attributes(tmp_path):
    stage = stage_with_input(tmp_path, "  a: '{{ doc_uuid.__class__.__mro__ }}'\n")
    with pytest.raises(StageError):
        render_input(stage, DOC_CANONICAL)


def test_input_options():
    assert parse_input_options(("a=1", "b=x=y", "c=")) == {"a": "1", "b": "x=y", "c": ""}
    for bad, fragment in (
        ("a", "KEY=VALUE"),
        ("1a=2", "KEY=VALUE"),
        ("doc_uuid=x", "reserved"),
        ("vars=x", "reserved"),
    ):
        with pytest.raises(StageError, match=fragment):
            parse_input_options((bad,))
    with pytest.raises(StageError, match="twice"):
        parse_input_options(("a=1", "a=2"))


def test_doc_uuid_is_canonical_and_checked():
    assert canonical_doc_uuid(DOC) == DOC_CANONICAL
    assert correlation_id("ingest", DOC_CANONICAL) == f"ingest:{DOC_CANONICAL}"
    with pytest.raises(StageError, match="not a UUID"):
        canonical_doc_uuid("doc-42")


# -- starting and waiting -------------------------------------------------------------------------


class FakeRemote:
    def __init__(self, running=(), statuses=()):
        self.running = list(running)
        self.started: list[tuple] = []
        self.statuses = list(statuses)
        self.queries: list[tuple[str, str]] = []

    def running_workflows_by_correlation(self, name, correlation):
        self.queries.append((name, correlation))
        return self.running

    def start_workflow(self, name, version, workflow_input, correlation):
        self.started.append((name, version, workflow_input, correlation))
        return f"wf-{len(self.started)}"

    def get_workflow(self, workflow_id):
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return {"workflowId": workflow_id, "status": status, "output": {"ok": status == "COMPLETED"}}


def test_start_uses_the_correlation_id_and_refuses_a_rerun(tmp_path):
    stage = read_stage(write(tmp_path, "workflow: {name: wf, version: 3}\ninput: {doc: '{{ doc_uuid }}'}\n"))
    remote = FakeRemote()
    run = start_stage(remote, stage, DOC, {}, {})
    assert run.workflow_id == "wf-1" and run.correlation_id == f"ingest:{DOC_CANONICAL}"
    assert remote.started == [("wf", 3, {"doc": DOC_CANONICAL}, f"ingest:{DOC_CANONICAL}")]
    assert remote.queries == [("wf", f"ingest:{DOC_CANONICAL}")]

    remote.running = [{"workflowId": "wf-1", "status": "RUNNING"}]
    with pytest.raises(StageError, match=r"already running for .*wf-1 \(RUNNING\).*--allow-rerun"):
        start_stage(remote, stage, DOC)
    assert len(remote.started) == 1
    assert start_stage(remote, stage, DOC, allow_rerun=True).workflow_id == "wf-2"


def test_a_finished_run_does_not_block(tmp_path):
    stage = read_stage(write(tmp_path, "workflow: wf\n"))
    remote = FakeRemote(running=[{"workflowId": "old", "status": "COMPLETED"}])
    assert start_stage(remote, stage, DOC).workflow_id == "wf-1"


def test_wait_polls_until_terminal():
    remote = FakeRemote(statuses=["RUNNING", "RUNNING", "COMPLETED"])
    slept: list[float] = []
    workflow = wait_for_workflow(remote, "w", 60, sleep=slept.append, clock=lambda: 0.0)
    assert workflow["status"] == "COMPLETED" and len(slept) == 2


def test_wait_gives_up_after_the_timeout():
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    with pytest.raises(StageError, match=r"still RUNNING after 5s"):
        wait_for_workflow(FakeRemote(statuses=["RUNNING"]), "w", 5, sleep=sleep, clock=lambda: now[0])
    assert now[0] == pytest.approx(5)


# -- the commands, against a fake server ----------------------------------------------------------


@pytest.fixture
def stage_project(tmp_path, monkeypatch):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "idflow.yml").write_text("vars: {greeting: hi}\n")
    stages = tmp_path / "idflow" / "stages"
    stages.mkdir(parents=True)
    (stages / "ingest.yml").write_text("workflow: {name: wf}\ninput: {msg: '{{ vars.greeting }} {{ who }}'}\n")
    remote = FakeRemote(statuses=["COMPLETED"])
    from idflow.cli.context import AppContext

    monkeypatch.setattr(AppContext, "remote", property(lambda self: remote))

    def run(*args):
        from click.testing import CliRunner

        from idflow.cli import cli

        return CliRunner().invoke(cli, ["--config", str(tmp_path / "config" / "idflow.yml"), *args])

    return tmp_path, remote, run


def test_stage_run_prints_the_id_then_status_and_output(stage_project):
    _root, remote, run = stage_project
    result = run("stage", "run", "--stage", "ingest", "--doc-uuid", DOC, "--input", "who=you", "--wait")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == ["wf-1", "status: COMPLETED"]
    assert json.loads("\n".join(lines[2:])) == {"ok": True}
    assert remote.started[0][2] == {"msg": "hi you"}


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "TERMINATED"])
def test_stage_run_wait_exits_1_when_the_workflow_does_not_complete(stage_project, status):
    _root, remote, run = stage_project
    remote.statuses = [status]
    result = run("stage", "run", "--stage", "ingest", "--doc-uuid", DOC, "--input", "who=x", "--wait")
    assert result.exit_code == 1
    assert f"status: {status}" in result.stdout and f"wf-1 {status}" in result.stderr


def test_stage_run_undefined_input_is_exit_1_and_nothing_starts(stage_project):
    _root, remote, run = stage_project
    result = run("stage", "run", "--stage", "ingest", "--doc-uuid", DOC)
    assert result.exit_code == 1
    assert "ingest.yml:2: input.msg: undefined variable" in result.stderr and "'who' is undefined" in result.stderr
    assert remote.started == []


def test_stage_list(stage_project):
    root, _remote, run = stage_project
    result = run("stage", "list")
    assert result.exit_code == 0 and result.stdout.startswith("ingest  workflow=wf:latest  input=msg")
    (root / "idflow" / "stages" / "broken.yml").write_text("workflow:\n  version: 1\n")
    result = run("stage", "list", "--format", "json")
    assert result.exit_code == 1
    assert [s["name"] for s in json.loads(result.stdout)] == ["ingest"]
    assert "broken.yml:1: 'workflow.name' is missing" in result.stderr


def test_duplicate_yaml_keys_in_a_stage_file(tmp_path):
    import pytest as _pytest

    from idflow.errors import StageError
    from idflow.run.stages import read_stage

    path = tmp_path / "s.yml"
    path.write_text("workflow:\n  name: a\n  name: b\n")
    with _pytest.raises(StageError, match=r"s.yml:3:3: invalid YAML: duplicate key 'name'"):
        read_stage(path)
