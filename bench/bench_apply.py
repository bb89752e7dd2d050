"""How long ``apply_saved_plan`` takes for 1,000 task creates and 1,000 task updates on a real server.

Run: ``CONDUCTOR_SERVER_URL=http://127.0.0.1:8127/api .venv/bin/python bench/bench_apply.py
[--tasks N] [--repeat R] [--parallelism 1,4,8,16] [--raw] [--server-pid PID] [--latency-ms MS]``.

Plans are built with ``build_plan`` on a hand-made ``DesiredState`` (unique names and owner email)
and applied with ``idflow.reconcile.apply_saved_plan`` (no plan file; the state folder is temporary).

* creates: one bulk request (target: 1 write; the stale check adds 2 reads), repeated R times
  (the tasks are deleted between rounds);
* updates: one PUT per task in parallel, for each parallelism (default 1, 4, 8, 16; 8 is idflow's
  default), R rounds interleaved so load changes on the machine hit every setting alike. The speed-up
  of parallelism 8 over 1 is the target (at least 3x).

"apply" is the whole ``apply_saved_plan`` (lock, stale check, writes, report); "writes" is from the
first write request sent to the last one answered. ``--raw`` also times the same PUTs sent with plain
httpx threads (no idflow, no SDK) and the same number of GETs, to tell client overhead from the
server's own limits; ``--server-pid`` adds the server process's CPU time (Linux /proc) to the tables;
``--latency-ms`` repeats the updates through tests/faultproxy.py (in its own process) delaying every PUT,
as a server across a network would. Every task made is deleted at the end, in parallel threads.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from idflow.config import Config, load_config
from idflow.kinds.normal import normalise_taskdef
from idflow.log import configure_logging
from idflow.plan.inputs import DesiredObject, DesiredState, read_actual
from idflow.plan.model import Plan, PlanOptions
from idflow.plan.planner import build_plan
from idflow.reconcile import apply_saved_plan
from idflow.server.client import ConductorRemote

WRITES = frozenset({"create_task_defs", "update_task_def", "delete_task_def", "put_workflow_defs"})
# (apply also creates and deletes its server lock, a workflow definition: not a definition write of the plan)


class TimedRemote:
    """The real remote, noting when the first write was sent and the last one answered."""

    def __init__(self, inner: ConductorRemote):
        self.inner = inner
        self.url = inner.url
        self._lock = threading.Lock()
        self.first: float | None = None
        self.last: float | None = None
        self.definition_writes = 0

    def reset(self) -> None:
        self.first = self.last = None
        self.definition_writes = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name not in WRITES:
            return attribute

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            with self._lock:
                self.first = start if self.first is None else min(self.first, start)
                self.definition_writes += 1
            try:
                return attribute(*args, **kwargs)
            finally:
                end = time.perf_counter()
                with self._lock:
                    self.last = end if self.last is None else max(self.last, end)

        return timed

    @property
    def writes_seconds(self) -> float:
        return (self.last or 0.0) - (self.first or 0.0)


def definition(name: str, owner: str, retry_count: int) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"Benchmark task {name}",
        "ownerEmail": owner,
        "retryCount": retry_count,
        "retryLogic": "EXPONENTIAL_BACKOFF",
        "retryDelaySeconds": 5,
        "timeoutSeconds": 600,
        "responseTimeoutSeconds": 120,
        "timeoutPolicy": "RETRY",
        "inputKeys": ["order_id", "customer"],
        "inputTemplate": {"region": "eu-west-1", "limits": {"max": 10}},
    }


def desired_state(names: list[str], owner: str, retry_count: int) -> DesiredState:
    """What tests/factories.py's ``desired`` builds: normalised definitions, one per name."""
    return DesiredState(
        tasks=MappingProxyType(
            {
                name: DesiredObject(normalise_taskdef(definition(name, owner, retry_count)), f"bench/{name}.py:1")
                for name in names
            }
        )
    )


