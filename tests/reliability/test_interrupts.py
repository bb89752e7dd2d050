"""Interruptions, the server's apply lock, idflow's own state files and the local server (issue 13: 4, 9,
11, 13, 14).

The interruption cases run ``idflow apply`` as a real subprocess against the real server behind the fault
proxy, hold one request with a proxy delay, and send SIGTERM or SIGINT while it is held.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from idflow.apply.server_lock import LOCK_VERSION, LOCK_WORKFLOW
from tests.faultproxy import FaultProxy
from tests.reliability.conftest import REPO, Project
from tests.reliability.test_faults import TASKDEFS, body_has, planned_updates, retry_counts, short

pytestmark = pytest.mark.integration

LOCK_CREATE = r"/metadata/workflow$"
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


def start_apply(project: Project, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in {**os.environ, **project.env()}.items() if v is not None}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-m", "idflow", "--config", str(project.config_path), "apply", "-y", *args],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_held(proxy: FaultProxy, process: subprocess.Popen[str], timeout: float = 60) -> None:
    """Until the proxy holds a delayed request of ``process``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(r.action == "delay" for r in proxy.requests):
            return
        if process.poll() is not None:
            raise AssertionError(f"apply ended before the held request: {process.communicate()}")
        time.sleep(0.02)
    process.kill()
    raise AssertionError("the request to hold never came")


def lock_on(server: Any) -> dict[str, Any] | None:
    return server.get_workflow_def(LOCK_WORKFLOW, LOCK_VERSION)


def next_apply_is_immediate(project: Project) -> float:
    """A fresh checkout (no state/.server-lock) applies a new plan at once: nothing waits for a lock."""
    (project.state_dir / ".server-lock").unlink(missing_ok=True)
    began = time.monotonic()
    run = project("apply", "--plan-now", "-y")
    seconds = time.monotonic() - began
    assert run.exit_code == 0, run.output
    assert "waiting for another apply" not in run.output, run.output
    return seconds


@pytest.mark.processes
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_the_writes(project, proxy, server, unique, scenario, sig):
    name = signal.Signals(sig).name
    obs = scenario(
        f"{name} reaches `idflow apply --parallelism 1` (a subprocess) while the second of 6 updates is held "
        "in flight by the proxy",
        f"the write in flight finishes, no new one starts; the report lists exactly what landed; the server's "
        f"lock is released; exit {EXIT[sig]}; the next apply (from a fresh checkout) proceeds at once",
    )
    u = planned_updates(project, unique, 6)
    proxy.add_rule("PUT", TASKDEFS, "delay", delay=2.0, body_regex=body_has(u[1]))
    process = start_apply(project, "--parallelism", "1")
    wait_for_held(proxy, process)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == EXIT[sig], stdout + stderr
    assert "Traceback" not in stderr, stderr
    assert lock_on(server) is None, "the server's lock was left behind"
    assert not (project.state_dir / ".server-lock").exists()
    assert not (project.state_dir / ".lock").read_text().strip(), "the checkout's lock still names a holder"
    report = project.last_report()
    assert report["interrupted"] == name
    status = {r["name"]: r["status"] for r in report["results"]}
    applied = sorted(n for n, s in status.items() if s == "applied")
    skipped = sorted(n for n, s in status.items() if s == "skipped")
    now = retry_counts(server, u)
    assert sorted(status) == sorted(u), status
    assert applied == sorted(u[:2]) and skipped == sorted(u[2:]), status
    assert [n for n in u if now[n] == 5] == applied, now  # the report is exactly what landed
    assert f"apply interrupted by {name}" in stderr and "Report:" in stdout, stdout + stderr
    seconds = next_apply_is_immediate(project)
    assert set(retry_counts(server, u).values()) == {5}
    obs.observed = (
        f"exit {process.returncode}; report (interrupted: {name}): applied {short(applied, unique)}, skipped "
        f"{short(skipped, unique)} as not started; the server holds exactly those; no lock on the server; "
        f"the next apply from a fresh checkout finished in {seconds:.1f}s"
    )


