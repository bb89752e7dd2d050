"""How long static task discovery takes for 1,000 tasks, against importing the same modules.

Run: ``.venv/bin/python bench/bench_discovery.py [--tasks N] [--repeat R]``. Target: under 0.5 s for
1,000 tasks. The import comparison runs in a subprocess (it imports the Conductor SDK).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from idflow.repo.task_files import discover_tasks

TASK_TEMPLATE = '''\
"""Worker for {name}: enriches an order record."""

from __future__ import annotations

import json
import logging
from typing import Any

from idflow import worker_task

log = logging.getLogger(__name__)

BASE_TIMEOUT = 60
OWNER = "orders-team@example.com"


@worker_task(
    task_definition_name="{name}",
    retry_count=3,
    retry_logic="EXPONENTIAL_BACKOFF",
    retry_delay_seconds=5,
    timeout_seconds=BASE_TIMEOUT * 10,
    response_timeout_seconds=BASE_TIMEOUT * 2,
    timeout_policy="RETRY",
    input_keys=["order_id", "customer"],
    owner_email=OWNER,
    thread_count=4,
)
def {name}(task: dict[str, Any]) -> dict[str, Any]:
    """Enrich one order with customer data.

    Reads the order, looks the customer up and returns the merged record.
    """
    order_id = task.get("order_id")
    customer = task.get("customer") or {{}}
    if not order_id:
        raise ValueError("order_id is required")
    log.info("enriching %s", order_id)
    record = {{"order_id": order_id, "customer": customer}}
    tags = []
    for key in sorted(customer):
        if key.startswith("_"):
            continue
        tags.append(key)
    record["tags"] = tags
    record["size"] = len(json.dumps(record))
    if record["size"] > 10_000:
        log.warning("large record %s", order_id)
    total = 0
    for index, tag in enumerate(tags):
        total += index * len(tag)
    record["score"] = total
    return record
'''

IMPORT_SCRIPT = textwrap.dedent(
    """
    import importlib, sys, time
    root, package, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sys.path.insert(0, root)
    start = time.perf_counter()
    for index in range(count):
        name = f"task_{index:04d}"
        importlib.import_module(f"{package}.{name}.{name}")
    print(time.perf_counter() - start)
    """
)


def generate(root: Path, count: int) -> Path:
    tasks_dir = root / "bench_tasks"
    tasks_dir.mkdir()
    (tasks_dir / "__init__.py").write_text("")
    for index in range(count):
        name = f"task_{index:04d}"
        folder = tasks_dir / name
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        (folder / f"{name}.py").write_text(TASK_TEMPLATE.format(name=name))
        if index % 4 == 0:
            (folder / "requirements.txt").write_text("requests>=2.31\n# pinned for the API client\nhttpx==0.27.0\n")
    return tasks_dir


def time_discovery(tasks_dir: Path, root: Path, repeat: int, expected: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of each run (on a shared machine the CPU time is the steadier)."""
    times, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        tasks = discover_tasks(tasks_dir, owner_email="orders-team@example.com", import_root=root)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        assert len(tasks) == expected, len(tasks)
    return times, cpu


def time_import(tasks_dir: Path, root: Path, count: int) -> tuple[float, float]:
    """(seconds importing the modules, wall-clock seconds of the whole subprocess)."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_SCRIPT, str(root), tasks_dir.name, str(count)],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
    )
    wall = time.perf_counter() - start
    return float(result.stdout.strip().splitlines()[-1]), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        tasks_dir = generate(root, args.tasks)
        times, cpu = time_discovery(tasks_dir, root, args.repeat, args.tasks)
        imported, wall = time_import(tasks_dir, root, args.tasks)
    best = min(times)
    print(f"tasks: {args.tasks}")
    print(f"static discovery: best {best:.3f} s of {args.repeat} (all: {', '.join(f'{t:.3f}' for t in times)})")
    print(f"  CPU: best {min(cpu):.3f} s")
    print(f"  per task: {best / args.tasks * 1e6:.0f} us; target < 0.5 s: {'met' if best < 0.5 else 'MISSED'}")
    print(f"importing the modules (SDK decorator): {imported:.3f} s in-process, {wall:.3f} s with interpreter start")
    print(f"discovery is {imported / best:.1f}x faster than importing")


if __name__ == "__main__":
    main()
