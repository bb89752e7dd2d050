"""Faults between idflow and a real Conductor server, injected by ``tests/faultproxy.py``.

Every test runs the CLI (in-process) or the core against the proxy in front of the real server, states
its scenario through the ``scenario`` fixture, and records what it observed for docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.faultproxy import FaultProxy
from tests.reliability.conftest import REPO, Project, delete_tasks

pytestmark = pytest.mark.integration

TASKDEFS = r"/metadata/taskdefs$"


def body_has(name: str) -> str:
    """A ``body_regex`` matching the request that carries the definition of task ``name``."""
    return rf'"name":\s*"{re.escape(name)}"'


def pending(doc: dict[str, Any]) -> list[str]:
    return sorted(c["name"] for c in doc["changes"] if c["action"] != "no-op")


def retry_counts(remote: Any, names: list[str]) -> dict[str, int | None]:
    found = {n: remote.get_task_def(n) for n in names}
    return {n: (d or {}).get("retryCount") for n, d in found.items()}


def short(names: list[str], unique: str) -> str:
    return ", ".join(n.removeprefix(unique + "_") for n in names) or "none"


# -- unreachable, 5xx, resets ---------------------------------------------------------------------


def planned_updates(project: Project, unique: str, count: int, new: tuple[str, ...] = ()) -> list[str]:
    """``count`` tasks applied to the server, then changed locally (plus ``new`` ones) and planned."""
    names = [f"{unique}_u{i}" for i in range(count)]
    for name in names:
        project.write_task(name)
    first = project("apply", "--plan-now", "-y")
    assert first.exit_code == 0, first.output
    for name in names + list(new):
        project.write_task(name, retry_count=5)
    assert project("plan").exit_code == 0
    return names


def test_unreachable_server_during_plan_writes_no_plan(project, proxy, server, unique, scenario):
    obs = scenario(
        "Server unreachable during `idflow plan` (connection refused)",
        "one-line error naming the URL, exit 1; no plan file written; an existing plan file byte-for-byte untouched",
    )
    project.configure(timeout=2, retries=1)
    project.write_task(f"{unique}_a")
    assert project("plan").exit_code == 0
    before = project.plan_path.read_bytes()
    mtime = project.plan_path.stat().st_mtime_ns
    project.write_task(f"{unique}_b")  # the next plan would differ

    proxy.set_down(True)
    run = project("plan")
    other = project.state_dir / "other-plan.json"
    run_other = project("plan", "-o", str(other))

    line = run.error_line()
    assert run.exit_code == 1 and run_other.exit_code == 1
    assert "cannot reach the server" in line and f"{proxy.api_url}/metadata/taskdefs" in line
    assert project.plan_path.read_bytes() == before and project.plan_path.stat().st_mtime_ns == mtime
    assert not other.exists()
    # No temp file left behind (the read cache, written while reading the files, is not the plan's).
    assert sorted(p.name for p in project.state_dir.iterdir()) == ["cache", "plan.json"]
    assert not [p for p in (project.state_dir / "cache").iterdir() if p.name.startswith(".")]
    obs.observed = (
        f"exit {run.exit_code} after {run.seconds:.1f}s: `{line}`; plan.json unchanged ({len(before)} bytes); "
        "`-o` file not created; no temp files"
    )


@pytest.mark.processes
def test_unreachable_server_with_an_api_key_is_still_one_line(project, proxy, scenario):
    obs = scenario(
        "Server unreachable, with CONDUCTOR_AUTH_KEY/SECRET set (the SDK first asks for a token), in a real "
        "`python -m idflow.cli plan` process",
        "one line on stderr (the SDK's own log line about the failed token request is not printed), exit 1",
    )
    project.configure(timeout=2, retries=0)
    proxy.set_down(True)
    env = {
        **{k: v for k, v in project.env().items() if v is not None},
        "PATH": "/usr/bin:/bin",
        "HOME": str(project.root),
        "CONDUCTOR_AUTH_KEY": "some-key",
        "CONDUCTOR_AUTH_SECRET": "some-secret",
    }
    command = [sys.executable, "-m", "idflow.cli", "--config", str(project.config_path), "plan"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=60, check=False)
    lines = done.stderr.strip().splitlines()
    obs.observed = f"exit {done.returncode}, {len(lines)} line(s) on stderr: " + " / ".join(f"`{x}`" for x in lines)
    assert done.returncode == 1
    assert len(lines) == 1 and lines[0].startswith("Error: GET ") and "cannot reach the server" in lines[0]


@pytest.mark.parametrize(
    ("status", "times", "retries"),
    [(503, 2, 3), (502, 1, 1), (504, 3, 3), (503, None, 2), (500, 1, 3)],
    ids=["503x2-retries3", "502x1-retries1", "504x3-retries3", "503-always-retries2", "500x1-retries3"],
)
def test_5xx_burst_during_plan(project, proxy, server, unique, scenario, status, times, retries):
    burst = "always" if times is None else f"{times}x"
    transient = status in (502, 503, 504)
    recovers = transient and times is not None and times <= retries
    obs = scenario(
        f"HTTP {status} {burst} on both reads of `idflow plan` (retries: {retries})",
        "retried; the plan equals the plan made without faults"
        if recovers
        else (
            f"{retries + 1} attempts, then a one-line error, exit 1, no plan file"
            if transient
            else "not retried (500 is not transient): one-line error, exit 1, no plan file"
        ),
    )
    project.configure(timeout=5, retries=retries)
    upd, new = f"{unique}_upd", f"{unique}_new"
    server.create_task_defs([{"name": upd, "ownerEmail": project.owner, "retryCount": 1}])
    project.write_task(upd, retry_count=2)
    project.write_task(new)
    reference = project("plan", "--format", "json", "-o", str(project.state_dir / "reference.json"))
    assert reference.exit_code == 0, reference.output
    expected_changes = json.loads(reference.stdout)["changes"]
    proxy.reset_counters()

    proxy.add_rule("GET", TASKDEFS, "status", status=status, times=times)
    proxy.add_rule("GET", r"/metadata/workflow$", "status", status=status, times=times)
    run = project("plan", "--format", "json")
    reads = proxy.count("GET", TASKDEFS)
    if recovers:
        assert run.exit_code == 0, run.output
        assert json.loads(run.stdout)["changes"] == expected_changes
        assert reads == times + 1
        assert pending(json.loads(project.plan_path.read_text())) == sorted([upd, new])
        obs.observed = (
            f"exit 0 after {reads} reads of /metadata/taskdefs; plan identical to the fault-free one "
            f"(update {short([upd], unique)}, create {short([new], unique)})"
        )
    else:
        line = run.error_line()
        assert run.exit_code == 1 and not project.plan_path.exists()
        assert reads == (retries + 1 if transient else 1)
        assert f"HTTP {status}" in line
        obs.observed = f"exit 1 after {reads} read(s): `{line}`; no plan file"


def test_faults_on_some_updates_during_apply(project, proxy, server, unique, scenario):
    obs = scenario(
        "6 task updates and 2 creates applied in parallel while one update gets 503 twice, and four fail "
        "every time: reset before the server sees it, 503, reset after the server applied it, 500 (retries: 2)",
        "the others applied; failures reported; the report matches the server (the reset whose answer was lost "
        "is read back and reported applied); a new plan + apply converges",
    )
    project.configure(timeout=5, retries=2)
    c = [f"{unique}_c{i}" for i in range(2)]
    u = planned_updates(project, unique, 6, new=tuple(c))
    assert pending(project.plan_doc()) == sorted(u + c)

    rules = {
        u[1]: proxy.add_rule("PUT", TASKDEFS, "status", status=503, times=2, body_regex=body_has(u[1])),
        u[2]: proxy.add_rule("PUT", TASKDEFS, "reset_before", body_regex=body_has(u[2])),
        u[3]: proxy.add_rule("PUT", TASKDEFS, "status", status=503, body_regex=body_has(u[3])),
        u[4]: proxy.add_rule("PUT", TASKDEFS, "reset", body_regex=body_has(u[4])),
        u[5]: proxy.add_rule("PUT", TASKDEFS, "status", status=500, body_regex=body_has(u[5])),
    }
    run = project("apply", "-y", "--parallelism", "8")
    assert run.exit_code == 1, run.output
    assert "Error: 3 change(s) failed" in run.stderr and "Traceback" not in run.output, run.output

    report = project.last_report()
    status = {r["name"]: r["status"] for r in report["results"]}
    detail = {r["name"]: r["detail"] for r in report["results"]}
    assert status == {
        **{name: "applied" for name in (u[0], u[1], u[4], *c)},
        **{name: "failed" for name in (u[2], u[3], u[5])},
    }
    assert report["summary"] == {"applied": 5, "failed": 3, "skipped": 0}
    for name in (u[2], u[3], u[5]):
        assert f"failed: task {name}:" in run.stdout
    now = retry_counts(server, u + c)
    assert {n: now[n] == 5 for n in status} == {n: s == "applied" for n, s in status.items()}, now
    assert detail[u[4]].startswith("confirmed on the server after:")  # the server applied it, the answer was lost

    proxy.clear_rules()
    replan = project("plan", "--format", "json")
    assert replan.exit_code == 0, replan.output
    assert pending(json.loads(replan.stdout)) == sorted([u[2], u[3], u[5]])
    again = project("apply", "-y")
    assert again.exit_code == 0, again.output
    final = project("plan", "--detailed-exitcode")
    assert final.exit_code == 0 and "No changes." in final.stdout
    assert set(retry_counts(server, u + c).values()) == {5}
    attempts = {short([n], unique): rule.hits for n, rule in rules.items()}
    obs.observed = (
        f"exit 1; report: applied {short([u[0], u[1], u[4], *c], unique)}, failed {short([u[2], u[3], u[5]], unique)}; "
        f"the server matches the report for all 8 (u4: `{detail[u[4]][:60]}...`); faulted requests per task "
        f"{attempts} (a reset PUT is re-sent once by the SDK itself); "
        f"re-plan: {short(pending(json.loads(replan.stdout)), unique)}; after apply: No changes"
    )


def test_503_on_one_update_with_retries_0_is_not_retried(project, proxy, server, unique, scenario):
    obs = scenario(
        "One 503 on one of three updates with `retries: 0` in the config",
        "no retry: that update fails after one request (the read-back finds it unchanged), the other two are "
        "applied; the next plan + apply converges",
    )
    project.configure(timeout=5, retries=0)
    u = planned_updates(project, unique, 3)
    rule = proxy.add_rule("PUT", TASKDEFS, "status", status=503, times=1, body_regex=body_has(u[1]))
    run = project("apply", "-y")
    assert run.exit_code == 1, run.output
    report = project.last_report()
    assert {r["name"]: r["status"] for r in report["results"]} == {u[0]: "applied", u[1]: "failed", u[2]: "applied"}
    assert rule.hits == 1 and retry_counts(server, u) == {u[0]: 5, u[1]: 3, u[2]: 5}
    detail = next(r["detail"] for r in report["results"] if r["name"] == u[1])
    assert pending(json.loads(project("plan", "--format", "json").stdout)) == [u[1]]
    assert project("apply", "-y").exit_code == 0
    assert project("plan", "--detailed-exitcode").exit_code == 0
    obs.observed = (
        f"exit 1; {rule.hits} request for u1, reported failed (`{detail}`); u0, u2 applied; "
        "re-plan: u1 only; after apply: No changes"
    )


def test_reset_after_the_server_ran_a_bulk_create(project, proxy, server, unique, scenario):
    obs = scenario(
        "Connection reset after the server executed the bulk create (POST /metadata/taskdefs), every attempt "
        "(retries: 1)",
        "the report says what is true: the creates are on the server, so they are read back and reported "
        "applied; the next plan shows no changes",
    )
    project.configure(timeout=5, retries=1)
    c = [f"{unique}_c0", f"{unique}_c1"]
    for name in c:
        project.write_task(name)
    assert project("plan").exit_code == 0
    rule = proxy.add_rule("POST", TASKDEFS, "reset")
    run = project("apply", "-y")
    report = project.last_report()
    status = {r["name"]: r["status"] for r in report["results"]}
    on_server = {name: server.get_task_def(name) is not None for name in c}
    assert on_server == dict.fromkeys(c, True)
    assert status == dict.fromkeys(c, "applied")
    assert all(r["detail"].startswith("confirmed on the server after:") for r in report["results"])
    assert run.exit_code == 0, run.output
    proxy.clear_rules()
    final = project("plan", "--detailed-exitcode")
    assert final.exit_code == 0 and "No changes." in final.stdout
    obs.observed = (
        f"exit {run.exit_code}; {rule.hits} POSTs reached the server (POST is not re-sent by the SDK), every "
        f"answer lost; report: both applied, `{report['results'][0]['detail'][:70]}...`; next plan: No changes"
    )


# -- the server process dies in the middle of an apply ----------------------------------------------


@dataclass
class OwnServer:
    data_dir: Path
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnServer]:
    """A conductor-oss of this test's own (SQLite in a temporary folder): it gets killed and restarted."""
    from idflow.errors import DevServerError
    from idflow.server import local as local_server

    data_dir = tmp_path_factory.mktemp("own-conductor")
    port = local_server.free_port()
    try:
        local_server.start(data_dir, port=port, timeout=180)
    except DevServerError as exc:
        if os.environ.get("CI") or os.environ.get("IDFLOW_REQUIRE_SERVER"):
            pytest.fail(f"cannot start a Conductor server of its own: {exc}", pytrace=False)
        pytest.skip(f"cannot start a Conductor server of its own: {exc}")
    try:
        yield OwnServer(data_dir, port)
    finally:
        local_server.stop(data_dir)


def _kill(server: OwnServer) -> None:
    from idflow.server import local as local_server

    info = local_server.read_info(server.data_dir)
    assert info is not None
    os.killpg(info.pid, signal.SIGKILL)  # our own server's process group (start_new_session=True)
    local_server.stop(server.data_dir)  # reaps it and removes the pid file


def test_server_killed_in_the_middle_of_an_apply(own_server, tmp_path, unique, scenario):
    from idflow.config import load_config
    from idflow.server import local as local_server
    from idflow.server.client import ConductorRemote

    obs = scenario(
        "The server process is killed (SIGKILL) while `idflow apply --parallelism 1` is in its third of 6 "
        "updates, then started again",
        "nothing reported applied that is not on the restarted server; failures reported; re-plan + apply "
        "after the restart converges",
    )
    with FaultProxy(own_server.base, max_lifetime=300) as proxy:
        project = Project(tmp_path / "project", proxy.api_url, f"{unique}@test.idflow")
        project.configure(timeout=5, retries=1)
        u = planned_updates(project, unique, 6)
        proxy.add_rule("PUT", TASKDEFS, "delay", delay=2.0, body_regex=body_has(u[2]))

        killed = threading.Event()

        def killer() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if any(r.action == "delay" for r in proxy.requests):
                    _kill(own_server)
                    killed.set()
                    return
                time.sleep(0.02)

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        run = project("apply", "-y", "--parallelism", "1")
        thread.join(timeout=60)
        assert killed.is_set(), "the server was not killed during the apply"
        assert run.exit_code == 1, run.output
        report = project.last_report()
        status = {r["name"]: r["status"] for r in report["results"]}

        began = time.monotonic()
        local_server.start(own_server.data_dir, port=own_server.port, timeout=180)
        restart = time.monotonic() - began
        direct = ConductorRemote(load_config(cwd=tmp_path, environ={"CONDUCTOR_SERVER_URL": own_server.base + "/api"}))
        now = retry_counts(direct, u)
        applied = sorted(n for n, s in status.items() if s == "applied")
        failed = sorted(n for n, s in status.items() if s == "failed")
        assert applied == sorted(u[:2]) and failed == sorted(u[2:]), status
        assert all(now[n] == 5 for n in applied), now  # nothing reported applied that is not on the server
        assert all(now[n] == 3 for n in failed), now

        replan = project("plan", "--format", "json")
        assert replan.exit_code == 0, replan.output
        assert pending(json.loads(replan.stdout)) == failed
        assert project("apply", "-y").exit_code == 0
        final = project("plan", "--detailed-exitcode")
        assert final.exit_code == 0 and "No changes." in final.stdout
        assert set(retry_counts(direct, u).values()) == {5}
        first_failure = next(r["detail"] for r in report["results"] if r["status"] == "failed")
        obs.observed = (
            f"exit 1; report: applied {short(applied, unique)}, failed {short(failed, unique)} "
            f"(e.g. `{first_failure}`); after the restart ({restart:.0f}s) the server holds exactly the applied "
            "ones; re-plan listed the failed ones; apply, then plan: No changes"
        )
        delete_tasks(direct, unique)


# -- timeouts ---------------------------------------------------------------------------------------


def test_hung_server_does_not_hang_plan(project, proxy, scenario):
    obs = scenario(
        "The server accepts the connection and never answers (hang) during `idflow plan` "
        "(timeout_seconds: 1, retries: 1)",
        "gives up after 2 attempts of 1 s: one-line error, exit 1, well under 10 s",
    )
    project.configure(timeout=1, retries=1)
    proxy.add_rule("GET", TASKDEFS, "hang")
    run = project("plan")
    line = run.error_line()
    assert run.exit_code == 1 and "no answer within 1s" in line
    assert run.seconds < 10
    assert proxy.count("GET", TASKDEFS) == 2
    obs.observed = f"exit 1 after {run.seconds:.1f}s and {proxy.count('GET', TASKDEFS)} attempts: `{line}`"


def test_hung_update_fails_alone_within_the_timeout(project, proxy, server, unique, scenario):
    obs = scenario(
        "One of three updates hangs during `idflow apply` (timeout_seconds: 1, retries: 1)",
        "that update fails after ~2 s (timeout), the other two are applied, the report matches the server",
    )
    project.configure(timeout=1, retries=1)
    u = planned_updates(project, unique, 3)
    proxy.add_rule("PUT", TASKDEFS, "hang", body_regex=body_has(u[1]))
    run = project("apply", "-y")
    assert run.exit_code == 1 and run.seconds < 15, (run.seconds, run.output)
    results = {r["name"]: r for r in project.last_report()["results"]}
    assert {n: r["status"] for n, r in results.items()} == {u[0]: "applied", u[1]: "failed", u[2]: "applied"}
    assert "no answer within 1s" in results[u[1]]["detail"]
    assert retry_counts(server, u) == {u[0]: 5, u[1]: 3, u[2]: 5}
    obs.observed = (
        f"exit 1 after {run.seconds:.1f}s; u1 failed (`{results[u[1]]['detail']}`), u0 and u2 applied; "
        "server matches the report"
    )


def test_a_connection_reset_does_not_bring_in_hidden_retries(proxy, tmp_path, scenario):
    from idflow.config import load_config
    from idflow.errors import ServerUnreachable
    from idflow.server.client import ConductorRemote

    obs = scenario(
        "After a connection reset, the server goes away (ConductorRemote with retries: 0)",
        "the next call fails at once: the SDK's replacement HTTP client must not add its own retries "
        "(3 connect retries with back-off, ~1.5 s per call)",
    )
    remote = ConductorRemote(load_config(cwd=tmp_path, environ={"CONDUCTOR_SERVER_URL": proxy.api_url}), retries=0)
    proxy.add_rule("GET", TASKDEFS, "reset_before", times=1)
    remote.list_task_defs()  # succeeds: the SDK re-creates its HTTP client and repeats an idempotent call once
    sdk_repeats = proxy.count("GET", TASKDEFS) - 1
    proxy.set_down(True)
    began = time.monotonic()
    with pytest.raises(ServerUnreachable):
        remote.list_task_defs()
    elapsed = time.monotonic() - began
    assert elapsed < 0.5, f"{elapsed:.2f}s: hidden connect retries"
    obs.observed = (
        f"the reset GET was repeated {sdk_repeats}x by the SDK itself; with the server gone the next call "
        f"failed after {elapsed:.2f}s (1.5 s before the fix in idflow/server/client.py)"
    )


# -- two applies racing on the same task -----------------------------------------------------------


def _two_projects(tmp_path: Path, urls: tuple[str, str], unique: str) -> tuple[Project, Project, str]:
    owner = f"{unique}@test.idflow"
    a, b = Project(tmp_path / "a", urls[0], owner), Project(tmp_path / "b", urls[1], owner)
    task = f"{unique}_shared"
    a.write_task(task)
    assert a("apply", "--plan-now", "-y").exit_code == 0
    a.write_task(task, retry_count=1)
    b.write_task(task, retry_count=2)
    assert a("plan").exit_code == 0 and b("plan").exit_code == 0
    return a, b, task


def _apply_core(project: Project, ready: threading.Barrier | None = None) -> str:
    from idflow.config import load_config
    from idflow.errors import StalePlanError
    from idflow.plan.file import read_plan
    from idflow.reconcile import apply_saved_plan
    from idflow.server.client import ConductorRemote

    config = load_config(project.config_path, environ={"CONDUCTOR_SERVER_URL": project.api_url})
    remote = ConductorRemote(config)
    plan, _applied = read_plan(project.plan_path)
    if ready is not None:
        ready.wait(timeout=30)
    try:
        outcome = apply_saved_plan(config, remote, plan, project.plan_path)
    except StalePlanError:
        return "stale"
    return "failed" if outcome.failed else "applied"


def test_second_of_two_applies_is_refused_as_stale(tmp_path, proxy, server, unique, scenario):
    obs = scenario(
        "Two project folders planned different contents for the same task; apply one, then the other",
        "the second is refused as stale and writes nothing; the server holds the first one's content",
    )
    a, b, task = _two_projects(tmp_path, (proxy.api_url, proxy.api_url), unique)
    assert a("apply", "-y").exit_code == 0

    def definition_writes() -> int:  # the apply lock's own create/delete are not definition writes
        return sum(proxy.count(method, TASKDEFS, forwarded=True) for method in ("POST", "PUT", "DELETE"))

    writes = definition_writes()
    run = b("apply", "-y")
    assert run.exit_code == 1 and "the saved plan is stale" in run.stderr
    assert f"task {task} was changed on the server since planning" in run.stderr
    assert definition_writes() == writes
    assert server.get_task_def(task)["retryCount"] == 1
    obs.observed = (
        f"second apply exit 1: `{run.stderr.splitlines()[0]}` / `{run.stderr.splitlines()[1].strip()}`; "
        "0 writes from it; server holds the first content"
    )


def test_two_applies_racing_in_threads(tmp_path, proxy, server, unique, scenario):
    obs = scenario(
        "Two applies of different plans for the same task, started together in two threads, each with its own "
        "state folder",
        "the server holds exactly one of the two contents, and exactly one apply succeeded (the other stale)",
    )
    a, b, task = _two_projects(tmp_path, (proxy.api_url, proxy.api_url), unique)
    ready = threading.Barrier(2)
    outcome: dict[str, str] = {}

    def run(name: str, project: Project) -> None:
        outcome[name] = _apply_core(project, ready)

    threads = [threading.Thread(target=run, args=(n, p)) for n, p in (("a", a), ("b", b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    value = server.get_task_def(task)["retryCount"]
    assert value in (1, 2)
    winners = sorted(n for n, o in outcome.items() if o == "applied")
    holder = "a" if value == 1 else "b"
    obs.observed = f"outcomes {dict(sorted(outcome.items()))}; server retryCount {value} ({holder}'s content)"
    assert winners == [holder] and sorted(outcome.values()) == ["applied", "stale"]


def test_two_applies_interleaved_check_check_write_write(tmp_path, proxy, server, unique, scenario):
    obs = scenario(
        "Forced interleaving of two applies (each through its own proxy): A checks, A's write is held, B checks "
        "and writes, A's write goes through",
        "exactly one apply succeeds; the other is refused as stale",
    )
    with FaultProxy(proxy.upstream, max_lifetime=300) as proxy_b:
        a, b, task = _two_projects(tmp_path, (proxy.api_url, proxy_b.api_url), unique)
        proxy.add_rule("PUT", TASKDEFS, "delay", delay=2.0)
        outcome: dict[str, str] = {}
        thread = threading.Thread(target=lambda: outcome.setdefault("a", _apply_core(a)))
        thread.start()
        deadline = time.monotonic() + 30
        while not any(r.action == "delay" for r in proxy.requests) and time.monotonic() < deadline:
            time.sleep(0.02)
        outcome["b"] = _apply_core(b)
        thread.join(timeout=60)
        value = server.get_task_def(task)["retryCount"]
        obs.observed = (
            f"outcomes {dict(sorted(outcome.items()))}; server retryCount {value}: B waited for A's server lock, "
            "then its stale check saw A's write"
        )
        assert outcome == {"a": "applied", "b": "stale"} and value == 1