@pytest.mark.processes
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_the_lock_create(project, proxy, server, unique, scenario, sig):
    name = signal.Signals(sig).name
    obs = scenario(
        f"{name} reaches `idflow apply` while its create of the server's lock is held by the proxy (it reaches "
        "the server after the signal)",
        f"the create finishes and its lock is deleted again; nothing else written; exit {EXIT[sig]}; the same "
        "saved plan then applies at once from a fresh checkout",
    )
    u = planned_updates(project, unique, 2)
    proxy.add_rule("POST", LOCK_CREATE, "delay", delay=2.0, body_regex=LOCK_WORKFLOW)
    proxy.reset_counters()
    reports = project.reports()
    process = start_apply(project)
    wait_for_held(proxy, process)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == EXIT[sig], stdout + stderr
    assert "Traceback" not in stderr, stderr
    assert lock_on(server) is None, "the lock whose create was interrupted was left behind"
    assert proxy.count("POST", LOCK_CREATE, forwarded=True) == 1, "the held create did reach the server"
    assert proxy.count("DELETE", rf"/metadata/workflow/{LOCK_WORKFLOW}/1$", forwarded=True) == 1
    assert proxy.count("PUT", TASKDEFS) == 0 and set(retry_counts(server, u).values()) == {3}
    assert project.reports() == reports, "a report although nothing was written"
    (project.state_dir / ".server-lock").unlink(missing_ok=True)  # a fresh CI checkout
    proxy.clear_rules()
    began = time.monotonic()
    again = project("apply", "-y")
    seconds = time.monotonic() - began
    assert again.exit_code == 0 and "waiting for another apply" not in again.output, again.output
    assert set(retry_counts(server, u).values()) == {5}
    obs.observed = (
        f"exit {process.returncode}; the held create reached the server and the interrupted apply deleted that "
        f"lock itself; no task written, no report; the same plan applied from a fresh checkout in {seconds:.1f}s"
    )


@pytest.mark.processes
def test_ctrl_c_while_waiting_for_another_apply(project, proxy, server, unique, scenario):
    from datetime import UTC, datetime

    from idflow.apply.server_lock import lock_definition

    obs = scenario(
        "Ctrl-C while `idflow apply` waits for another apply's server lock",
        "stops waiting at once, exit 130, the other apply's lock untouched, nothing written",
    )
    u = planned_updates(project, unique, 1)
    other = lock_definition("another-apply", "idflow apply elsewhere", datetime.now(UTC))
    server.create_workflow_def(other)
    try:
        proxy.reset_counters()
        process = start_apply(project)
        deadline = time.monotonic() + 60
        while proxy.count("POST", LOCK_CREATE) < 2 and time.monotonic() < deadline:  # it is retrying
            time.sleep(0.05)
        began = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
        seconds = time.monotonic() - began
        assert process.returncode == 130, stdout + stderr
        assert "another-apply" in json.dumps(lock_on(server)), "the other apply's lock was touched"
        assert retry_counts(server, u) == {u[0]: 3}
    finally:
        server.delete_workflow_def(LOCK_WORKFLOW, LOCK_VERSION)
    obs.observed = f"exit 130 {seconds:.1f}s after the signal; the other lock still there; nothing written"


# -- item 14: a lock that does not go away --------------------------------------------------------


def test_an_unreadable_lock_that_survives_its_delete(project, proxy, tmp_path, unique, scenario):
    from idflow.config import load_config
    from idflow.errors import LockError
    from idflow.plan.file import read_plan
    from idflow.reconcile import apply_saved_plan
    from idflow.server.client import ConductorRemote

    obs = scenario(
        "A hostile server (the proxy answering for it) keeps returning a lock whose description is not "
        "JSON, answers its DELETE with 200 and never removes it; apply waits at most 3 s",
        "LockError naming the lock within the wait (no endless loop); a bounded number of deletes; no task write",
    )
    project.write_task(f"{unique}_a")
    assert project("plan").exit_code == 0
    lock_path = rf"/metadata/workflow/{LOCK_WORKFLOW}/1$"
    unreadable = {"name": LOCK_WORKFLOW, "version": 1, "description": "{not json", "tasks": []}
    proxy.add_rule("POST", LOCK_CREATE, "status", status=409)
    proxy.add_rule("GET", rf"/metadata/workflow/{LOCK_WORKFLOW}$", "respond", body=unreadable)
    proxy.add_rule("DELETE", lock_path, "respond", body={})
    config = load_config(cwd=project.root, environ={"CONDUCTOR_SERVER_URL": proxy.api_url})
    plan, _applied = read_plan(project.plan_path)
    began = time.monotonic()
    with pytest.raises(LockError) as refused:
        apply_saved_plan(config, ConductorRemote(config), plan, project.plan_path, lock_wait=3)
    seconds = time.monotonic() - began
    deletes = proxy.count("DELETE", lock_path)
    assert seconds < 30, seconds
    assert "still there after" in str(refused.value)
    assert 1 <= deletes <= 3 / 0.5 + 2, deletes
    assert proxy.count("POST", TASKDEFS) == 0
    obs.observed = f"LockError after {seconds:.1f}s and {deletes} deletes: `{str(refused.value)[:140]}...`"


