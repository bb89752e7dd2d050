"""How long ``make_plan`` takes for 1,000 tasks and 200 workflows against a real Conductor server.

Run: ``CONDUCTOR_SERVER_URL=http://127.0.0.1:8127/api .venv/bin/python bench/bench_plan.py
[--tasks N] [--workflows W] [--repeat R] [--cli-repeat C]``.

A temporary project gets N task folders (the worker template of bench_discovery.py) and W workflow
files (JSON), each with 10 SIMPLE tasks nested in a FORK_JOIN, a SWITCH's decisionCases and a
DO_WHILE's loopOver. Its config has a unique ``owner_email``, so only these objects are managed.
Everything is registered through idflow (``make_plan`` + ``apply_saved_plan``), then ``make_plan`` is
timed end to end and piece by piece (discovery, workflow files, the server read, workflow checks,
``build_plan``), with the HTTP requests it makes (target: 2; ``build_plan`` under 0.5 s). The plans
are rendered as text, JSON and markdown, and ``idflow plan`` is timed as a subprocess. Everything
created on the server is deleted at the end, in parallel threads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bench_discovery import TASK_TEMPLATE

from idflow.config import load_config
from idflow.log import configure_logging
from idflow.plan.inputs import DesiredObject, DesiredState, load_desired, read_actual
from idflow.plan.model import Plan, PlanOptions
from idflow.plan.planner import build_plan
from idflow.reconcile import apply_saved_plan, make_plan
from idflow.render.json_render import render_json
from idflow.render.markdown import render_markdown
from idflow.render.text import render_text
from idflow.repo.task_files import discover_tasks
from idflow.repo.validate import workflow_problems
from idflow.repo.workflow_files import load_workflows
from idflow.server.client import ConductorRemote

TEMPLATE_OWNER = '"orders-team@example.com"'
LOOP_CONDITION = "if ($.{ref}['iteration'] < 3) {{ true; }} else {{ false; }}"


# -- the project ------------------------------------------------------------------------------------


def task_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}_task_{index:04d}" for index in range(count)]


def generate_tasks(tasks_dir: Path, names: list[str], owner: str) -> None:
    """bench_discovery's generator, with unique names and this project's owner email."""
    tasks_dir.mkdir(parents=True)
    (tasks_dir / "__init__.py").write_text("")
    for index, name in enumerate(names):
        folder = tasks_dir / name
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        source = TASK_TEMPLATE.format(name=name).replace(TEMPLATE_OWNER, json.dumps(owner))
        (folder / f"{name}.py").write_text(source)
        if index % 4 == 0:
            (folder / "requirements.txt").write_text("requests>=2.31\n# pinned for the API client\nhttpx==0.27.0\n")


def _simple(name: str, ref: str) -> dict[str, Any]:
    return {
        "name": name,
        "taskReferenceName": ref,
        "type": "SIMPLE",
        "inputParameters": {"order_id": "${workflow.input.order_id}", "customer": "${workflow.input.customer}"},
    }


def workflow_definition(name: str, used: list[str]) -> dict[str, Any]:
    """10 SIMPLE tasks, all nested: 4 in a FORK_JOIN, 3 in a SWITCH's cases, 3 in a DO_WHILE."""
    t = [_simple(task, f"t{k}") for k, task in enumerate(used)]
    fork = {
        "name": "fork",
        "taskReferenceName": "fork",
        "type": "FORK_JOIN",
        "forkTasks": [[t[0], t[1]], [t[2], t[3]]],
    }
    join = {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["t1", "t3"]}
    switch = {
        "name": "route",
        "taskReferenceName": "route",
        "type": "SWITCH",
        "evaluatorType": "value-param",
        "expression": "kind",
        "inputParameters": {"kind": "${workflow.input.kind}"},
        "decisionCases": {"small": [t[4]], "large": [t[5], t[6]]},
        "defaultCase": [],
    }
    loop = {
        "name": "loop",
        "taskReferenceName": "loop",
        "type": "DO_WHILE",
        "loopCondition": LOOP_CONDITION.format(ref="loop"),
        "inputParameters": {},
        "loopOver": [t[7], t[8], t[9]],
    }
    index = int(name.rsplit("_", 1)[1])
    if index % 3 == 0:
        tasks = [fork, join, switch, loop]
    elif index % 3 == 1:  # the fork inside a switch case
        switch = {**switch, "decisionCases": {**switch["decisionCases"], "forked": [fork, join]}}
        tasks = [switch, loop]
    else:  # the switch inside the loop
        loop = {**loop, "loopOver": [*loop["loopOver"], switch]}
        tasks = [fork, join, loop]
    return {
        "name": name,
        "version": 1,
        "schemaVersion": 2,
        "description": f"Benchmark workflow {name}",
        "inputParameters": ["order_id", "customer", "kind"],
        "outputParameters": {"done": "${join.output}"},
        "timeoutPolicy": "ALERT_ONLY",
        "timeoutSeconds": 0,
        "tasks": tasks,
    }


def workflow_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}_wf_{index:03d}" for index in range(count)]


