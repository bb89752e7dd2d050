"""The docflow example end to end against the real server: plan, apply, workers, a stage, a purge.

The example is copied to a temporary folder and renamed for this test run (a unique prefix on every
task and workflow name, a unique owner), so it cannot collide with the demo or another run on the same
server; everything it created is removed at the end.
"""

from __future__ import annotations

import json
import shutil
import signal
import uuid
from pathlib import Path

import pytest
import yaml

from tests.integration.test_workers_stages import (
    Workers,
    descendants,
    forget_definitions,
    forget_workflows,
    wait_gone,
)

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "docflow"
TASKS = ("classify", "extract_amounts", "normalize", "report", "stats")


def copy_example(target: Path, prefix: str, owner: str) -> Path:
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", "state", "tests"))
    (target / "state").mkdir()
    for path in target.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".yml", ".j2", ".json"):
            text = path.read_text()
            path.write_text(text.replace("docflow_", f"{prefix}_docflow_").replace("docflow@example.com", owner))
    return target


def drop_report_task(root: Path, prefix: str) -> None:
    """Remove the report task's folder, and its use (and output) from the workflow template."""
    shutil.rmtree(root / "idflow" / "tasks" / "report")
    path = root / "idflow" / "workflows" / "ingest.yaml.j2"
    lines = path.read_text().splitlines(keepends=True)
    start = lines.index(f"  - name: {prefix}_docflow_report\n")
    end = lines.index("outputParameters:\n")
    kept = [line for line in lines[:start] + lines[end:] if "${report.output" not in line]
    path.write_text("".join(kept))


def output_of(result) -> tuple[str, str, dict]:
    lines = result.stdout.splitlines()
    return lines[0], lines[1], json.loads("\n".join(lines[2:]))


def test_the_docflow_example_end_to_end(tmp_path, conductor_url, remote, unique):
    from conftest import Cli

    owner = f"{unique}@test.idflow"
    root = copy_example(tmp_path / "docflow", unique, owner)
    cli = Cli(root, {"CONDUCTOR_SERVER_URL": conductor_url, "NO_COLOR": "1"})
    names = {t: f"{unique}_docflow_{t}" for t in TASKS}
    started: list[str] = []
    workers = None
    try:
        result = cli("plan", "--detailed-exitcode")
        assert result.exit_code == 2, result.output
        assert "Plan: 8 to create, 0 to update, 0 to delete." in result.stdout  # 5 tasks, a workflow,
        assert f"+ event {unique}_docflow_ingest_requested" in result.stdout  # a handler
        assert f"+ schedule {unique}_docflow_nightly_sample" in result.stdout  # and a schedule
        result = cli("apply", "-y")
        assert result.exit_code == 0, result.output
        assert "Apply: 8 applied, 0 failed, 0 skipped." in result.stdout
        schedule = next(s for s in remote.list_schedules() if s["name"] == f"{unique}_docflow_nightly_sample")
        assert schedule["paused"] is True and schedule["zoneId"] == "Europe/Berlin"
        listed = cli("schedules", "list", "--sync")
        assert listed.exit_code == 0 and f"{unique}_docflow_nightly_sample" in listed.stdout, listed.output
        assert remote.get_task_def(names["normalize"])["totalTimeoutSeconds"] == 600
        assert cli("plan", "--detailed-exitcode").exit_code == 0

        workers = Workers(root, cli.env, "--all")
        workers.wait_for("workers started")
        children = descendants(workers.process.pid)
        assert len(children) >= len(TASKS)

        # The sample invoice: FORK_JOIN (classify, stats), then the SWITCH's invoice case.
        doc = str(uuid.uuid4())
        result = cli("stage", "run", "--stage", "ingest", "--doc-uuid", doc, "--wait", "--timeout", "120")
        workflow_id, status, output = output_of(result)
        started.append(workflow_id)
        assert result.exit_code == 0, result.output
        assert status == "status: COMPLETED"
        assert output["category"] == "invoice"
        assert output["total"] == "1469.06"
        assert output["words"] == 18
        assert output["top_words"] == ["amount", "consulting", "customer"]
        assert yaml.safe_load(output["report"]) == {
            "document": doc,
            "title": f"Document {doc[:8]}",
            "category": "invoice",
            "words": 18,
            "top_words": ["amount", "consulting", "customer"],
            "total": "1469.06 EUR",
        }
        workflow = remote.get_workflow(workflow_id)
        assert workflow["correlationId"] == f"ingest:{doc}"

        # A letter takes the SWITCH's default case: no amounts.
        letter = "Dear Ann,\n\nthank you for the flowers.\n\nSincerely, Bob"
        result = cli(
            "stage", "run", "--stage", "ingest", "--doc-uuid", str(uuid.uuid4()),
            "--input", f"text={letter}", "--input", "title=Thanks", "--wait",
        )  # fmt: skip
        workflow_id, status, output = output_of(result)
        started.append(workflow_id)
        assert result.exit_code == 0, result.output
        assert (status, output["category"], output["total"]) == ("status: COMPLETED", "letter", None)
        assert yaml.safe_load(output["report"])["title"] == "Thanks"
        for task in TASKS:
            assert f"task={names[task]}" in workers.log

        assert workers.stop(signal.SIGTERM) == 0, workers.log
        assert wait_gone(children) == set()

        # Remove a task locally and from the workflow: the workflow update goes first (a task a
        # workflow on the server still uses is held back), then purge deletes the orphan.
        drop_report_task(root, unique)
        result = cli("tasks", "purge", "--orphaned", "-y")
        assert result.exit_code == 0, result.output
        assert "Held back, in use (1):" in result.stdout and remote.get_task_def(names["report"]) is not None
        result = cli("apply", "--plan-now", "--only", "update", "-y")
        assert result.exit_code == 0, result.output
        assert "Apply: 1 applied" in result.stdout
        result = cli("tasks", "purge", "--orphaned", "-y")
        assert result.exit_code == 0, result.output
        assert f"applied: task {names['report']}" in result.stdout
        assert remote.get_task_def(names["report"]) is None
        assert all(remote.get_task_def(names[t]) is not None for t in TASKS if t != "report")
        result = cli("plan", "--detailed-exitcode")
        assert result.exit_code == 0, result.output
    finally:
        if workers is not None:
            workers.kill()
        forget_workflows(remote, started)
        forget_definitions(remote, unique)