# -- item 13: names the server cannot delete -------------------------------------------------------


def test_a_name_with_a_slash_is_reported_once_and_does_not_fail_applies(project, server, unique, scenario):
    obs = scenario(
        "An orphaned task of ours whose name contains '/' (the server rejects %2F, so it cannot be deleted)",
        "the plan says once that it cannot be deleted and plans no delete; apply and the next plans succeed",
    )
    slashed = f"{unique}/team"
    server.create_task_defs([{"name": slashed, "ownerEmail": project.owner, "responseTimeoutSeconds": 10}])
    project.write_task(f"{unique}_kept")
    plan = project("plan", "--format", "json")
    assert plan.exit_code == 0, plan.output
    doc = json.loads(plan.stdout)
    assert slashed not in [c["name"] for c in doc["changes"]]
    said = [w for w in doc["warnings"] if slashed in w]
    assert len(said) == 1 and "cannot delete a name containing '/'" in said[0], doc["warnings"]
    text = project("plan")
    assert text.output.count(slashed) == 1, text.output
    assert project("apply", "-y").exit_code == 0
    again = project("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert slashed in [d.get("name") for d in server.list_task_defs()]  # GET by name rejects %2F too
    obs.observed = f"one warning (`{said[0][:110]}...`), no delete planned; apply exit 0; next plan: exit 0"


# -- item 9: state files are never followed through links -----------------------------------------


@pytest.mark.parametrize("name", [".lock", ".server-lock"])
def test_state_files_linked_elsewhere(project, proxy, unique, tmp_path, scenario, name):
    obs = scenario(
        f"`state/{name}` is a symbolic link to another file of the user's",
        "apply refuses in one line, exit 1; the linked file is untouched; nothing written to the server",
    )
    project.write_task(f"{unique}_a")
    assert project("plan").exit_code == 0
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n")
    (project.state_dir / name).symlink_to(victim)
    proxy.reset_counters()
    run = project("apply", "-y")
    assert run.exit_code == 1, run.output
    line = run.error_line()
    assert "symbolic link" in line and name in line, line
    assert victim.read_text() == "keep me\n"
    assert proxy.count("POST", TASKDEFS) == 0 and proxy.count("PUT", TASKDEFS) == 0
    obs.observed = f"exit 1, `{line.replace(str(project.root), '<project>')}`; the linked file unchanged"


# -- item 11: server stop signals only what idflow started ----------------------------------------


@pytest.mark.processes
@pytest.mark.parametrize("how", ["old pid file", "reused pid"])
def test_server_stop_does_not_signal_another_process(tmp_path, scenario, how):
    from click.testing import CliRunner

    from idflow.cli import cli
    from idflow.server.local import PID_FILE, process_identity

    obs = scenario(
        f"`idflow server stop` with a pid file naming another process of the user's ({how})",
        "refuses in one line naming the pid, exit 1; the process keeps running",
    )
    victim = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        data = tmp_path / "server"
        data.mkdir()
        node: dict[str, Any] = {"number": 1, "pid": victim.pid, "port": 1, "url": "http://127.0.0.1:1/api"}
        if how == "reused pid":  # recorded by a start: same pid, another process (start time differs)
            found = process_identity(victim.pid)
            assert found is not None
            node.update(starttime=found[0] - 1, cmdline=["java", "-jar", "conductor-server-boot.jar"])
        (data / PID_FILE).write_text(json.dumps({**node, "started_at": 0, "backend": "sqlite", "nodes": [node]}))
        result = CliRunner().invoke(cli, ["server", "stop", "--data-dir", str(data)], catch_exceptions=False)
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert result.exit_code == 1, result.output
        assert len(lines) == 1 and f"pid {victim.pid}" in lines[0] and "not the server idflow started" in lines[0]
        time.sleep(0.3)
        assert victim.poll() is None, "the other process was signalled"
        status = CliRunner().invoke(cli, ["server", "status", "--data-dir", str(data)])
        assert status.output.startswith("not running"), status.output
    finally:
        victim.kill()
        victim.wait()
    obs.observed = f"exit 1, `{lines[0].replace(str(tmp_path), '<tmp>')[:160]}`; the process still ran"
