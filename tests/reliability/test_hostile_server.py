"""A hostile or broken server: answers that are not what the API promises, too slow, too large, or
echoing secrets; and a disk that fills up while idflow writes its plan.

The server here is ``tests/hostile_server.py`` on loopback (a real one would never answer this badly).
Every case must end in exit 1 with ONE line on stderr naming the URL (without userinfo) and what was
wrong, within a bounded time, with nothing written and no traceback.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from dataclasses import dataclass

import pytest

from tests.hostile_server import HostileServer
from tests.reliability.conftest import REPO, Project

TASKDEFS = "/api/metadata/taskdefs"
WORKFLOWS = "/api/metadata/workflow"


@pytest.fixture
def hostile():
    with HostileServer() as server:
        yield server


@pytest.fixture
def hproject(tmp_path, hostile, unique) -> Project:
    project = Project(tmp_path / "project", hostile.api_url, f"{unique}@test.idflow")
    project.configure(timeout=3, retries=1)
    project.write_task(f"{unique}_local")
    return project


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@dataclass(frozen=True)
class Answer:
    id: str
    body: bytes
    expect: str
    path: str = TASKDEFS
    content_type: str = "application/json"


def _task(**fields: object) -> dict[str, object]:
    return {"name": "their_task", "ownerEmail": "someone@else.io", **fields}


def _workflow(**fields: object) -> dict[str, object]:
    return {"name": "their_flow", "version": 1, "tasks": [], **fields}


BAD_ANSWERS = [
    Answer("html_with_200", b"<html><body>Please log in</body></html>",
           "answered with text that is not the JSON asked for (expected a JSON list of task definitions)",
           content_type="text/html"),
    Answer("an_object_not_a_list", json.dumps({"taskDefs": []}).encode(),
           "answered with a JSON object (expected a JSON list of task definitions)"),
    Answer("null_entry", json.dumps([_task(), None]).encode(), "answered with [1] = null (expected an object"),
    Answer("nameless_entry", json.dumps([{"retryCount": 3}]).encode(), "[0].name = null (expected a non-empty string)"),
    Answer("retry_count_string", json.dumps([_task(retryCount="three")]).encode(),
           '[0].retryCount = "three" (expected a whole number)'),
    Answer("version_string", json.dumps([_workflow(version="x")]).encode(),
           '[0].version = "x" (expected a whole number)', WORKFLOWS),
    Answer("nested_task_not_object", json.dumps([_workflow(tasks=[{"name": "a", "loopOver": [7]}])]).encode(),
           "[0].tasks[0].loopOver[0] = 7 (expected an object, a WorkflowTask)", WORKFLOWS),
    Answer("deep_but_parseable", nested(500), "answered with JSON nested more than 100 levels deep"),
    Answer("too_deep_to_parse", nested(100_000), "answered with JSON nested too deeply to read"),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in BAD_ANSWERS])
def test_a_server_answering_nonsense_is_one_line_exit_1(hproject, hostile, scenario, case):
    obs = scenario(
        f"The server answers `GET {case.path.removeprefix('/api')}` with {case.id.replace('_', ' ')} (`idflow plan`)",
        f"exit 1, one line naming the URL: “{case.expect}”; no plan file",
    )
    other = WORKFLOWS if case.path == TASKDEFS else TASKDEFS
    hostile.answer("GET", case.path, case.body, content_type=case.content_type)
    hostile.answer("GET", other, b"[]")
    run = hproject("plan")
    obs.observed = f"exit {run.exit_code}: `{(run.stderr.strip().splitlines() or [''])[0][:240]}`"
    line = run.error_line()
    assert run.exit_code == 1
    assert f"{hostile.api_url}{case.path.removeprefix('/api')}" in line and case.expect in line, line
    assert not hproject.plan_path.exists()
    assert [m for m, _p, _h in hostile.requests if m != "GET"] == []


def test_a_trickling_server_is_cut_at_the_total_deadline(hproject, hostile, scenario):
    obs = scenario(
        "The server sends its answer one byte every 0.8 s (`timeout_seconds: 3`, `retries: 1`): each read "
        "arrives well within the timeout, the answer never ends",
        "exit 1 after about 2 x 3 s (+ backoff), one line “no answer within 3s”",
    )
    hostile.answer("GET", TASKDEFS, json.dumps([_task(description="x" * 500)]).encode(), trickle=0.8)
    hostile.answer("GET", WORKFLOWS, b"[]")
    run = hproject("plan")
    line = run.error_line()
    obs.observed = f"exit {run.exit_code} after {run.seconds:.1f}s: `{line}`"
    assert run.exit_code == 1 and "no answer within 3s" in line, line
    attempts = sum(1 for _m, p, _h in hostile.requests if p == TASKDEFS)
    assert attempts == 2
    assert run.seconds < 2 * 3 + 1 + 3, run.seconds  # two deadlines, the backoff, and slack for a busy machine


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip_bomb"])
def test_an_answer_over_the_size_limit_is_refused(hproject, hostile, scenario, compressed):
    obs = scenario(
        "The server answers the task list with 3 MB of JSON" + (" gzip-compressed to a few KB" if compressed else "")
        + " while `conductor.max_response_mb: 1`",
        "exit 1, one line naming the URL and the limit; nothing beyond the limit is read (or decompressed)",
    )  # fmt: skip
    hproject.configure(timeout=10, retries=1, extra="  max_response_mb: 1\n")
    body = json.dumps([_task(description=" " * (3 * 1024 * 1024))]).encode()
    hostile.answer("GET", TASKDEFS, body, gzip=compressed)
    hostile.answer("GET", WORKFLOWS, b"[]")
    run = hproject("plan")
    line = run.error_line()
    sent = f" ({len(gzip.compress(body))} bytes sent)" if compressed else ""
    obs.observed = f"exit {run.exit_code}: `{line}`{sent}"
    assert run.exit_code == 1
    assert f"{hostile.api_url}/metadata/taskdefs: the answer is larger than 1 MB" in line, line
    assert sum(1 for _m, p, _h in hostile.requests if p == TASKDEFS) == 1  # not retried: it would not shrink


def test_a_session_token_echoed_by_the_server_is_masked(hproject, hostile, scenario):
    obs = scenario(
        "With an API key set, the server hands out a session token (as Orkes does), then answers the task "
        "list with 500 and a message that echoes the token; `idflow plan` and `--debug --log-format json plan`",
        "exit 1, one line; neither the token nor the key secret appears in any output",
    )
    token, secret = "tok-7f3c9a1e5b2d4c6e8f0a", "sec-1b2c3d4e5f6a7b8c9d0e"
    hostile.answer("POST", "/api/token", json.dumps({"token": token}).encode())
    hostile.answer("GET", TASKDEFS, json.dumps({"status": 500, "message": f"session {token} is broken"}).encode(),
                   status=500)  # fmt: skip
    hostile.answer("GET", WORKFLOWS, b"[]")
    env = {"CONDUCTOR_AUTH_KEY": "key-id-1", "CONDUCTOR_AUTH_SECRET": secret}
    runs = [hproject("plan", env=env), hproject("--debug", "--log-format", "json", "plan", env=env)]
    line = runs[0].error_line()
    obs.observed = f"exit {runs[0].exit_code}: `{line}`; --debug run: exit {runs[1].exit_code}"
    sent = [h.get("X-Authorization") for _m, p, h in hostile.requests if p == TASKDEFS]
    assert sent and set(sent) == {token}  # the token was really in play
    assert runs[0].exit_code == runs[1].exit_code == 1
    assert "session *** is broken" in line, line
    for run in runs:
        assert token not in run.output and secret not in run.output


@pytest.mark.processes
def test_a_full_disk_while_writing_the_plan_is_one_line(hproject, hostile, scenario):
    obs = scenario(
        "The plan file cannot be written: the process may write no file larger than 1 KB (RLIMIT_FSIZE, what a "
        "full disk looks like to a writer) while `idflow plan` saves a 20 KB plan",
        "exit 1, one line naming the plan file and the OS's reason; no partial file left",
    )
    hostile.answer("GET", TASKDEFS, json.dumps([_task(description="d" * 20_000)]).encode())
    hostile.answer("GET", WORKFLOWS, b"[]")
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))\n"
        "from idflow.cli import main\n"
        "sys.argv = ['idflow', '--config', sys.argv[1], 'plan']\n"
        "main()\n"
    )
    env = {k: v for k, v in hproject.env().items() if v is not None}
    done = subprocess.run([sys.executable, "-c", script, str(hproject.config_path)], capture_output=True, text=True,
                          env={**env, "PATH": "/usr/bin:/bin", "HOME": str(hproject.root),
                               "PYTHONDONTWRITEBYTECODE": "1"},  # a bytecode file would be cut at 1 KB too
                          cwd=REPO, timeout=120, check=False)  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    obs.observed = f"exit {done.returncode}: `{lines[0] if lines else ''}`"
    assert done.returncode == 1, done.stdout + done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"{hproject.plan_path}: cannot write the file: File too large" in lines[0], lines[0]
    assert list(hproject.state_dir.glob(".plan.json.*")) == []