def plan_for(config: Config, remote: Any, desired: DesiredState) -> Plan:
    return build_plan(
        desired, read_actual(remote), PlanOptions(), server_url=config.server_url, owner_email=config.owner_email
    )


def delete_tasks(remote: ConductorRemote, names: list[str], threads: int = 8) -> None:
    def quietly(name: str) -> None:
        try:
            remote.delete_task_def(name)
        except Exception as exc:  # cleanup goes on whatever one delete says
            if "not found" not in str(exc).lower():
                print(f"cleanup: {exc}", file=sys.stderr)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(quietly, names))


class Table:
    def __init__(self, columns: list[str]):
        self.columns = columns
        self.rows: list[list[str]] = []

    def add(self, *cells: Any) -> None:
        self.rows.append([str(c) for c in cells])

    def __str__(self) -> str:
        widths = [max(len(r[i]) for r in [self.columns, *self.rows]) for i in range(len(self.columns))]
        line = "  ".join(
            f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(self.columns, widths, strict=True))
        )
        out = [line, "-" * len(line)]
        for row in self.rows:
            out.append(
                "  ".join(
                    f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(row, widths, strict=True))
                )
            )
        return "\n".join(out)


def best_median(times: list[float]) -> tuple[str, str]:
    return f"{min(times):.3f}", f"{statistics.median(times):.3f}"


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (Linux /proc), or 0 when not given."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Round:
    """One apply: wall time, write-phase time, requests, client and server CPU time."""

    apply_s: float
    writes_s: float
    requests: int
    writes: int
    cpu_s: float
    server_cpu_s: float


@dataclass
class Bench:
    config: Config
    real: ConductorRemote
    timed: TimedRemote
    names: list[str]
    owner: str
    server_pid: int | None = None
    value: int = 3  # the retryCount the server holds

    def next_value(self) -> int:
        self.value = self.value % 50 + 4
        return self.value

    def apply(self, plan: Plan, parallelism: int) -> Round:
        real = self.real
        before = real.request_count
        self.timed.reset()
        cpu, server_cpu = time.process_time(), process_cpu(self.server_pid)
        start = time.perf_counter()
        outcome = apply_saved_plan(self.config, self.timed, plan, None, parallelism=parallelism)  # type: ignore[arg-type]
        apply_s = time.perf_counter() - start
        cpu_s, server_cpu_s = time.process_time() - cpu, process_cpu(self.server_pid) - server_cpu
        if outcome.failed or len(outcome.results) != len(self.names):
            first = outcome.failed[0].detail if outcome.failed else ""
            raise SystemExit(f"apply: {len(outcome.results)} results, {len(outcome.failed)} failed: {first}")
        return Round(
            apply_s, self.timed.writes_seconds, real.request_count - before, self.timed.definition_writes,
            cpu_s, server_cpu_s,
        )  # fmt: skip

    def creates(self, repeat: int) -> list[Round]:
        """One bulk request per round; the tasks are deleted between rounds (not after the last)."""
        rounds = []
        for index in range(repeat):
            self.value = 3
            plan = plan_for(self.config, self.real, desired_state(self.names, self.owner, self.value))
            assert plan.counts()["create"] == len(self.names), plan.counts()
            rounds.append(self.apply(plan, 8))
            if index < repeat - 1:
                delete_tasks(self.real, self.names)
        return rounds

    def updates(self, levels: list[int], repeat: int) -> dict[int, list[Round]]:
        """Every round changes retryCount on every task; the parallelism levels are interleaved."""
        rounds: dict[int, list[Round]] = {p: [] for p in levels}
        for _ in range(repeat):
            for parallelism in levels:
                plan = plan_for(self.config, self.real, desired_state(self.names, self.owner, self.next_value()))
                counts = plan.counts()
                assert counts["update"] == len(self.names) and counts["create"] == counts["delete"] == 0, counts
                rounds[parallelism].append(self.apply(plan, parallelism))
        return rounds

    def converged(self) -> bool:
        after = plan_for(self.config, self.real, desired_state(self.names, self.owner, self.value))
        return not after.has_changes


