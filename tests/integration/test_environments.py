"""Environments against two real servers at once: dev is the session's Conductor, prod a second one
(``second_server``, started by the project's own tooling on another port and data folder)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import Cli, remote_for

pytestmark = pytest.mark.integration


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def write_config(root: Path, owner: str, dev: str, prod: str, *, protected: bool = True) -> int:
    """The two-environment config; returns the line of prod's task override (what plans must name)."""
    text = (
        f"owner_email: {owner}\n"
        "default_environment: dev\n"
        "environments:\n"
        "  dev:\n"
        f"    server_url: {dev}\n"
        "  prod:\n"
        f"    server_url: {prod}\n"
        f"    protected: {'true' if protected else 'false'}\n"
        "    overrides:\n"
        "      tasks:\n"
        '        "*_limited":\n'
        "          concurrent_exec_limit: 7\n"
    )
    (root / "config" / "idflow.yml").write_text(text)
    return text.splitlines().index('        "*_limited":') + 1


@pytest.fixture
def two(project: Path, conductor_url: str, second_server: str, unique: str) -> Cli:
    (project / ".gitignore").write_text("state/\n")
    write_config(project, f"{unique}@test.idflow", conductor_url, second_server)
    git(project, "init", "-q")
    cli = Cli(project, {"NO_COLOR": "1"})
    cli.write_task(f"{unique}_limited", retry_count=2)
    cli.write_task(f"{unique}_plain")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "tasks")
    return cli


def test_plan_and_apply_dev_then_prod_with_the_prod_override_in_the_plan_and_on_the_server(
    two: Cli, conductor_url: str, second_server: str, unique: str
):
    root = two.root
    line = write_config(root, f"{unique}@test.idflow", conductor_url, second_server)
    dev_plan = two("plan")
    assert dev_plan.exit_code == 0, dev_plan.output
    assert dev_plan.stdout.splitlines()[0] == f"Environment: dev ({conductor_url})"
    assert "set by environment" not in dev_plan.stdout  # the override is prod's only
    assert (root / "state" / "dev" / "plan.json").is_file() and not (root / "state" / "plan.json").exists()
    assert two("apply", "-y").exit_code == 0

    prod_plan = two("plan", "--env", "prod")
    assert prod_plan.exit_code == 0, prod_plan.output
    assert prod_plan.stdout.splitlines()[0] == f"Environment: prod ({second_server})"
    assert f"concurrentExecLimit = 7  (set by environment prod: config/idflow.yml:{line})" in prod_plan.stdout
    saved = json.loads((root / "state" / "prod" / "plan.json").read_text())
    assert saved["environment"] == "prod" and saved["server_url"] == second_server
    assert saved["commit"] == git(root, "rev-parse", "HEAD") and saved["dirty"] is False
    limited = next(c for c in saved["changes"] if c["name"] == f"{unique}_limited")
    assert limited["overrides"] == {"concurrentExecLimit": f"config/idflow.yml:{line}"}
    assert json.loads((root / "state" / "dev" / "plan.json").read_text())["environment"] == "dev"  # kept apart

    applied = two("apply", "--env", "prod", "-y")
    assert applied.exit_code == 0, applied.output
    dev, prod = remote_for(conductor_url, root.parent), remote_for(second_server, root.parent)
    assert prod.get_task_def(f"{unique}_limited")["concurrentExecLimit"] == 7
    assert (dev.get_task_def(f"{unique}_limited").get("concurrentExecLimit") or 0) != 7
    assert prod.get_task_def(f"{unique}_plain") is not None
    # Each environment's apply record is its own: both plan as in sync now.
    for env in ("dev", "prod"):
        again = two("plan", "--env", env, "--detailed-exitcode")
        assert again.exit_code == 0, again.output