def generate_workflows(workflows_dir: Path, names: list[str], tasks: list[str]) -> None:
    workflows_dir.mkdir(parents=True)
    for index, name in enumerate(names):
        used = [tasks[(index * 10 + k) % len(tasks)] for k in range(10)]
        text = json.dumps(workflow_definition(name, used), indent=2)
        (workflows_dir / f"{name}.json").write_text(text + "\n")


def generate_project(root: Path, prefix: str, tasks: int, workflows: int) -> Path:
    """The project folder; returns the config file."""
    owner = f"{prefix}@bench.idflow"
    (root / "config").mkdir(parents=True)
    config_path = root / "config" / "idflow.yml"
    config_path.write_text(f"owner_email: {owner}\n")
    names = task_names(prefix, tasks)
    generate_tasks(root / "idflow" / "tasks", names, owner)
    generate_workflows(root / "idflow" / "workflows", workflow_names(prefix, workflows), names)
    return config_path


# -- measuring --------------------------------------------------------------------------------------


class Timings:
    """Named lists of seconds; prints best and median."""

    def __init__(self) -> None:
        self.rows: dict[str, list[float]] = {}
        self.notes: dict[str, str] = {}

    def add(self, name: str, seconds: float, note: str = "") -> None:
        self.rows.setdefault(name, []).append(seconds)
        if note:
            self.notes[name] = note

    def time(self, name: str, func: Callable[..., Any], *args: Any, note: str = "", **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = func(*args, **kwargs)
        self.add(name, time.perf_counter() - start, note)
        return result

    def table(self, title: str) -> str:
        width = max([len(n) for n in self.rows] + [len(title)])
        lines = [f"{title:<{width}}  {'best s':>8}  {'median s':>8}  runs  note", "-" * (width + 34)]
        for name, times in self.rows.items():
            lines.append(
                f"{name:<{width}}  {min(times):8.3f}  {statistics.median(times):8.3f}  {len(times):4d}  "
                f"{self.notes.get(name, '')}"
            )
        return "\n".join(lines)


def delete_everything(remote: ConductorRemote, tasks: list[str], workflows: list[str], threads: int = 8) -> None:
    """Delete what the benchmark made (workflows first), in parallel; absent objects are fine."""

    def quietly(action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as exc:  # cleanup goes on whatever one delete says
            if "not found" not in str(exc).lower():
                print(f"cleanup: {exc}", file=sys.stderr)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda n: quietly(lambda: remote.delete_workflow_def(n, 1)), workflows))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda n: quietly(lambda: remote.delete_task_def(n)), tasks))


def counts_text(plan: Plan) -> str:
    c = plan.counts()
    return f"{c['create']} create, {c['update']} update, {c['delete']} delete, {c['no-op']} no-op"


def render_all(timings: Timings, label: str, plan: Plan, repeat: int) -> dict[str, int]:
    sizes = {}
    for _ in range(repeat):
        text = timings.time(f"render text ({label})", render_text, plan)
        as_json = timings.time(f"render json ({label})", render_json, plan)
        parts = timings.time(f"render markdown ({label})", render_markdown, plan)
        sizes = {"text": len(text), "json": len(as_json), "markdown": sum(len(p) for p in parts)}
    for fmt, size in sizes.items():
        timings.notes[f"render {fmt} ({label})"] = f"{size:,} chars"
    return sizes


def with_retry_count(desired: DesiredState, value: int) -> DesiredState:
    """The same desired state with every task's retryCount changed: a plan of N updates."""
    tasks = {
        name: DesiredObject(MappingProxyType({**obj.definition, "retryCount": value}), obj.source)
        for name, obj in desired.tasks.items()
    }
    return replace(desired, tasks=MappingProxyType(tasks))


def time_cli(config_path: Path, url: str, repeat: int, fmt: str) -> list[float]:
    env = {**os.environ, "CONDUCTOR_SERVER_URL": url, "NO_COLOR": "1"}
    out = config_path.parent.parent / "state" / f"cli-plan-{fmt}.json"
    command = [
        sys.executable,
        "-m",
        "idflow.cli",
        "--config",
        str(config_path),
        "plan",
        "--format",
        fmt,
        "-o",
        str(out),
    ]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"idflow plan failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        if fmt == "text" and "No changes." not in result.stdout:
            print(f"note: `idflow plan` did not report 'No changes.':\n{result.stdout[:2000]}", file=sys.stderr)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--server", default=os.environ.get("CONDUCTOR_SERVER_URL"), help="default: $CONDUCTOR_SERVER_URL"
    )
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--workflows", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cli-repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.server:
        parser.error("give --server or set CONDUCTOR_SERVER_URL (e.g. http://127.0.0.1:8127/api)")

    configure_logging("warning")
    prefix = "bp" + uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory(prefix="idflow-bench-plan-") as temp:
        root = Path(temp)
        config_path = generate_project(root, prefix, args.tasks, args.workflows)
        config = load_config(config_path, environ={**os.environ, "CONDUCTOR_SERVER_URL": args.server})
        remote = ConductorRemote(config)
        tasks, workflows = task_names(prefix, args.tasks), workflow_names(prefix, args.workflows)
        options = PlanOptions()
        timings = Timings()
        try:
            run(args, config, config_path, remote, options, timings)
        finally:
            start = time.perf_counter()
            delete_everything(remote, tasks, workflows)
            print(
                f"\ncleanup: deleted {len(workflows)} workflows and {len(tasks)} task defs "
                f"in {time.perf_counter() - start:.1f} s (prefix {prefix})"
            )


