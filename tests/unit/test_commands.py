"""Every command through the CLI with the in-memory fake remote in the context: no server, milliseconds.

The same commands run against the real server in tests/integration/ (test_task_commands.py,
test_plan_apply.py, test_workflows_plan.py); these check the CLI wiring and exit codes of each one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from idflow.cli import cli
from idflow.cli.context import AppContext
from tests.factories import write_task_file
from tests.fakes import FakeRemote

OWNER = "team@test.idflow"


class FakeCli:
    """Runs idflow in-process on a project folder, with ``self.remote`` (a FakeRemote) as its server."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.remote = FakeRemote()
        self.config_arg = str(root / "config" / "idflow.yml")  # what --config says

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None):
        obj = AppContext(None, remote_factory=lambda _config: self.remote)
        return CliRunner().invoke(
            cli,
            ["--config", self.config_arg, *args],
            input=input,
            env={"CONDUCTOR_SERVER_URL": self.remote.url, "NO_COLOR": "1", **(env or {})},
            obj=obj,
            catch_exceptions=False,
        )

    def write_task(self, name: str, **settings: object) -> Path:
        return write_task_file(self.root, name, package=True, **settings)

    def write_workflow(self, name: str, version: int, task_names: list[str]) -> Path:
        """A workflow file, one task per line (``tasks[i]`` is on line ``3 + i``)."""
        folder = self.root / "idflow" / "workflows"
        folder.mkdir(parents=True, exist_ok=True)
        tasks = [{"name": t, "taskReferenceName": f"{t}_ref", "type": "SIMPLE"} for t in task_names]
        body = {"name": name, "version": version, "schemaVersion": 2, "tasks": tasks}
        path = folder / f"{name}_v{version}.json"
        path.write_text(json.dumps(body, indent=None).replace('"tasks": [', '"tasks": [\n').replace("}, {", "},\n{"))
        return path

    def server_task(self, name: str, **fields: object) -> None:
        """A task def on the server as idflow would have uploaded it from ``write_task(name)``."""
        self.remote.tasks[name] = {"name": name, "ownerEmail": OWNER, "description": f"Task {name}.", **fields}

    def server_workflow(self, name: str, version: int, task_names: list[str]) -> None:
        tasks = [{"name": t, "taskReferenceName": f"{t}_ref", "type": "SIMPLE"} for t in task_names]
        self.remote.workflows[(name, version)] = {
            "name": name, "version": version, "schemaVersion": 2, "tasks": tasks, "ownerEmail": OWNER,
        }  # fmt: skip

    def writes(self) -> list[str]:
        """Write calls to the fake, without idflow's own lock and record workflows (apply's bookkeeping)."""
        return [c for c in self.remote.calls if not c.startswith(("list", "get")) and "idflow" not in c]


@pytest.fixture
def fake_cli(tmp_path: Path) -> FakeCli:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "idflow.yml").write_text(f"owner_email: {OWNER}\n")
    (tmp_path / "idflow" / "tasks").mkdir(parents=True)
    return FakeCli(tmp_path)


def test_the_context_makes_its_remote_with_the_given_factory(fake_cli):
    fake_cli.server_task("only_on_server")
    result = fake_cli("tasks", "list", "--remote")
    assert result.exit_code == 0, result.output
    assert "only_on_server  owner=team@test.idflow" in result.stdout
    assert fake_cli.remote.calls[0] == "list_task_defs"


