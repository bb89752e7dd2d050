"""idflow's drop-in ``worker_task`` at run time, with the real SDK.

Each test runs in a fresh interpreter: importing the SDK sets multiprocessing's start method and fills a
module-global registry of workers, neither of which should leak into the rest of the test session.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

pytestmark = pytest.mark.processes


def run(code: str) -> Any:
    """Run ``code`` in a fresh interpreter; it must print one JSON document as its last line."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_idflow_does_not_import_the_sdk() -> None:
    assert (
        run("""
        import json, sys
        import idflow
        from idflow import worker_task
        print(json.dumps(any(m.startswith("conductor") for m in sys.modules)))
    """)
        is False
    )


def test_drop_in_builds_the_task_def_and_registers_the_worker() -> None:
    out = run("""
        import asyncio, json
        from idflow import worker_task
        from conductor.client.automator.task_handler import _decorated_functions

        @worker_task(
            task_definition_name="dec_greet",
            retry_count=5,
            timeout_seconds=600,
            response_timeout_seconds=60,
            timeout_policy="RETRY",
            retry_logic="EXPONENTIAL_BACKOFF",
            input_keys=["input"],
            max_retry_delay_seconds=30,
            backoff_jitter_ms=10,
            owner_email="team@example.com",
            thread_count=3,
            poll_interval=250,
        )
        def my_task(task):
            '''Say hello.'''
            return {"echo": task}

        @worker_task("dec_async", poll_interval_seconds=2)
        async def my_async_task(task):
            return {"async": task}

        record = _decorated_functions[("dec_greet", None)]
        task_def = record["task_def"]
        print(json.dumps({
            "result": my_task({"input": "test"}),
            "async_result": asyncio.run(my_async_task({"input": "a"})),
            "name": my_task.__name__,
            "doc": my_task.__doc__,
            "task_def": {
                "name": task_def.name,
                "retry_count": task_def.retry_count,
                "timeout_seconds": task_def.timeout_seconds,
                "response_timeout_seconds": task_def.response_timeout_seconds,
                "timeout_policy": task_def.timeout_policy,
                "retry_logic": task_def.retry_logic,
                "input_keys": task_def.input_keys,
                "owner_email": task_def.owner_email,
            },
            "thread_count": record["thread_count"],
            "poll_interval": record["poll_interval"],
            "async_poll_interval": _decorated_functions[("dec_async", None)]["poll_interval"],
            "async_task_def": _decorated_functions[("dec_async", None)]["task_def"],
        }))
    """)
    assert out["result"] == {"echo": {"input": "test"}}
    assert out["async_result"] == {"async": {"input": "a"}}
    assert out["name"] == "my_task" and out["doc"] == "Say hello."
    assert out["task_def"] == {
        "name": "dec_greet",
        "retry_count": 5,
        "timeout_seconds": 600,
        "response_timeout_seconds": 60,
        "timeout_policy": "RETRY",
        "retry_logic": "EXPONENTIAL_BACKOFF",
        "input_keys": ["input"],
        "owner_email": "team@example.com",
    }
    assert out["thread_count"] == 3
    assert out["poll_interval"] == 250
    assert out["async_poll_interval"] == 2000
    assert out["async_task_def"] is None


def test_sdk_keywords_and_task_def_pass_through() -> None:
    out = run("""
        import json
        from conductor.client.http.models import TaskDef
        from idflow import worker_task
        from conductor.client.automator.task_handler import _decorated_functions

        @worker_task("dec_sdk", task_def=TaskDef(name="dec_sdk", retry_count=1), domain="blue",
                     poll_interval_millis=50, lease_extend_enabled=True)
        def sdk_style(task):
            return task["x"] * 2

        record = _decorated_functions[("dec_sdk", "blue")]
        print(json.dumps([sdk_style({"x": 21}), record["task_def"].retry_count, record["poll_interval"],
                          record["lease_extend_enabled"]]))
    """)
    assert out == [42, 1, 50, True]


def test_wrong_keywords_fail_at_decoration() -> None:
    out = run("""
        import json
        from conductor.client.http.models import TaskDef
        from idflow import worker_task

        errors = []
        for kwargs in (
            {"retry_cont": 3},
            {"retry_count": 3, "task_def": TaskDef(name="x")},
            {"poll_interval": 10, "poll_interval_millis": 10},
        ):
            try:
                worker_task("dec_bad", **kwargs)
            except TypeError as exc:
                errors.append(str(exc))
        print(json.dumps(errors))
    """)
    assert out == [
        "worker_task() got an unexpected keyword argument 'retry_cont'",
        "worker_task(): give the task definition either as task_def=TaskDef(...) or as keywords "
        "(retry_count), not both",
        "worker_task(): give one of poll_interval_millis, poll_interval, poll_interval_seconds",
    ]