def run(
    args: argparse.Namespace,
    config: Any,
    config_path: Path,
    remote: ConductorRemote,
    options: PlanOptions,
    timings: Timings,
) -> None:
    print(f"server: {config.server_url}; project: {config.root}")
    print(f"tasks: {args.tasks}; workflows: {args.workflows} (10 nested SIMPLE tasks each); repeat: {args.repeat}")

    # Register everything through idflow, and time that first plan and apply.
    before = remote.request_count
    start = time.perf_counter()
    create_plan = make_plan(config, remote, options)
    first_plan_s = time.perf_counter() - start
    first_plan_requests = remote.request_count - before
    print(
        f"first plan (nothing registered yet): {counts_text(create_plan)} in {first_plan_s:.3f} s, "
        f"{first_plan_requests} requests"
    )
    before, writes = remote.request_count, remote.write_count
    start = time.perf_counter()
    outcome = apply_saved_plan(config, remote, create_plan, None)
    print(
        f"registration (apply_saved_plan): {len(outcome.results)} results, {len(outcome.failed)} failed, "
        f"in {time.perf_counter() - start:.3f} s, {remote.request_count - before} requests "
        f"({remote.write_count - writes} writes)"
    )
    if outcome.failed:
        raise SystemExit(f"registration failed: {outcome.failed[0].detail}")

    # make_plan end to end, then the same work piece by piece.
    requests = []
    plan = create_plan
    for _ in range(args.repeat):
        before = remote.request_count
        plan = timings.time("make_plan end to end", make_plan, config, remote, options)
        requests.append(remote.request_count - before)
    timings.notes["make_plan end to end"] = f"{statistics.median(requests):g} HTTP requests ({counts_text(plan)})"
    if plan.has_changes:
        print(f"WARNING: the plan after apply is not empty: {counts_text(plan)}", file=sys.stderr)
        for change in plan.changes:
            if change.action.value != "no-op":
                print(f"  {change.label}: {[(d.path, d.before, d.after) for d in change.diff][:5]}", file=sys.stderr)
                break

    desired = actual = None
    plan_args = {"server_url": config.server_url, "owner_email": config.owner_email, "ignore": config.ignore}
    for _ in range(args.repeat):
        tasks = timings.time(
            f"  discovery ({args.tasks:,} task files)",
            discover_tasks,
            config.tasks_dir,
            owner_email=config.owner_email,
            import_root=config.root,
        )
        assert len(tasks) == args.tasks, len(tasks)
        timings.time(
            f"  workflow files ({args.workflows})",
            load_workflows,
            config.workflows_dir,
            variables=config.vars,
            owner_email=config.owner_email,
        )
        desired = timings.time("  load_desired (both)", load_desired, config)
        before = remote.request_count
        actual = timings.time("  server read (read_actual)", read_actual, remote)
        timings.notes["  server read (read_actual)"] = (
            f"{remote.request_count - before} requests; {len(actual.tasks)} tasks, {len(actual.workflows)} workflows"
        )
        known_workflows = (
            set(desired.workflows) | set(actual.workflows) | {n for n, _v in (*desired.workflows, *actual.workflows)}
        )
        timings.time(
            "  workflow checks",
            workflow_problems,
            desired,
            set(desired.tasks) | set(actual.tasks),
            known_workflows,
            root=config.root,
        )
        timings.time(
            "  build_plan (no changes)", build_plan, desired, actual, options, note="target < 0.5 s", **plan_args
        )
    assert desired is not None and actual is not None
    updated = with_retry_count(desired, 1)
    update_plan = plan
    for _ in range(args.repeat):
        update_plan = timings.time(
            f"  build_plan ({args.tasks:,} updates)", build_plan, updated, actual, options, **plan_args
        )
    timings.notes[f"  build_plan ({args.tasks:,} updates)"] = counts_text(update_plan)
    print()
    print(timings.table("make_plan"))

    renders = Timings()
    render_all(renders, "no changes", plan, args.repeat)
    render_all(renders, "all create", create_plan, args.repeat)
    render_all(renders, "updates", update_plan, args.repeat)
    print()
    print(renders.table("rendering"))

    cli = Timings()
    for fmt in ("text", "json"):
        for seconds in time_cli(config_path, config.server_url, args.cli_repeat, fmt):
            cli.add(f"idflow plan --format {fmt}", seconds, "subprocess, interpreter start included")
    print()
    print(cli.table("CLI"))

    plan_s = statistics.median(timings.rows["  build_plan (no changes)"])
    print()
    print(
        f"requests per make_plan: {statistics.median(requests):g} (target 2: "
        f"{'met' if max(requests) == 2 else 'MISSED'}); build_plan median {plan_s:.3f} s "
        f"(target < 0.5 s: {'met' if plan_s < 0.5 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