def apply_table(n: int, creates: list[Round], updates: dict[int, list[Round]], server_cpu: bool) -> Table:
    columns = ["apply", "apply best s", "median s", "writes best s", "median s", "ms/task",
               "requests", "writes", "client CPU s"]  # fmt: skip
    table = Table([*columns, "server CPU s"] if server_cpu else columns)
    labelled = [(f"{n} creates (bulk)", creates)] if creates else []
    labelled += [(f"{n} updates, parallelism {p}{' (default)' if p == 8 else ''}", r) for p, r in updates.items()]
    for label, rounds in labelled:
        cells = [
            label,
            *best_median([r.apply_s for r in rounds]),
            *best_median([r.writes_s for r in rounds]),
            f"{min(r.writes_s for r in rounds) / n * 1000:.2f}",
            statistics.median(r.requests for r in rounds),
            statistics.median(r.writes for r in rounds),
            f"{statistics.median(r.cpu_s for r in rounds):.2f}",
        ]
        if server_cpu:
            cells.append(f"{statistics.median(r.server_cpu_s for r in rounds):.2f}")
        table.add(*cells)
    return table


def speedups(updates: dict[int, list[Round]]) -> float | None:
    """Print the speed-up of every level over parallelism 1; return that of 8."""
    if 1 not in updates:
        return None
    seq = statistics.median(r.apply_s for r in updates[1])
    seq_w = statistics.median(r.writes_s for r in updates[1])
    for p, rounds in updates.items():
        par = statistics.median(r.apply_s for r in rounds)
        par_w = statistics.median(r.writes_s for r in rounds)
        print(f"speed-up of parallelism {p:>2} over 1 (medians): apply {seq / par:.2f}x, writes {seq_w / par_w:.2f}x")
    return seq / statistics.median(r.apply_s for r in updates[8]) if 8 in updates else None


def raw_requests(url: str, names: list[str], owner: str, threads: int, method: str, value: int) -> float:
    """The same requests with plain httpx and a thread pool: what the server does without idflow."""
    import httpx

    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=32, max_keepalive_connections=32)) as client:

        def one(name: str) -> None:
            if method == "PUT":
                body = normalise_taskdef(definition(name, owner, value))
                response = client.put(f"{url}/metadata/taskdefs", json=body)
            else:
                response = client.get(f"{url}/metadata/taskdefs/{name}")
            response.raise_for_status()

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(one, names))
        return time.perf_counter() - start


