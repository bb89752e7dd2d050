"""Workers and stages against the real server: running tasks, clean stops, rerun refusal, failures."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.processes]


# -- helpers shared with test_example_e2e -----------------------------------------------------------


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process from /proc, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (psutil when installed, else /proc)."""
    try:
        import psutil  # type: ignore[import-not-found]

        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except ImportError:
        pass
    except Exception:
        return set()
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[0] not in ("Z", "X"):
                parents[int(entry)] = stat[1]
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def idflow_command() -> list[str]:
    """How a user runs idflow: the console script next to this interpreter.

    (``python -m idflow.cli`` run inside a project folder can pick up the project's ``idflow/`` folder
    as a namespace package instead of an editable install of idflow.)
    """
    script = Path(sys.executable).with_name("idflow")
    return [str(script)] if script.exists() else [sys.executable, "-m", "idflow.cli"]


class Workers:
    """``idflow worker start`` as a real process (its own session), with its log in a file."""

    def __init__(self, root: Path, env: dict[str, str], *args: str):
        self.log_path = root / "state" / f"worker-{uuid.uuid4().hex[:6]}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        command = [*idflow_command(), "--config", str(root / "config" / "idflow.yml")]
        self.process = subprocess.Popen(
            [*command, "worker", "start", *args],
            cwd=root if len(command) == 3 else root.parent,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 60, count: int = 1) -> None:
        """Until ``text`` is in the log ``count`` times (the process logs each worker as it starts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log.count(text) >= count:
                return
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited ({self.process.returncode}) before {text!r}:\n{self.log}")
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} within {timeout}s:\n{self.log}")

    def stop(self, sig: int = signal.SIGTERM, group: bool = False, timeout: float = 30) -> int:
        if self.process.poll() is None:
            if group:
                os.killpg(self.process.pid, sig)
            else:
                self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        """Last-resort cleanup: the whole session, whatever is left of it."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        if not self._log.closed:
            self._log.close()


def wait_gone(pids: set[int], timeout: float = 10) -> set[int]:
    deadline = time.monotonic() + timeout
    left = {p for p in pids if alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {p for p in left if alive(p)}
    return left


def forget_workflows(remote, workflow_ids) -> None:
    """Terminate what still runs and remove the executions (best effort)."""
    for workflow_id in workflow_ids:
        for method, path, query in (
            ("DELETE", f"/workflow/{workflow_id}", {"reason": "test cleanup"}),
            ("DELETE", f"/workflow/{workflow_id}/remove", None),
        ):
            with contextlib.suppress(Exception):
                remote._call(method, path, query=query)


def forget_definitions(remote, prefix: str) -> None:
    for schedule in remote.list_schedules():
        if schedule["name"].startswith(prefix):
            remote.delete_schedule(schedule["name"])
    for handler in remote.list_event_handlers():
        if handler["name"].startswith(prefix):
            remote.delete_event_handler(handler["name"])
    for workflow in remote.list_workflow_defs():
        if workflow["name"].startswith(prefix):
            remote.delete_workflow_def(workflow["name"], workflow["version"])
    for task in remote.list_task_defs():
        if task["name"].startswith(prefix):
            remote.delete_task_def(task["name"])


# -- a small project --------------------------------------------------------------------------------

ECHO = '''\
from idflow import worker_task


@worker_task(task_definition_name={name!r}, retry_count=0, timeout_seconds=60, response_timeout_seconds=30)
def echo(text: str) -> dict:
    """Upper-case the text (and fail for "boom")."""
    if text == "boom":
        raise ValueError("boom requested")
    return {{"echo": text.upper(), "pid": __import__("os").getpid()}}
'''


def write_project(cli, unique: str, workflow_tasks: list[dict] | None = None) -> dict[str, str]:
    """An echo task, a workflow using it (or ``workflow_tasks``), and a stage ``run`` for it."""
    names = {"task": f"{unique}_echo", "workflow": f"{unique}_flow"}
    folder = cli.root / "idflow" / "tasks" / "echo"
    folder.mkdir(parents=True)
    (folder / "echo.py").write_text(ECHO.format(name=names["task"]))
    tasks = workflow_tasks or [
        {"name": names["task"], "taskReferenceName": "echo", "inputParameters": {"text": "${workflow.input.text}"}}
    ]
    workflows = cli.root / "idflow" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "flow.json").write_text(
        json.dumps(
            {
                "name": names["workflow"],
                "version": 1,
                "tasks": tasks,
                "outputParameters": {"echo": "${echo.output.echo}", "pid": "${echo.output.pid}"},
            }
        )
    )
    stages = cli.root / "idflow" / "stages"
    stages.mkdir(parents=True)
    (stages / "run.yml").write_text(
        f"workflow: {{name: {names['workflow']}, version: 1}}\ninput:\n  text: '{{{{ text | default(doc_uuid) }}}}'\n"
    )
    result = cli("apply", "--plan-now", "-y")
    assert result.exit_code == 0, result.output
    return names


@pytest.fixture
def flow(cli_project, remote, unique):
    started: list[str] = []
    workers: list[Workers] = []
    yield cli_project, remote, unique, started, workers
    for w in workers:
        w.kill()
    forget_workflows(remote, started)
    forget_definitions(remote, unique)


def stage_run(cli, *args: str):
    result = cli("stage", "run", "--stage", "run", *args)
    lines = result.stdout.splitlines()
    return result, (lines[0] if lines else None)


