"""Definitions read from task source round-trip through a real Conductor server unchanged (normal form)."""

from __future__ import annotations

import contextlib
import textwrap
from pathlib import Path

import pytest

from idflow.config import load_config
from idflow.errors import RemoteError
from idflow.kinds.normal import normalise_taskdef
from idflow.repo.task_files import discover_tasks
from idflow.server.client import ConductorRemote

pytestmark = pytest.mark.integration


def write(path: Path, source: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "__init__.py").touch()
    path.write_text(textwrap.dedent(source).lstrip("\n"))


def test_discovered_definitions_round_trip(conductor_url: str, unique: str, tmp_path: Path) -> None:
    tasks_dir = tmp_path / "idflow" / "tasks"
    write(
        tasks_dir / "full" / "full.py",
        f'''
        from idflow import worker_task

        MINUTE = 60


        @worker_task(
            task_definition_name="{unique}_full",
            retry_count=2,
            timeout_seconds=10 * MINUTE,
            response_timeout_seconds=2 * MINUTE,
            total_timeout_seconds=30 * MINUTE,
            timeout_policy="RETRY",
            retry_logic="EXPONENTIAL_BACKOFF",
            retry_delay_seconds=5,
            max_retry_delay_seconds=120,
            backoff_scale_factor=2,
            backoff_jitter_ms=250,
            input_keys=["order_id", "customer"],
            output_keys=["status"],
            input_template={{"customer": {{"tier": "gold"}}, "retries": [1, 2]}},
            rate_limit_per_frequency=10,
            rate_limit_frequency_in_seconds=5,
            concurrent_exec_limit=3,
            poll_timeout_seconds=30,
            owner_email="team@example.com",  # the configured owner: redundant, fine
            thread_count=4,
        )
        def full(task):
            """Enrich one order.

            Not part of the description.
            """
            return {{}}


        @worker_task("{unique}_linear", retry_logic="LINEAR_BACKOFF", timeout_policy="ALERT_ONLY",
                     retry_count=0, isolation_group_id="iso", execution_name_space="ns",
                     description="explicit")
        async def linear(task):
            return {{}}
    ''',
    )
    write(
        tasks_dir / "plain" / "plain.py",
        f"""
        from conductor.client.worker.worker_task import worker_task
        from conductor.client.http.models import TaskDef


        @worker_task("{unique}_sdk", task_def=TaskDef(retry_count=1, timeout_seconds=300,
                                                     response_timeout_seconds=300, concurrent_exec_limit=1))
        def sdk(task):
            return {{}}


        @worker_task("{unique}_defaults")
        def defaults(task):
            return {{}}
    """,
    )
    tasks = discover_tasks(tasks_dir, owner_email="team@example.com", import_root=tmp_path)
    desired = {task.name: task.definition for task in tasks}
    assert set(desired) == {f"{unique}_{n}" for n in ("full", "linear", "sdk", "defaults")}
    assert desired[f"{unique}_full"]["description"] == "Enrich one order."
    assert desired[f"{unique}_defaults"]["ownerEmail"] == "team@example.com"

    config = load_config(cwd=tmp_path, environ={"CONDUCTOR_SERVER_URL": conductor_url})
    remote = ConductorRemote(config)
    try:
        remote.create_task_defs(list(desired.values()))
        for name, definition in desired.items():
            stored = remote.get_task_def(name)
            assert stored is not None, name
            assert normalise_taskdef(stored) == definition, name
    finally:
        for name in desired:
            with contextlib.suppress(RemoteError):  # cleanup must not hide the failure that got us here
                remote.delete_task_def(name)
    assert all(remote.get_task_def(name) is None for name in desired)
