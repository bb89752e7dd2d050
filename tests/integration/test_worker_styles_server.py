"""Every worker style of conductor-python against the real server: planned, applied, converged, and run.

The task files are shaped like the SDK's own examples and tests (a ``WorkerInterface`` subclass, a
``Worker(...)`` object, a decorated ``@staticmethod``, one task decorated for two domains, a ``TaskDef``
whose name the SDK overrides), written here.
"""

from __future__ import annotations

import json
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.test_workers_stages import Workers, forget_definitions, forget_workflows

pytestmark = pytest.mark.integration

STYLES = {
    "classy": '''
        from conductor.client.http.models.task import Task
        from conductor.client.http.models.task_result import TaskResult
        from conductor.client.http.models.task_result_status import TaskResultStatus
        from conductor.client.worker.worker_interface import WorkerInterface


        class ClassyWorker(WorkerInterface):
            """A class worker."""

            def __init__(self):
                super().__init__("{u}_class")
                self.poll_interval = 100.0

            def execute(self, task: Task) -> TaskResult:
                result = self.get_task_result_from_task(task)
                result.add_output_data("style", "class")
                result.status = TaskResultStatus.COMPLETED
                return result
    ''',
    "objecty": '''
        from conductor.client.http.models import TaskDef
        from conductor.client.worker.worker import Worker


        def run(text: str) -> dict:
            """A Worker object's function."""
            return {{"style": "object", "text": text}}


        worker = Worker(
            task_definition_name="{u}_object",
            execute_function=run,
            poll_interval=100.0,
            task_def_template=TaskDef(name="{u}_object", retry_count=2, response_timeout_seconds=60),
        )
    ''',
    "staticky": '''
        from conductor.client.worker.worker_task import worker_task


        class Workers:
            @staticmethod
            @worker_task(task_definition_name="{u}_static")
            def shout(text: str) -> dict:
                """A static method worker."""
                return {{"style": "static", "text": text.upper()}}
    ''',
    "greet": '''
        from idflow import worker_task


        @worker_task(task_definition_name="{u}_greet", retry_count=1, response_timeout_seconds=60)
        def greet(text: str) -> dict:
            """Greets, in the default domain or in 'cool'."""
            return {{"style": "default", "text": text}}


        @worker_task(task_definition_name="{u}_greet", domain="cool")
        def greet_cool(text: str) -> dict:
            return {{"style": "cool", "text": text}}
    ''',
    "renamed": """
        from conductor.client.http.models import TaskDef
        from conductor.client.worker.worker_task import worker_task


        @worker_task(task_definition_name="{u}_renamed", task_def=TaskDef(name="{u}_other", retry_count=4))
        def renamed(text: str) -> dict:
            return {{"style": "renamed"}}
    """,
}
SUFFIXES = ("class", "object", "static", "greet", "renamed")


def write_styles(root: Path, unique: str) -> list[str]:
    for folder, source in STYLES.items():
        path = root / "idflow" / "tasks" / folder / f"{folder}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source.format(u=unique)).lstrip("\n"))
    return [f"{unique}_{s}" for s in SUFFIXES]


@pytest.fixture
def styles(cli_project, remote, unique):
    started: list[str] = []
    workers: list[Workers] = []
    yield cli_project, remote, unique, started, workers
    for w in workers:
        w.kill()
    forget_workflows(remote, started)
    forget_definitions(remote, unique)


def test_every_style_is_planned_applied_and_converges_and_none_is_an_orphan(styles):
    cli, remote, unique, _started, _workers = styles
    names = write_styles(cli.root, unique)
    # Live definitions of this project (its owner), as a server that ran these workers would have them.
    remote.create_task_defs([{"name": n, "ownerEmail": f"{unique}@test.idflow", "retryCount": 9} for n in names])

    result = cli("plan", "--format", "json", "-o", str(cli.root / "state" / "first.json"))
    assert result.exit_code == 0, result.output
    changes = {c["name"]: c["action"] for c in json.loads(result.stdout)["changes"]}
    assert {n: changes.get(n) for n in names} == dict.fromkeys(names, "update")  # none deleted, all read
    assert "TaskDef name" in result.stderr and f"{unique}_other" in result.stderr  # the note, with its place
    assert "note: idflow/tasks/renamed/renamed.py:5:" in result.stderr

    assert cli("apply", "--plan-now", "-y").exit_code == 0
    again = cli("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output

    on_server = {t["name"]: t for t in remote.list_task_defs() if t["name"].startswith(unique)}
    assert sorted(on_server) == sorted(names)  # the TaskDef's own name was not created
    assert on_server[f"{unique}_object"]["retryCount"] == 2
    assert on_server[f"{unique}_renamed"]["retryCount"] == 4
    assert on_server[f"{unique}_greet"]["retryCount"] == 1
    assert on_server[f"{unique}_class"]["description"] == "A class worker."


def wait_done(remote, workflow_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workflow = remote.get_workflow(workflow_id)
        if workflow["status"] != "RUNNING":
            return workflow
        time.sleep(0.2)
    raise AssertionError(f"workflow {workflow_id} still running after {timeout}s")


def test_worker_start_runs_every_style_and_both_domain_workers(styles):
    cli, remote, unique, started, workers = styles
    write_styles(cli.root, unique)
    refs = {s: f"{s}_ref" for s in SUFFIXES if s != "renamed"}
    flow = {
        "name": f"{unique}_flow",
        "version": 1,
        "tasks": [
            {"name": f"{unique}_{s}", "taskReferenceName": ref, "inputParameters": {"text": "${workflow.input.text}"}}
            for s, ref in refs.items()
        ],
        "outputParameters": {s: f"${{{ref}.output.style}}" for s, ref in refs.items()},
    }
    (cli.root / "idflow" / "workflows").mkdir(parents=True)
    (cli.root / "idflow" / "workflows" / "flow.json").write_text(json.dumps(flow))
    assert cli("apply", "--plan-now", "-y").exit_code == 0

    w = Workers(cli.root, cli.env, f"{unique}_class", f"{unique}_object", f"{unique}_static", f"{unique}_greet")
    workers.append(w)
    w.wait_for("worker started", count=5)  # greet twice: one per domain
    time.sleep(0.5)  # a sixth would be logged by now
    assert w.log.count("worker started") == 5, w.log
    assert "domain=cool" in w.log

    outputs = {}
    for routing in ({}, {f"{unique}_greet": "cool"}):
        body = {"name": flow["name"], "version": 1, "input": {"text": "hi"}, "correlationId": str(uuid.uuid4()),
                "taskToDomain": routing}  # fmt: skip
        workflow_id = str(remote._call("POST", "/workflow", body=body, retry_writes=False))
        started.append(workflow_id)
        done = wait_done(remote, workflow_id)
        assert done["status"] == "COMPLETED", (done, w.log)
        outputs[bool(routing)] = done["output"]
    assert outputs[False] == {"class": "class", "object": "object", "static": "static", "greet": "default"}
    assert outputs[True]["greet"] == "cool"  # the domain worker ran it
    assert w.stop() == 0, w.log
    assert "Traceback" not in w.log, w.log