PROXY_SCRIPT = """
import sys
from tests.faultproxy import FaultProxy
upstream, delay = sys.argv[1], float(sys.argv[2])
with FaultProxy(upstream, max_lifetime=3600) as proxy:
    proxy.add_rule("PUT", r"/metadata/taskdefs$", "delay", delay=delay)
    print(proxy.api_url, flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def delay_proxy(server_url: str, latency_ms: float) -> Iterator[str]:
    """tests/faultproxy.py in its own process, delaying every task PUT: a server farther away."""
    upstream = server_url.removesuffix("/api")
    repo = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-c", PROXY_SCRIPT, upstream, str(latency_ms / 1000)]
    process = subprocess.Popen(command, cwd=repo, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url:
            raise SystemExit("the delay proxy did not start")
        yield url
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--server", default=os.environ.get("CONDUCTOR_SERVER_URL"), help="default: $CONDUCTOR_SERVER_URL"
    )
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parallelism", default="1,4,8,16", help="comma-separated levels (default 1,4,8,16)")
    parser.add_argument("--raw", action="store_true", help="also time plain httpx PUTs and GETs")
    parser.add_argument("--server-pid", type=int, help="the server's process id: also report its CPU time")
    parser.add_argument(
        "--latency-ms", type=float, default=0, help="also time the updates through a proxy adding this delay"
    )
    args = parser.parse_args()
    if not args.server:
        parser.error("give --server or set CONDUCTOR_SERVER_URL (e.g. http://127.0.0.1:8127/api)")
    levels = [int(p) for p in args.parallelism.split(",")]

    configure_logging("warning")
    prefix = "ba" + uuid.uuid4().hex[:6]
    owner = f"{prefix}@bench.idflow"
    names = [f"{prefix}_task_{index:04d}" for index in range(args.tasks)]
    with tempfile.TemporaryDirectory(prefix="idflow-bench-apply-") as temp:
        root = Path(temp)
        (root / "config").mkdir()
        config_path = root / "config" / "idflow.yml"
        config_path.write_text(f"owner_email: {owner}\nstate_dir: state\n")
        config = load_config(config_path, environ={**os.environ, "CONDUCTOR_SERVER_URL": args.server})
        real = ConductorRemote(config)
        bench = Bench(config, real, TimedRemote(real), names, owner, args.server_pid)
        print(f"server: {config.server_url}; tasks: {args.tasks}; repeat: {args.repeat}; prefix {prefix}")
        print(f"machine: {os.cpu_count()} CPUs; load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        try:
            run(args, bench, levels)
        finally:
            start = time.perf_counter()
            delete_tasks(real, names)
            print(f"\ncleanup: deleted {len(names)} task defs in {time.perf_counter() - start:.1f} s")


def run(args: argparse.Namespace, bench: Bench, levels: list[int]) -> None:
    n = len(bench.names)
    creates = bench.creates(args.repeat)
    updates = bench.updates(levels, args.repeat)
    converged = bench.converged()
    print()
    print(apply_table(n, creates, updates, args.server_pid is not None))
    print("(requests include the 2 reads of apply's stale check and the 3 requests of its server lock;")
    print(" 'writes' counts the plan's definition writes only;")
    print(" 'writes' time runs from the first write request sent to the last one answered)")
    print()
    speedup = speedups(updates)
    if speedup is not None:
        print(
            f"target: parallelism 8 at least 3x faster than 1: {'met' if speedup >= 3 else 'MISSED'} ({speedup:.2f}x)"
        )
    create_writes = statistics.median(r.writes for r in creates)
    print(f"target: creates in 1 write request: {'met' if create_writes == 1 else 'MISSED'} ({create_writes:g})")
    print(f"plan after the last apply: {'no changes' if converged else 'NOT EMPTY'}")

    if args.raw:
        raw = Table(["plain httpx (no idflow), median", *[f"{p} threads s" for p in levels], "8 vs 1"])
        for method in ("PUT", "GET"):
            times: dict[int, list[float]] = {p: [] for p in levels}
            for _ in range(args.repeat):
                for p in levels:
                    url = bench.config.server_url
                    times[p].append(raw_requests(url, bench.names, bench.owner, p, method, bench.next_value()))
            medians = {p: statistics.median(times[p]) for p in levels}
            speed = f"{medians[1] / medians[8]:.2f}x" if 1 in medians and 8 in medians else "-"
            raw.add(f"{n} x {method} /metadata/taskdefs", *[f"{medians[p]:.3f}" for p in levels], speed)
        print()
        print(raw)

    if args.latency_ms:
        with delay_proxy(bench.config.server_url, args.latency_ms) as url:
            config = load_config(bench.config.source, environ={**os.environ, "CONDUCTOR_SERVER_URL": url})
            real = ConductorRemote(config)
            slow = Bench(config, real, TimedRemote(real), bench.names, bench.owner, bench.server_pid, bench.value)
            slow_updates = slow.updates(levels, args.repeat)
        print()
        print(f"through a proxy adding {args.latency_ms:g} ms to every task PUT:")
        print(apply_table(n, [], slow_updates, args.server_pid is not None))
        print()
        speedups(slow_updates)


if __name__ == "__main__":
    main()
