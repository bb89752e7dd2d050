"""Applies lock the objects they write, not the whole server (issue 19): on a real server, an apply whose
objects another apply holds refuses after its wait, while one on other objects goes ahead at once."""

from pathlib import Path

import pytest

from tests.conftest import Cli


def _second_project(tmp_path: Path, url: str, reader_url: str, owner: str) -> Cli:
    root = tmp_path / "second"
    (root / "config").mkdir(parents=True)
    (root / "config" / "idflow.yml").write_text(f"owner_email: {owner}\n")
    (root / "idflow" / "tasks").mkdir(parents=True)
    return Cli(root, {"CONDUCTOR_SERVER_URL": url, "NO_COLOR": "1"}, reader_url)


def test_disjoint_applies_do_not_wait_and_overlapping_ones_do(cli_project, remote, unique, tmp_path, conductor_url,
                                                              reader_url):  # fmt: skip
    from idflow.apply.record import project_key
    from idflow.apply.server_lock import CLAIM_WORKFLOW, ObjectLock, claim_keys
    from idflow.config import load_config
    from idflow.errors import LockError
    from idflow.plan.file import read_plan
    from idflow.reconcile import apply_saved_plan

    other = _second_project(tmp_path, conductor_url, reader_url, f"{unique}-b@test.idflow")
    cli_project.write_task(f"{unique}_a", retry_count=1)
    other.write_task(f"{unique}_b", retry_count=1)
    for project in (cli_project, other):
        assert project("plan").exit_code == 0
    config_a = load_config(cli_project.config_path, environ={"CONDUCTOR_SERVER_URL": conductor_url})
    plan_a, _ = read_plan(config_a.state_dir / "plan.json")
    held = ObjectLock(remote, "a test holding project A's objects", claim_keys(plan_a, project_key(config_a)))
    try:
        with held:
            done = other("apply", "-y")  # B's objects are its own: no wait for A's claim
            assert done.exit_code == 0, done.output
            assert "waiting for another apply" not in done.output
            assert remote.get_task_def(f"{unique}_b") is not None
            with pytest.raises(LockError, match="a test holding project A's objects"):
                apply_saved_plan(config_a, remote, plan_a, config_a.state_dir / "plan.json", lock_wait=0)
            assert remote.get_task_def(f"{unique}_a") is None, "nothing written while the objects were held"
        claims = [w for w in remote.list_workflow_defs() if w["name"] == CLAIM_WORKFLOW]
        assert not [w for w in claims if "a test holding" in str(w.get("description"))], "the claim was released"
        again = cli_project("apply", "-y")
        assert again.exit_code == 0, again.output
        assert remote.get_task_def(f"{unique}_a") is not None
    finally:
        for name in (f"{unique}_a", f"{unique}_b"):
            if remote.get_task_def(name) is not None:
                remote.delete_task_def(name)