def test_plan_saves_a_plan_of_creates_updates_and_orphan_deletes(fake_cli):
    fake_cli.write_task("new_task")
    fake_cli.write_task("changed", retry_count=1)
    fake_cli.server_task("changed", retryCount=5)
    fake_cli.server_task("orphan")
    result = fake_cli("plan", "--format", "json", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    actions = {c["name"]: c["action"] for c in json.loads(result.stdout)["changes"]}
    assert actions == {"new_task": "create", "changed": "update", "orphan": "delete"}
    assert (fake_cli.root / "state" / "plan.json").is_file()
    assert fake_cli.writes() == []


def test_plan_without_changes_exits_0_with_detailed_exitcode(fake_cli):
    result = fake_cli("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "Saved the plan to" in result.stderr


def test_apply_executes_the_saved_plan_and_a_second_apply_is_refused(fake_cli):
    fake_cli.write_task("new_task", retry_count=2)
    fake_cli.server_task("orphan")
    assert fake_cli("plan").exit_code == 0
    result = fake_cli("apply", "-y")
    assert result.exit_code == 0, result.output
    assert "Apply: 2 applied, 0 failed, 0 skipped." in result.stdout
    assert fake_cli.remote.tasks["new_task"]["retryCount"] == 2
    assert "orphan" not in fake_cli.remote.tasks
    assert fake_cli.writes() == ["create_task_defs:new_task", "delete_task_def:orphan"]
    again = fake_cli("apply", "-y")
    assert again.exit_code == 1 and "already applied" in again.stderr


def test_apply_refuses_a_stale_plan_and_writes_nothing(fake_cli):
    fake_cli.write_task("t", retry_count=1)
    fake_cli.server_task("t", retryCount=5)
    assert fake_cli("plan").exit_code == 0
    fake_cli.remote.tasks["t"]["retryCount"] = 7  # someone changed it on the server since
    result = fake_cli("apply", "-y")
    assert result.exit_code == 1, result.output
    assert "stale" in result.stderr.lower()
    assert fake_cli.remote.tasks["t"]["retryCount"] == 7
    assert fake_cli.writes() == []


def test_apply_without_a_terminal_or_yes_refuses(fake_cli):
    fake_cli.write_task("t")
    assert fake_cli("plan").exit_code == 0
    result = fake_cli("apply")
    assert result.exit_code == 1 and "no terminal to ask" in result.stderr
    assert fake_cli.remote.tasks == {}


def test_apply_dry_run_sends_nothing(fake_cli):
    fake_cli.write_task("t")
    result = fake_cli("apply", "--plan-now", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would send:" in result.stdout
    assert fake_cli.writes() == [] and fake_cli.remote.tasks == {}


def test_tasks_upload_names_writes_only_those_and_skips_unchanged(fake_cli):
    for name in ("a", "b", "same"):
        fake_cli.write_task(name)
    fake_cli.server_task("orphan")
    assert fake_cli("tasks", "upload", "-y", "same").exit_code == 0
    result = fake_cli("tasks", "upload", "-y", "a", "same")
    assert result.exit_code == 0, result.output
    assert "Unchanged, skipped: same" in result.stdout
    assert set(fake_cli.remote.tasks) == {"a", "same", "orphan"}  # not b; the orphan is not deleted
    assert fake_cli.writes() == ["create_task_defs:same", "create_task_defs:a"]


def test_tasks_upload_of_an_unknown_name_is_an_error_and_writes_nothing(fake_cli):
    fake_cli.write_task("a")
    result = fake_cli("tasks", "upload", "-y", "a", "nope")
    assert result.exit_code == 1
    assert "no valid local task named nope" in result.stderr
    assert fake_cli.writes() == []


def test_tasks_upload_needs_names_or_all(fake_cli):
    result = fake_cli("tasks", "upload", "-y")
    assert result.exit_code == 1 and "name the tasks to upload, or pass --all" in result.stderr


def test_tasks_purge_orphaned_deletes_orphans_and_holds_back_used_ones(fake_cli):
    fake_cli.write_task("kept")
    fake_cli.server_task("kept")
    fake_cli.server_task("orphan")
    fake_cli.server_task("used")
    fake_cli.server_workflow("wf", 1, ["used"])
    result = fake_cli("tasks", "purge", "--orphaned", "-y")
    assert result.exit_code == 0, result.output
    assert "Held back, in use (1):" in result.stdout and "used: " in result.stdout
    assert set(fake_cli.remote.tasks) == {"kept", "used"}
    assert fake_cli.writes() == ["delete_task_def:orphan"]


def test_tasks_purge_without_a_terminal_names_what_it_would_delete_and_refuses(fake_cli):
    fake_cli.server_task("orphan")
    result = fake_cli("tasks", "purge", "--orphaned")
    assert result.exit_code == 1
    assert "Would delete (1):" in result.stdout and "  orphan" in result.stdout
    assert "orphan" in fake_cli.remote.tasks


def test_tasks_purge_asks_and_a_no_changes_nothing(fake_cli):
    fake_cli.server_task("orphan")
    result = fake_cli("tasks", "purge", "orphan", input="n\n", env={"IDFLOW_INTERACTIVE": "1"})
    assert result.exit_code == 1 and "not confirmed" in result.stderr
    assert "orphan" in fake_cli.remote.tasks
    result = fake_cli("tasks", "purge", "orphan", input="y\n", env={"IDFLOW_INTERACTIVE": "1"})
    assert result.exit_code == 0, result.output
    assert "orphan" not in fake_cli.remote.tasks


def test_tasks_list_shows_each_status_and_the_sync_groups(fake_cli):
    fake_cli.write_task("common")
    fake_cli.write_task("changed", retry_count=1)
    fake_cli.write_task("local_only")
    fake_cli.server_task("common")
    fake_cli.server_task("changed", retryCount=9)
    fake_cli.server_task("orphan")
    fake_cli.remote.tasks["foreign"] = {"name": "foreign", "ownerEmail": "other@x.io"}
    rows = json.loads(fake_cli("tasks", "list", "--format", "json").stdout)
    assert {r["name"]: r["status"] for r in rows} == {
        "common": "in sync",
        "changed": "changed: retryCount",
        "local_only": "local only: needs uploading",
        "orphan": "remote only: orphan",
        "foreign": "remote only: not managed (left alone)",
    }
    groups = json.loads(fake_cli("tasks", "list", "--sync", "--format", "json").stdout)
    assert {r["name"] for r in groups["Local Only"]} == {"local_only"}
    assert {r["name"] for r in groups["Remote Only"]} == {"orphan", "foreign"}
    local = fake_cli("tasks", "list", "--local")
    assert local.exit_code == 0 and "3 local task(s)." in local.stdout
    assert fake_cli.writes() == []


def test_workflows_list_local_remote_and_status(fake_cli):
    fake_cli.write_task("a")
    fake_cli.server_task("a")
    fake_cli.write_workflow("wf", 1, ["a"])
    fake_cli.write_workflow("wf", 2, ["a"])
    fake_cli.server_workflow("wf", 1, ["a"])
    fake_cli.server_workflow("gone", 3, ["a"])
    local = fake_cli("workflows", "list", "--local")
    assert local.exit_code == 0, local.output
    assert "2 local workflow(s)." in local.stdout
    remote = fake_cli("workflows", "list", "--remote")
    assert remote.stdout.splitlines() == ["gone v3", "wf v1", f"2 workflow version(s) on {fake_cli.remote.url}."]
    rows = json.loads(fake_cli("workflows", "list", "--format", "json").stdout)
    status = {r["name"]: r["status"] for r in rows}
    assert set(status) == {"wf v1", "wf v2", "gone v3"}, status
    assert status["wf v2"].startswith("local only")
    assert status["gone v3"].startswith("remote only")
    assert fake_cli.writes() == []


# -- workflow checks that need the server's state: problems on the plan ---------------------------------


def test_a_workflow_using_an_undefined_task_is_one_located_error_from_another_folder(fake_cli, tmp_path, monkeypatch):
    fake_cli.write_task("known")
    path = fake_cli.write_workflow("wf", 1, ["known", "nowhere"])
    assert '"nowhere_ref"' in path.read_text().splitlines()[2]  # line 3: the task that uses it
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    fake_cli.config_arg = "../config/idflow.yml"
    result = fake_cli("plan")
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        f"Error: {path}:3:1: workflow 'wf' version 1: task 'nowhere_ref' (tasks[1] (nowhere_ref)) uses task "
        "definition 'nowhere', which is neither defined locally nor on the server"
    ]
    assert not (fake_cli.root / "state" / "plan.json").exists()
    assert fake_cli.writes() == []
    fake_cli.server_task("nowhere")  # defined on the server: no problem
    assert fake_cli("plan").exit_code == 0


def test_the_plan_carries_the_problems_and_apply_refuses_such_a_plan(fake_cli):
    from idflow.config import load_config
    from idflow.errors import DefinitionError
    from idflow.plan.model import Plan, PlanOptions
    from idflow.reconcile import apply_saved_plan, make_plan

    fake_cli.write_task("known")
    path = fake_cli.write_workflow("wf", 1, ["known", "nowhere"])
    config = load_config(fake_cli.config_arg, environ={"CONDUCTOR_SERVER_URL": fake_cli.remote.url})
    with pytest.raises(DefinitionError):
        make_plan(config, fake_cli.remote, PlanOptions())
    plan = make_plan(config, fake_cli.remote, PlanOptions(), keep_problems=True)
    assert [(p.path, p.line) for p in plan.problems] == [(str(path), 3)]
    assert {c.name for c in plan.changes} == {"known", "wf"}  # the rest is planned as usual
    assert Plan.from_dict(plan.to_dict()).problems == plan.problems
    with pytest.raises(DefinitionError, match="uses task definition 'nowhere'"):
        apply_saved_plan(config, fake_cli.remote, plan, None)
    assert fake_cli.writes() == []
    fake_cli.server_task("nowhere")
    assert "problems" not in make_plan(config, fake_cli.remote, PlanOptions()).to_dict()  # the usual form