class CountingListener:
    """A TCP port that accepts and counts connections (and answers nothing): 'before any request'."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/api"

    def _run(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop = True
        self.thread.join(2)
        self.sock.close()


def test_a_plan_for_dev_applied_with_env_prod_is_refused_before_any_request(two: Cli, conductor_url: str, unique: str):
    listener = CountingListener()
    try:
        write_config(two.root, f"{unique}@test.idflow", conductor_url, listener.url, protected=False)
        assert two("plan").exit_code == 0
        dev_plan = two.root / "state" / "dev" / "plan.json"
        refused = two("apply", "--env", "prod", str(dev_plan), "-y")
        assert refused.exit_code == 1
        assert "the plan was made for environment dev, but this is environment prod" in refused.stderr
        assert "nothing was sent" in refused.stderr and "Traceback" not in refused.output
        # The plan file of prod's state folder does not exist: nothing of dev's was copied there either.
        assert not (two.root / "state" / "prod" / "plan.json").exists()
        assert listener.connections == 0
    finally:
        listener.close()
    assert remote_for(conductor_url, two.root.parent).get_task_def(f"{unique}_limited") is None  # dev untouched too


def test_protected_prod_takes_only_a_plan_of_this_commit_named_with_env(two: Cli, second_server: str, unique: str):
    root = two.root
    prod = remote_for(second_server, root.parent)
    assert two("plan", "--env", "prod").exit_code == 0
    path = str(root / "state" / "prod" / "plan.json")

    by_variable = two("apply", path, "-y", env={"IDFLOW_ENV": "prod"})
    assert by_variable.exit_code == 1 and "name it with --env prod" in by_variable.stderr

    plan_now = two("apply", "--env", "prod", "--plan-now", "-y")
    assert plan_now.exit_code == 1 and "takes only a saved plan file" in plan_now.stderr
    upload = two("tasks", "upload", "--env", "prod", "--all", "-y")
    assert upload.exit_code == 1 and "takes only a saved plan file" in upload.stderr

    git(root, "commit", "-q", "--allow-empty", "-m", "later")
    moved = two("apply", "--env", "prod", path, "-y")
    assert moved.exit_code == 1 and "the plan was made at commit" in moved.stderr

    two.write_task(f"{unique}_plain", retry_count=9)  # not committed
    assert two("plan", "--env", "prod").exit_code == 0
    dirty = two("apply", "--env", "prod", path, "-y")
    assert dirty.exit_code == 1 and "uncommitted changes" in dirty.stderr
    assert prod.get_task_def(f"{unique}_limited") is None  # none of these wrote anything

    git(root, "commit", "-qam", "retry 9")
    assert two("plan", "--env", "prod").exit_code == 0
    done = two("apply", "--env", "prod", path, "-y")
    assert done.exit_code == 0, done.output
    assert prod.get_task_def(f"{unique}_plain")["retryCount"] == 9


def test_diff_shows_exactly_the_objects_and_fields_that_differ(
    two: Cli, conductor_url: str, second_server: str, unique: str
):
    root = two.root
    line = write_config(root, f"{unique}@test.idflow", conductor_url, second_server, protected=False)
    for env in ("dev", "prod"):
        assert two("plan", "--env", env).exit_code == 0
        assert two("apply", "--env", env, "-y").exit_code == 0
    dev, prod = remote_for(conductor_url, root.parent), remote_for(second_server, root.parent)
    # A hand edit on prod, an object only dev has, and one of another owner on prod (not managed: left out).
    edited = prod.get_task_def(f"{unique}_plain")
    prod.update_task_def({**edited, "retryCount": 5})
    dev.create_task_defs([{"name": f"{unique}_devonly", "ownerEmail": f"{unique}@test.idflow",
                           "responseTimeoutSeconds": 10}])  # fmt: skip
    prod.create_task_defs([{"name": f"{unique}_foreign", "ownerEmail": "someone@else.test",
                            "responseTimeoutSeconds": 10}])  # fmt: skip

    result = two("diff", "--env", "dev", "--env", "prod", "--format", "json", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    view = json.loads(result.stdout)
    ours = {o["name"]: o for o in view["objects"] if o["name"].startswith(unique)}
    assert set(ours) == {f"{unique}_devonly", f"{unique}_limited", f"{unique}_plain"}
    assert ours[f"{unique}_devonly"]["status"] == "only in dev" and ours[f"{unique}_devonly"]["diff"] == []
    assert ours[f"{unique}_plain"]["diff"] == [{"path": "retryCount", "dev": 3, "prod": 5, "set_by": None}]
    assert ours[f"{unique}_limited"]["diff"] == [
        {"path": "concurrentExecLimit", "dev": None, "prod": 7, "set_by": f"prod: config/idflow.yml:{line}"}
    ]
    text = two("diff", "--env", "dev", "--env", "prod")
    assert text.exit_code == 0 and text.stdout.startswith(f"Environment dev ({conductor_url}) compared with prod")
    assert f"  ~ task {unique}_plain  (differs)" in text.stdout and "retryCount: dev 3 | prod 5" in text.stdout
    assert f"  < task {unique}_devonly  (only in dev)" in text.stdout


def test_one_markdown_comment_for_dev_and_prod_has_a_section_each_and_splits(
    two: Cli, conductor_url: str, second_server: str, unique: str
):
    root = two.root
    for i in range(6):
        two.write_task(f"{unique}_extra{i}", description="a long description " * 8)
    result = two("plan", "--env", "dev", "--env", "prod", "--format", "markdown", "--max-chars", "1500",
                 "--parts-dir", str(root / "parts"), "--detailed-exitcode")  # fmt: skip
    assert result.exit_code == 2, result.output
    parts = [p.read_text() for p in sorted((root / "parts").glob("plan-part-*.md"), key=lambda p: int(p.stem[10:]))]
    assert len(parts) > 2 and all(len(p) <= 1500 for p in parts)
    assert all(p.startswith(f"<!-- idflow-plan part {i} of {len(parts)} -->") for i, p in enumerate(parts, 1))
    first = parts[0]
    assert "## idflow plan · 2 environments" in first and "Changes in 2 of 2 environments" in first
    assert f"| <code>dev</code> | <code>{conductor_url}</code> |" in first  # the summary table comes first
    assert f"| <code>prod</code> | <code>{second_server}</code> |" in first
    whole = "".join(parts)
    assert whole.index(f"| <code>prod</code> | <code>{second_server}</code> |") < whole.index("### Environment")
    assert whole.count("### Environment <code>dev</code>\n") == 1
    assert whole.count("### Environment <code>prod</code>\n") == 1
    assert whole.index("### Environment <code>dev</code>\n") < whole.index("### Environment <code>prod</code>\n")
    for name in [f"{unique}_limited", f"{unique}_plain", *(f"{unique}_extra{i}" for i in range(6))]:
        assert whole.count(f"{name}</code>") == 4  # a row and a block in each environment
    for part in parts[1:]:  # a part that starts inside a section says whose
        body = re.sub(r"^<!--.*?-->\n\*\*Part \d+ of \d+\*\*\n\n", "", part)
        assert body.startswith("### Environment <code>")
    assert (root / "state" / "dev" / "plan.json").is_file() and (root / "state" / "prod" / "plan.json").is_file()