# -- tests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "Ctrl-C to the process group"])
def test_workers_run_tasks_and_stop_cleanly_leaving_no_process(flow, how):
    cli, _remote, _unique, started, workers = flow
    names = write_project(cli, _unique)
    w = Workers(cli.root, cli.env, "--all")
    workers.append(w)
    w.wait_for("workers started")
    children = descendants(w.process.pid)
    assert len(children) >= 2, f"expected a logger and a worker process, found {children}"

    doc = str(uuid.uuid4())
    result, workflow_id = stage_run(cli, "--doc-uuid", doc, "--input", "text=hello", "--wait", "--timeout", "60")
    started.append(workflow_id)
    assert result.exit_code == 0, result.output
    output = json.loads("\n".join(result.stdout.splitlines()[2:]))
    assert output["echo"] == "HELLO"
    assert output["pid"] in children  # the task ran in a worker process, not in the parent
    w.wait_for("task completed")
    assert f"task={names['task']}" in w.log and "task polled" in w.log and "worker started" in w.log

    sig = signal.SIGTERM if how == "SIGTERM" else signal.SIGINT
    code = w.stop(sig, group=how.startswith("Ctrl-C"))
    assert code == 0, w.log
    assert "workers stopped" in w.log
    assert wait_gone(children) == set(), f"orphaned worker processes after {how}"
    assert "Traceback" not in w.log, w.log


def test_threads_run_every_worker_in_the_one_process(flow):
    cli, _remote, unique, started, workers = flow
    write_project(cli, unique)
    w = Workers(cli.root, cli.env, "--all", "--threads")
    workers.append(w)
    w.wait_for("workers started")
    assert "mode=threads" in w.log
    result, workflow_id = stage_run(cli, "--doc-uuid", str(uuid.uuid4()), "--input", "text=x", "--wait")
    started.append(workflow_id)
    assert result.exit_code == 0, result.output
    assert json.loads("\n".join(result.stdout.splitlines()[2:]))["pid"] == w.process.pid
    assert descendants(w.process.pid) == set()

    result, workflow_id = stage_run(cli, "--doc-uuid", str(uuid.uuid4()), "--input", "text=boom", "--wait")
    started.append(workflow_id)
    assert result.exit_code == 1 and "status: FAILED" in result.stdout
    assert "boom requested" in result.stderr
    w.wait_for("task failed")
    assert "error='ValueError: boom requested'" in w.log or "error=ValueError: boom requested" in w.log, w.log

    assert w.stop(signal.SIGTERM) == 0, w.log
    assert "workers stopped" in w.log


def test_worker_start_refuses_missing_requirements_with_exit_1(flow):
    cli, _remote, unique, _started, _workers = flow
    write_project(cli, unique)
    (cli.root / "idflow" / "tasks" / "echo" / "requirements.txt").write_text("pyyaml>=6\nidflow-no-such-pkg>=1\n")
    done = subprocess.run(
        [*idflow_command(), "--config", str(cli.config_path), "worker", "start", "--all"],
        env={**os.environ, **cli.env},
        cwd=cli.root.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert f"1 requirement(s) of {unique}_echo not met" in done.stderr
    assert f"{unique}_echo: idflow-no-such-pkg>=1: missing" in done.stderr
    assert "workers started" not in done.stderr


def test_a_second_run_is_refused_while_the_first_runs_unless_allowed(flow):
    cli, remote, unique, started, _workers = flow
    names = write_project(cli, unique)  # no worker runs: the workflow stays RUNNING
    doc = str(uuid.uuid4())

    result, first = stage_run(cli, "--doc-uuid", doc)
    assert result.exit_code == 0, result.output
    started.append(first)
    workflow = remote.get_workflow(first)
    assert (workflow["status"], workflow["correlationId"]) == ("RUNNING", f"run:{doc}")
    assert workflow["input"] == {"text": doc}

    result, _ = stage_run(cli, "--doc-uuid", doc.upper())  # the same document, spelled differently
    assert result.exit_code == 1
    assert f"stage run is already running for {doc}: {first} (RUNNING)" in result.stderr
    assert "--allow-rerun" in result.stderr
    assert [w["workflowId"] for w in remote.running_workflows_by_correlation(names["workflow"], f"run:{doc}")] == [
        first
    ]

    result, second = stage_run(cli, "--doc-uuid", doc, "--allow-rerun")
    assert result.exit_code == 0, result.output
    started.append(second)
    assert second != first

    result, other = stage_run(cli, "--doc-uuid", str(uuid.uuid4()))  # another document is not blocked
    assert result.exit_code == 0, result.output
    started.append(other)

    result, waited = stage_run(cli, "--doc-uuid", str(uuid.uuid4()), "--wait", "--timeout", "1")
    started.append(waited)
    assert result.exit_code == 1
    assert f"workflow {waited} is still RUNNING after 1s" in result.stderr


def test_wait_exits_1_when_the_workflow_fails(flow):
    cli, _remote, unique, started, _workers = flow
    terminate = {
        "name": "stop_here",
        "taskReferenceName": "stop_here",
        "type": "TERMINATE",
        "inputParameters": {"terminationStatus": "FAILED", "terminationReason": "bad document ${workflow.input.text}"},
    }
    write_project(cli, unique, workflow_tasks=[terminate])
    result, workflow_id = stage_run(cli, "--doc-uuid", str(uuid.uuid4()), "--input", "text=7", "--wait")
    started.append(workflow_id)
    assert result.exit_code == 1
    assert "status: FAILED" in result.stdout
    assert f"workflow {workflow_id} FAILED: bad document 7" in result.stderr


def test_stage_for_a_workflow_the_server_lacks_is_one_clean_error(flow):
    cli, _remote, unique, _started, _workers = flow
    stages = cli.root / "idflow" / "stages"
    stages.mkdir(parents=True)
    (stages / "run.yml").write_text(f"workflow: {unique}_absent\n")
    result, _ = stage_run(cli, "--doc-uuid", str(uuid.uuid4()))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr
