"""Fixtures of the reliability suite, and the table ``docs/reliability.md`` is written from.

Every test states its scenario and what is expected through the ``scenario`` fixture and says what it
observed (``obs.observed = ...``); a failing test is recorded with its failure. At the end of a session in
which reliability tests ran, ``IDFLOW_WRITE_RELIABILITY_DOC=1`` writes ``docs/reliability.md`` from these
records (never by default, so CI runs leave the file alone).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.factories import write_task_file
from tests.faultproxy import FaultProxy

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "reliability.md"
AREAS = {
    "test_faults": "Faults between idflow and the server",
    "test_hostile": "Hostile and malformed input",
    "test_security": "Security canaries",
    "test_cluster": "A cluster of nodes on PostgreSQL",
    "test_interrupts": "Interruptions, locks and the local server",
    "test_hostile_server": "A hostile or broken server, a full disk",
    "test_plan_integrity": "Crafted plan files, output injection, long diffs",
    "test_environments": "Environments: the wrong server",
}


# -- the record behind docs/reliability.md --------------------------------------------------------


@dataclass
class Observation:
    nodeid: str
    area: str
    scenario: str
    expected: str
    observed: str = ""
    outcome: str = "not run"
    known_bug: str = ""
    scrub: list[tuple[str, str]] = field(default_factory=list)

    def note(self, text: str) -> None:
        """Add to what was observed (parts are joined with '; ')."""
        self.observed = f"{self.observed}; {text}" if self.observed else text


_RECORDS: list[Observation] = []

# What differs between the SQLite server and a PostgreSQL cluster, and what idflow does about it; the tests
# named here run on both backends (scripts/test runs the real-server tests once per backend).
CLUSTER_DIFFERENCES = """\
## SQLite and a PostgreSQL cluster: what differs

`scripts/test` runs every real-server test twice: against one SQLite node, and against two Conductor
nodes sharing one PostgreSQL (`idflow server start --backend postgres --nodes 2`), writing through node A
and reading through node B where that matters (the fault proxy sends reads to node B, like a load
balancer). What behaved differently:

- **`GET /metadata/taskdefs/{name}` lags on other nodes.** Each node answers it from its own task-def
  cache: its own writes go in at once, other nodes' arrive with a refresh from the database every
  `conductor.postgres.taskDefCacheRefreshInterval` (60 s). Until then node B returns the old definition,
  and a deleted one with 200. `GET /metadata/taskdefs` (the list) reads the database and is always
  current. *idflow:* plan, the stale check and the usage re-check already read lists; the read-back after
  a transient failure now reads the list too (it used the single GET, so through another node a write
  that landed was reported failed). Shown by `test_the_single_read_on_another_node_can_lag_the_list_never_does`,
  `test_read_back_through_another_node_after_a_lost_answer` and
  `tests/unit/test_apply_fake.py::test_read_back_after_a_transient_failure_uses_the_list_not_a_stale_single_read`.
  Anyone scripting against a cluster should read task defs with the list call.
- **Deleting an absent task def:** SQLite answers 500 "No such task definition", PostgreSQL 404. *idflow:*
  both are "not found" (`test_deleting_an_absent_task_def_is_not_found_on_both_backends`).
- **Two creates of one workflow version racing:** the loser gets HTTP 500 instead of 409 (the existence
  check and the insert are not atomic; the key is): "duplicate key value violates unique constraint" on
  PostgreSQL, through one node or two, and "Workflow with NAME.VERSION already exists!" on SQLite (the
  same race, rarer there). The server lock is such a create, and the loser's apply failed with that
  error instead of waiting. *idflow:* the remote adapter treats both 500s as the conflict they are, so
  the lock holds (`test_two_applies_racing_in_threads` on both backends,
  (`test_lock_takers_racing_through_both_nodes_get_exactly_one_lock`,
  `tests/unit/test_remote_errors.py`).
- **Workflow execution:** nodes take each workflow's execution lock through the database; with Conductor's
  default 500 ms to get it, on a loaded 2-core machine a workflow whose tasks had all completed stayed
  RUNNING until the sweeper came back to it minutes later. *idflow:* the local cluster starts nodes with
  `conductor.app.lock-time-to-try=5000ms` (shown by `tests/integration/test_example_e2e.py` and
  `test_workers_stages.py` on the cluster pass).
- **The same on both (checked, nothing to do):** workflow definitions are read from the database by every
  node; an existing lock is refused with 409 through any node
  (`test_the_server_lock_taken_through_node_a_holds_against_node_b`,
  `test_two_applies_racing_through_different_nodes`); apply on A then plan on B shows no changes and a
  change through A makes a plan made on B stale (`tests/integration/test_cluster.py`).
- **A node dies mid-apply:** like the one-node server dying (the report is accurate, the rest is failed),
  but the database and the other node stay up, so re-running against a surviving node converges at once
  (`test_the_node_apply_talks_to_is_killed_mid_apply`).
- **Start-up:** two nodes on two cores take about twice as long to become healthy as one SQLite node.
"""
_PORT = re.compile(r"(127\.0\.0\.1|localhost):\d+")


def _clean(text: str, scrub: list[tuple[str, str]]) -> str:
    for old, new in scrub:
        if old:
            text = text.replace(old, new)
    text = _PORT.sub(r"\1:PORT", text)
    text = re.sub(r"/tmp/pytest-of-[^/\s]+/pytest-\d+/[^/\s]+", "<tmp>", text)
    text = re.sub(r"\bt[0-9a-f]{8}(?=[_@])", "<u>", text)  # the unique test prefix
    text = re.sub(r"apply-\d{8}T\d{6}\.\d+Z\.json", "apply-<time>.json", text)
    return " ".join(text.split()).replace("|", "\\|")


@pytest.fixture
def scenario(request: pytest.FixtureRequest, tmp_path: Path):
    """``obs = scenario("what happens", "what should happen")``; then ``obs.observed = "..."``."""

    def make(what: str, expected: str) -> Observation:
        module = request.node.module.__name__.rsplit(".", 1)[-1]
        obs = Observation(request.node.nodeid, AREAS.get(module, module), what, expected)
        obs.scrub.append((str(tmp_path), "<tmp>"))
        _RECORDS.append(obs)
        return obs

    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]):
    outcome = yield
    report = outcome.get_result()
    mine = [r for r in _RECORDS if r.nodeid == item.nodeid]
    if not mine:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if hasattr(report, "wasxfail"):
            state = "xfail (known bug)" if report.skipped else "XPASS"
            for record in mine:
                record.known_bug = str(report.wasxfail).removeprefix("reason: ")
        elif report.passed:
            state = "pass"
        elif report.skipped:
            state = "skipped"
        else:
            state = "FAIL"
        for record in mine:
            record.outcome = state
            if state == "FAIL":
                message = str(call.excinfo.value) if call.excinfo else report.longreprtext
                record.note("test failed: " + (message.strip().splitlines() or ["?"])[0][:300])
            elif state.startswith("xfail") and call.excinfo is not None:
                message = (str(call.excinfo.value).strip().splitlines() or ["?"])[0][:300]
                if message not in record.observed:
                    record.note("known bug: " + message)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _RECORDS or os.environ.get("IDFLOW_WRITE_RELIABILITY_DOC") != "1":
        return
    missing = sorted(set(AREAS.values()) - {r.area for r in _RECORDS})
    if missing:  # a partial run must not replace the document of a full one
        print(f"\nnot writing {DOC}: no results for {', '.join(missing)} in this run", file=sys.stderr)
        return
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(_render(_RECORDS), encoding="utf-8")


def _backend() -> str:
    from tests.conftest import BACKEND

    return (
        "PostgreSQL, two Conductor nodes (writes to node A, reads to node B)"
        if BACKEND == "postgres"
        else ("SQLite, one node")
    )


def _render(records: list[Observation]) -> str:
    from importlib.metadata import version

    counts: dict[str, int] = {}
    for record in records:
        counts[record.outcome] = counts.get(record.outcome, 0) + 1
    lines = [
        "# Reliability: faults, hostile input, security canaries",
        "",
        "<!-- Generated by tests/reliability (pytest_sessionfinish in tests/reliability/conftest.py) with",
        "     IDFLOW_WRITE_RELIABILITY_DOC=1. Do not edit by hand: run the suite again. -->",
        "",
        "Produced from a run of the reliability suite against a real conductor-oss server, through a",
        "fault-injecting proxy (`tests/faultproxy.py`). *Observed* is what the test saw in that run; a row",
        "marked `xfail (known bug)` documents a defect that is not fixed yet (the test fails as soon as it is).",
        "",
        f"- Run: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, Python {platform.python_version()}, "
        f"conductor-python {version('conductor-python')}, idflow {version('idflow')}",
        "- Command: `IDFLOW_WRITE_RELIABILITY_DOC=1 IDFLOW_BACKEND=... python -m pytest tests/reliability`",
        f"- Backend: {_backend()}",
        "- Outcomes: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())),
        "- In the table, `<tmp>` is the test's temporary folder, `<u>` its unique name prefix, `PORT` a port.",
        "",
    ]
    for area in dict.fromkeys(r.area for r in records):
        lines += [f"## {area}", "", "| Scenario | Expected | Observed | Result |", "| --- | --- | --- | --- |"]
        for r in (r for r in records if r.area == area):
            cells = [_clean(c, r.scrub) for c in (r.scenario, r.expected, r.observed or "(nothing recorded)")]
            lines.append(f"| {cells[0]} | {cells[1]} | {cells[2]} | {r.outcome} |")
        lines.append("")
    lines += [CLUSTER_DIFFERENCES]
    known = dict.fromkeys(_clean(r.known_bug, []) for r in records if r.known_bug)
    if known:
        lines += ["## Known bugs and limitations (the xfail rows)", ""]
        lines += [f"- {reason}" for reason in known]
        lines.append("")
    return "\n".join(lines)


# -- a project run through the CLI, against the real server behind a fault proxy -----------------


@pytest.fixture
def proxy(conductor_url: str, reader_url: str) -> Iterator[FaultProxy]:
    """The fault proxy in front of the server. On a cluster it sends writes to node A and reads to node B,
    like a load balancer, so every scenario also meets the nodes' own caches."""
    with FaultProxy(
        conductor_url.removesuffix("/api"), max_lifetime=300, read_upstream=reader_url.removesuffix("/api")
    ) as fault_proxy:
        yield fault_proxy
    assert fault_proxy.errors == [], f"fault proxy bugs: {fault_proxy.errors}"


@pytest.fixture
def server(conductor_url: str, tmp_path: Path, unique: str) -> Iterator[Any]:
    """A remote straight to the server (no proxy); task defs named ``<unique>*`` are deleted afterwards."""
    from idflow.config import load_config
    from idflow.server.client import ConductorRemote

    remote = ConductorRemote(load_config(cwd=tmp_path, environ={"CONDUCTOR_SERVER_URL": conductor_url}))
    yield remote
    delete_tasks(remote, unique)


def delete_tasks(remote: Any, prefix: str) -> None:
    for definition in remote.list_task_defs():
        name = str(definition.get("name"))
        if name.startswith(prefix):
            try:
                remote.delete_task_def(name)
            except Exception as exc:  # cleanup must not hide the test's own result
                print(f"cleanup: could not delete {name}: {exc}", file=sys.stderr)


@dataclass
class Run:
    """One CLI run: exit code and the two streams."""

    exit_code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def error_line(self) -> str:
        """The one line on stderr (asserting there is exactly one, an error, and no traceback)."""
        assert "Traceback" not in self.output, self.output
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{self.stderr}"
        assert lines[0].startswith("Error: "), lines[0]
        return lines[0]


class Project:
    """An idflow project folder whose CLI runs in-process against ``api_url`` (usually the proxy's)."""

    def __init__(self, root: Path, api_url: str, owner: str):
        self.root = root
        self.api_url = api_url
        self.owner = owner
        (root / "config").mkdir(parents=True, exist_ok=True)
        (root / "idflow" / "tasks").mkdir(parents=True, exist_ok=True)
        self.configure()

    @property
    def config_path(self) -> Path:
        return self.root / "config" / "idflow.yml"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def plan_path(self) -> Path:
        return self.state_dir / "plan.json"

    def configure(self, timeout: float = 5, retries: int = 2, extra: str = "") -> None:
        self.config_path.write_text(
            f"owner_email: {self.owner}\nconductor:\n  timeout_seconds: {timeout}\n  retries: {retries}\n{extra}"
        )

    def env(self, **extra: str | None) -> dict[str, str | None]:
        return {
            "CONDUCTOR_SERVER_URL": self.api_url,
            "CONDUCTOR_AUTH_KEY": None,
            "CONDUCTOR_AUTH_SECRET": None,
            "IDFLOW_CONFIG": None,
            "IDFLOW_DEBUG": None,
            "IDFLOW_INTERACTIVE": None,
            "IDFLOW_PLAN_KEY": None,
            "NO_COLOR": "1",
            **extra,
        }

    def __call__(
        self, *args: str, env: dict[str, str | None] | None = None, config: bool = True, input_text: str | None = None
    ) -> Run:
        import time

        from click.testing import CliRunner

        from idflow.cli import cli

        argv = ["--config", str(self.config_path), *args] if config else list(args)
        began = time.monotonic()
        result = CliRunner().invoke(
            cli, argv, env={**self.env(), **(env or {})}, catch_exceptions=False, prog_name="idflow", input=input_text
        )
        return Run(result.exit_code, result.stdout, result.stderr, time.monotonic() - began)

    def write_task(self, name: str, **settings: object) -> Path:
        return write_task_file(self.root, name, **settings)

    def remove_task(self, name: str) -> None:
        shutil.rmtree(self.root / "idflow" / "tasks" / name)

    def plan_doc(self, path: Path | None = None) -> dict[str, Any]:
        return json.loads((path or self.plan_path).read_text())

    def reports(self) -> list[Path]:
        return sorted(self.state_dir.glob("apply-*.json"))

    def last_report(self) -> dict[str, Any]:
        reports = self.reports()
        assert reports, f"no apply report in {self.state_dir}"
        return json.loads(reports[-1].read_text())


@pytest.fixture
def project(tmp_path: Path, proxy: FaultProxy, unique: str) -> Project:
    """A project on the shared server through the proxy, owning only ``<unique>@test.idflow`` tasks."""
    return Project(tmp_path / "project", proxy.api_url, f"{unique}@test.idflow")
