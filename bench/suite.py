"""Every row of issue 19's target table, as whole processes, each against a floor measured in the same run.

Run: ``bench/run [--quick] [--repeat R] [--only ROW,...]``. With ``CONDUCTOR_SERVER_URL`` set it uses that
server (and deletes what it made at the end); without it, it starts a local one with idflow's own tooling
(``idflow.server.local``) in a temporary folder and stops it at the end. Before measuring, it loads the
server with foreign objects (other owners' task defs and workflow versions), as a shared server has.

Each row is the median of R process runs (interleaved with its floor's runs, so changes in machine
load hit both alike), printed with its floor, their ratio and the target. ``--quick`` divides the sizes by
five (CI-size runs); its absolute figures are not the targets' sizes, the ratios still say something.
Peak RSS is the child's ``ru_maxrss`` (``os.wait4``). Standard library and idflow only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_discovery import TASK_TEMPLATE
from bench_plan import TEMPLATE_OWNER, workflow_definition

HERE = Path(__file__).resolve().parent
PY = sys.executable
ROWS = ("plan", "big", "orphans", "purge", "planfile", "proxy", "concurrent", "cli")
BASELINE = HERE / "baseline.json"


# -- processes --------------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    cpu: float  # user + system CPU seconds of the process: steadier than wall time on a loaded machine
    rss_mb: float
    rc: int
    out: str
    err: str


def run(command: list[str], env: dict[str, str], cwd: Path | None = None, check: bool = True) -> Run:
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        result = Run(seconds, cpu, usage.ru_maxrss / 1024, proc.returncode, out.read(), err.read())
    if check and result.rc not in (0, 2):
        raise SystemExit(f"{' '.join(command)} failed ({result.rc}):\n{result.out[-3000:]}\n{result.err[-3000:]}")
    return result


def describe(checkout: Path) -> str:
    """The commit a checkout is at, as ``git describe --always`` says it ('?' outside git)."""
    done = subprocess.run(
        ["git", "-C", str(checkout), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return done.stdout.strip() or "?"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- the server, raw ---------------------------------------------------------------------------------


class Raw:
    """Plain http.client calls, for loading the server and cleaning up (not what is measured)."""

    def __init__(self, api_url: str):
        parts = urlsplit(api_url)
        self.host, self.port, self.base = parts.hostname or "127.0.0.1", parts.port or 80, parts.path.rstrip("/")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, self.base + path, body=data, headers={"Content-Type": "application/json"})
            answer = conn.getresponse()
            text = answer.read()
            try:
                return answer.status, json.loads(text) if text else None
            except ValueError:
                return answer.status, text.decode("utf-8", "replace")
        finally:
            conn.close()

    def delete_all(self, prefixes: tuple[str, ...]) -> int:
        _s, workflows = self.call("GET", "/metadata/workflow")
        _s, tasks = self.call("GET", "/metadata/taskdefs")
        wf = [(w["name"], w.get("version", 1)) for w in workflows or [] if w["name"].startswith(prefixes)]
        td = [t["name"] for t in tasks or [] if t["name"].startswith(prefixes)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda nv: self.call("DELETE", f"/metadata/workflow/{nv[0]}/{nv[1]}"), wf))
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: self.call("DELETE", f"/metadata/taskdefs/{n}"), td))
        return len(wf) + len(td)


GETS_FLOOR = """
import http.client, json, sys
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1]); conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
for path in ("/metadata/taskdefs", "/metadata/workflow"):
    conn.request("GET", u.path.rstrip("/") + path); json.loads(conn.getresponse().read())
"""

DELETES_FLOOR = """
import http.client, sys
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1]); conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
for name in sys.argv[2:]:
    conn.request("DELETE", u.path.rstrip("/") + "/metadata/taskdefs/" + name); conn.getresponse().read()
"""

#: The floor of "two projects at once": one project's task definitions read once and PUT back changed,
#: THREADS at a time (as apply does), by a bare client. Two of them at once show what sharing the server
#: alone costs on this machine, without any waiting for a lock.
PUTS_FLOOR = """
import http.client, json, sys, threading
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1]); prefix, threads = sys.argv[2], int(sys.argv[3]); base = u.path.rstrip("/")
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
conn.request("GET", base + "/metadata/taskdefs"); defs = json.loads(conn.getresponse().read())
todo = [json.dumps({**d, "retryCount": 7 - d.get("retryCount", 3)}) for d in defs if d["name"].startswith(prefix)]
def put():
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    while todo:
        try: body = todo.pop()
        except IndexError: return
        c.request("PUT", base + "/metadata/taskdefs", body, {"Content-Type": "application/json"})
        c.getresponse().read()
workers = [threading.Thread(target=put) for _ in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
"""


@contextmanager
def local_server(keep_url: str | None) -> Iterator[str]:
    if keep_url:
        yield keep_url
        return
    from idflow.server import local

    data = Path(tempfile.mkdtemp(prefix="idflow-bench-server-"))
    try:
        info = local.start(data, port=local.free_port(), progress=lambda m: print(f"server: {m}", flush=True))
        yield info.url
    finally:
        local.stop(data)
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def delay_proxy(api_url: str, delay_ms: float) -> Iterator[str]:
    parts = urlsplit(api_url)
    upstream = f"{parts.scheme}://{parts.netloc}"
    proc = subprocess.Popen(
        [PY, str(HERE / "delayproxy.py"), upstream, str(delay_ms)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip() + parts.path
    finally:
        proc.terminate()
        proc.wait(10)


# -- projects -----------------------------------------------------------------------------------------


@dataclass
class Project:
    root: Path
    prefix: str
    tasks: list[str]
    spare: list[str]  # tasks no workflow uses: the orphans of the orphan rows
    workflows: list[str]
    retry: int = 3
    aside: Path = field(init=False)

    def __post_init__(self) -> None:
        self.aside = self.root.parent / f"{self.root.name}-aside"
        self.aside.mkdir(exist_ok=True)

    @property
    def config(self) -> Path:
        return self.root / "config" / "idflow.yml"

    def task_file(self, name: str) -> Path:
        return self.root / "idflow" / "tasks" / name / f"{name}.py"

    def set_retry(self, value: int) -> None:
        """Every task's retry_count in its file: all tasks changed against the server."""
        old, new = f"retry_count={self.retry},", f"retry_count={value},"
        for name in self.tasks:
            path = self.task_file(name)
            path.write_text(path.read_text().replace(old, new, 1))
        self.retry = value

    def hide(self, names: list[str]) -> None:
        for name in names:
            shutil.move(str(self.root / "idflow" / "tasks" / name), str(self.aside / name))

    def unhide(self, names: list[str]) -> None:
        for name in names:
            shutil.move(str(self.aside / name), str(self.root / "idflow" / "tasks" / name))


def make_project(base: Path, prefix: str, tasks: int, workflows: int, spare: int = 0) -> Project:
    root = base / prefix
    owner = f"{prefix}@bench.idflow"
    (root / "config").mkdir(parents=True)
    (root / "config" / "idflow.yml").write_text(f"owner_email: {owner}\n")
    names = [f"{prefix}_task_{i:05d}" for i in range(tasks)]
    tasks_dir = root / "idflow" / "tasks"
    tasks_dir.mkdir(parents=True)
    (tasks_dir / "__init__.py").write_text("")
    for name in names:
        folder = tasks_dir / name
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        (folder / f"{name}.py").write_text(TASK_TEMPLATE.format(name=name).replace(TEMPLATE_OWNER, json.dumps(owner)))
    used = names[: tasks - spare] if spare else names
    wf_dir = root / "idflow" / "workflows"
    wf_dir.mkdir(parents=True)
    wf_names = [f"{prefix}_wf_{i:04d}" for i in range(workflows)]
    for index, name in enumerate(wf_names):
        uses = [used[(index * 10 + k) % len(used)] for k in range(10)]
        (wf_dir / f"{name}.json").write_text(json.dumps(workflow_definition(name, uses), indent=2) + "\n")
    return Project(root, prefix, names, names[tasks - spare :], wf_names)


def load_foreign(raw: Raw, prefix: str, tasks: int, versions: int) -> None:
    """Other owners' objects on the same server: tasks, and workflows with two versions each."""
    names = [f"{prefix}_other_{i:05d}" for i in range(tasks)]
    defs = [{"name": n, "ownerEmail": "other-team@example.com", "retryCount": 2, "timeoutSeconds": 300,
             "responseTimeoutSeconds": 60} for n in names]  # fmt: skip
    status, body = raw.call("POST", "/metadata/taskdefs", defs)
    assert status < 300, (status, body)
    workflows = []
    for i in range(versions):
        wf = workflow_definition(f"{prefix}_otherwf_{i // 2:04d}", [names[(i * 10 + k) % tasks] for k in range(10)])
        workflows.append({**wf, "version": 1 + i % 2, "ownerEmail": "other-team@example.com"})
    for start in range(0, len(workflows), 200):
        status, body = raw.call("PUT", "/metadata/workflow", workflows[start : start + 200])
        assert status < 300, (status, body)


# -- the rows -----------------------------------------------------------------------------------------


@dataclass
class Row:
    work: str
    target: str
    value: str
    floor: str
    ratio: str
    verdict: str


class Bench:
    def __init__(self, args: argparse.Namespace, url: str, base: Path):
        self.args, self.url, self.base = args, url, base
        self.raw = Raw(url)
        # Bytecode cached, as an installed idflow has it: with PYTHONDONTWRITEBYTECODE (set in some CI images)
        # every process would compile idflow's sources again, and the figures would be of the compiler.
        inherited = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env = {**inherited, "CONDUCTOR_SERVER_URL": url, "NO_COLOR": "1", "IDFLOW_LOG_LEVEL": "warning"}
        self.rows: list[Row] = []
        self.figures: dict[str, Any] = {}
        self.tag = "b" + uuid.uuid4().hex[:5]

    def idflow(self, project: Project, *argv: str, env: dict[str, str] | None = None, check: bool = True) -> Run:
        command = [PY, "-m", "idflow.cli", "--config", str(project.config), *argv]
        return run(command, env or self.env, cwd=project.root, check=check)

    def against(self, project: Project, *argv: str) -> Run:
        """``idflow ARGV`` run by the checkout given with ``--against`` (its sources first on the path)."""
        return self.idflow(project, *argv, env={**self.env, "PYTHONPATH": str(self.args.against)})

    def register(self, project: Project, env: dict[str, str] | None = None) -> None:
        self.idflow(project, "apply", "--plan-now", "-y", env=env)
        out = str(project.root / "state" / "p.json")
        again = self.idflow(project, "plan", "--detailed-exitcode", "-o", out, env=env)
        if again.rc != 0:
            raise SystemExit(f"{project.prefix}: not in sync after registering:\n{again.out[-2000:]}")

    def add(self, work: str, target: str, value: str, floor: str, ratio: str, met: bool | None) -> None:
        verdict = "n/a" if met is None else ("met" if met else "MISSED")
        self.rows.append(Row(work, target, value, floor, ratio, verdict))
        print(f"  {work}: {value} (floor {floor}, {ratio}) -> {verdict}", flush=True)

    def times(self, *commands: Callable[[], Run], repeat: int | None = None) -> list[list[Run]]:
        """Each command R times, interleaved."""
        results: list[list[Run]] = [[] for _ in commands]
        for _ in range(repeat or self.args.repeat):
            for index, command in enumerate(commands):
                results[index].append(command())
        return results

    def floor_gets(self, url: str | None = None) -> Run:
        return run([PY, "-c", GETS_FLOOR, url or self.url], self.env)

    # plan, 1,000 tasks + 200 workflows: all changed, in sync, the plan file --------------------------

    def row_plan(self, size: int, workflows: int, label: str, big: bool = False) -> dict[str, float]:
        project = make_project(self.base, f"{self.tag}{'g' if big else 'p'}", size, workflows)
        print(f"{label}: registering {size} tasks + {workflows} workflows", flush=True)
        self.register(project)
        out = str(project.root / "state" / "plan.json")
        commands = [lambda: self.idflow(project, "plan", "-o", out), self.floor_gets]
        if self.args.against and not big:  # the same plans by another checkout of idflow, interleaved
            commands.append(lambda: self.against(project, "plan", "-o", str(project.root / "state" / "other.json")))
        project.set_retry(4)
        changed, floor, *changed_other = self.times(*commands)
        assert "update" in changed[0].out, changed[0].out[-500:]
        project.set_retry(3)
        in_sync, floor2, *in_sync_other = self.times(*commands)
        size_bytes = Path(out).stat().st_size
        figures = {
            "changed": median([r.seconds for r in changed]),
            "in_sync": median([r.seconds for r in in_sync]),
            "floor": median([r.seconds for r in floor + floor2]),
            "changed_cpu": median([r.cpu for r in changed]),
            "in_sync_cpu": median([r.cpu for r in in_sync]),
            "floor_cpu": median([r.cpu for r in floor + floor2]),
            "rss_changed": max(r.rss_mb for r in changed),
            "rss_in_sync": max(r.rss_mb for r in in_sync),
            "plan_bytes": size_bytes,
            "objects": size + workflows,
        }
        if changed_other:
            figures["against_changed"] = median([r.seconds for r in changed_other[0]])
            figures["against_in_sync"] = median([r.seconds for r in in_sync_other[0]])
        self.figures[label] = figures
        if not big:
            self.plan_project = project
        else:
            self.raw.delete_all((project.prefix,))
        return figures

    def rows_plan(self) -> None:
        n, w = self.size(1000), self.size(200)
        f = self.row_plan(n, w, "plan")
        fl = f"{f['floor']:.2f} s (2 GETs; CPU {f['floor_cpu']:.2f})"
        for work, key, target in ((f"plan, {n} tasks + {w} workflows, all tasks changed", "changed", 1.0),
                                  ("plan, same project in sync", "in_sync", 0.7)):  # fmt: skip
            self.add(work, f"<= {target} s", f"{f[key]:.2f} s (CPU {f[key + '_cpu']:.2f})", fl,
                     f"{f[key] / f['floor']:.1f}x floor", f[key] <= target)  # fmt: skip
            if f"against_{key}" in f:
                other = f[f"against_{key}"]
                self.add(f"  the same plan by {self.args.against.name} ({describe(self.args.against)})", "-",
                         f"{other:.2f} s", "-", f"this idflow takes {f[key] / other:.2f}x its time", None)  # fmt: skip

    def rows_planfile(self) -> None:
        f = self.figures.get("plan") or self.row_plan(self.size(1000), self.size(200), "plan")
        per_object = f["plan_bytes"] / f["objects"]
        base = self.baseline().get("plan_file_bytes_per_object")
        ratio = f"{per_object / base:.0%} of the baseline" if base else "no baseline"
        self.add("plan file of an in-sync project", "<= 30 % of the baseline", f"{f['plan_bytes'] / 1e6:.2f} MB",
                 f"baseline {base * f['objects'] / 1e6:.2f} MB" if base else "-", ratio,
                 None if not base else per_object <= 0.3 * base)  # fmt: skip

    def rows_big(self) -> None:
        small = self.figures.get("plan") or self.row_plan(self.size(1000), self.size(200), "plan")
        n, w = self.size(10000), self.size(2000)
        f = self.row_plan(n, w, "big", big=True)
        ratio = f["changed"] / small["changed"]
        self.add(f"plan, {n} tasks + {w} workflows, all tasks changed", "<= 6 s, <= 10x the 1,000 row",
                 f"{f['changed']:.2f} s", f"{f['floor']:.2f} s (2 GETs)",
                 f"{ratio:.1f}x the {self.size(1000)} row", f["changed"] <= 6 and ratio <= 10)  # fmt: skip
        self.add(f"  peak RSS of that plan ({n} tasks)", "<= 400 MB", f"{f['rss_changed']:.0f} MB", "-", "-",
                 f["rss_changed"] <= 400)  # fmt: skip

    # orphans and purge ------------------------------------------------------------------------------

    def orphan_project(self) -> Project:
        if not hasattr(self, "orph"):
            self.orph = make_project(self.base, f"{self.tag}o", self.size(1000), self.size(200), spare=50)
            print("orphans: registering", flush=True)
            self.register(self.orph)
        return self.orph

    def rows_orphans(self) -> None:
        p = self.orphan_project()
        out = str(p.root / "state" / "plan.json")

        def listing() -> Run:
            return self.idflow(p, "tasks", "list", "--sync")

        def plan() -> Run:
            return self.idflow(p, "plan", "-o", out)

        sync_list, sync_plan = self.times(listing, plan)
        p.hide(p.spare)
        try:
            orph_list, orph_plan = self.times(listing, plan)
            assert "delete" in orph_plan[0].out, orph_plan[0].out[-500:]
        finally:
            p.unhide(p.spare)
        for what, orphaned, synced in (("tasks list --sync", orph_list, sync_list), ("plan", orph_plan, sync_plan)):
            a, b = median([r.seconds for r in orphaned]), median([r.seconds for r in synced])
            self.add(f"{what} with 50 orphans", "<= in sync + 10 %", f"{a:.2f} s", f"{b:.2f} s in sync",
                     f"{a / b:.2f}x", a <= 1.1 * b)  # fmt: skip

    def rows_purge(self) -> None:
        p = self.orphan_project()
        doomed = p.spare[:40]
        _s, defs = self.raw.call("GET", "/metadata/taskdefs")
        saved = [d for d in defs if d["name"] in set(doomed)]
        assert len(saved) == 40, len(saved)
        purges, floors = [], []
        p.hide(doomed)
        try:
            for _ in range(self.args.repeat):
                purges.append(self.idflow(p, "tasks", "purge", "--orphaned", "-y"))
                _s, left = self.raw.call("GET", "/metadata/taskdefs")
                assert not {d["name"] for d in left} & set(doomed), "purge left some"
                self.raw.call("POST", "/metadata/taskdefs", saved)
                floors.append(run([PY, "-c", DELETES_FLOOR, self.url, *doomed], self.env))
                self.raw.call("POST", "/metadata/taskdefs", saved)
        finally:
            p.unhide(doomed)
        a, b = median([r.seconds for r in purges]), median([r.seconds for r in floors])
        ac, bc = median([r.cpu for r in purges]), median([r.cpu for r in floors])
        self.add("tasks purge --orphaned, 40 deletes", "<= 1.5 s beyond the deletes", f"{a:.2f} s (CPU {ac:.2f})",
                 f"{b:.2f} s (40 DELETEs alone; CPU {bc:.2f})", f"+{a - b:.2f} s", a - b <= 1.5)  # fmt: skip

    # through a slow link, and two projects at once ------------------------------------------------------

    def rows_proxy(self) -> None:
        n = self.size(1000)
        p = make_project(self.base, f"{self.tag}x", n, 0)
        print(f"proxy: registering {n} tasks", flush=True)
        self.register(p)
        seq, par = [], []
        with delay_proxy(self.url, 10) as slow:
            env = {**self.env, "CONDUCTOR_SERVER_URL": slow}
            out = str(p.root / "state" / "plan.json")
            for _ in range(max(2, self.args.repeat - 1)):
                for parallelism, into in (("1", seq), ("8", par)):
                    p.set_retry(4 if p.retry == 3 else 3)
                    self.idflow(p, "plan", "-o", out, env=env)
                    into.append(self.idflow(p, "apply", out, "-y", "--parallelism", parallelism, env=env))
        a, b = median([r.seconds for r in par]), median([r.seconds for r in seq])
        ac, bc = median([r.cpu for r in par]), median([r.cpu for r in seq])
        self.add(f"{n} updates through a proxy adding 10 ms per request", ">= 5x faster than one at a time",
                 f"{a:.2f} s (CPU {ac:.2f})", f"{b:.2f} s one at a time (CPU {bc:.2f})", f"{b / a:.1f}x",
                 b / a >= 5)  # fmt: skip
        self.raw.delete_all((p.prefix,))

    def rows_concurrent(self) -> None:
        n = self.size(500)
        left = make_project(self.base, f"{self.tag}l", n, 0)
        right = make_project(self.base, f"{self.tag}r", n, 0)
        twin = self.base / f"{self.tag}l-twin"  # the same objects from another checkout: overlapping
        for p in (left, right):
            self.register(p)
        with delay_proxy(self.url, 10) as slow:
            env = {**self.env, "CONDUCTOR_SERVER_URL": slow}

            def prepared(p: Project, root: Path | None = None) -> list[str]:
                """A plan changing every task; with ``root``, of a copy of ``p`` as it is (no new change), so
                both checkouts plan the same change against the same server state: overlapping applies."""
                if root is None:
                    p.set_retry(4 if p.retry == 3 else 3)
                else:
                    shutil.rmtree(root, ignore_errors=True)
                    shutil.copytree(p.root, root, ignore=shutil.ignore_patterns("state"))
                config = (root or p.root) / "config" / "idflow.yml"
                out = str((root or p.root) / "state" / "plan.json")
                run([PY, "-m", "idflow.cli", "--config", str(config), "plan", "-o", out], env, cwd=root or p.root)
                return [PY, "-m", "idflow.cli", "--config", str(config), "apply", out, "-y"]

            def together(a: list[str], b: list[str]) -> tuple[Run, Run]:
                with ThreadPoolExecutor(2) as pool:
                    fa = pool.submit(run, a, env, None, False)
                    fb = pool.submit(run, b, env, None, False)
                    return fa.result(), fb.result()

            def puts(p: Project) -> list[str]:
                return [PY, "-c", PUTS_FLOOR, slow, p.prefix + "_task_", "8"]

            alone, both, both_cpu, overlap, floor_alone, floor_both = [], [], [], [], [], []
            for _ in range(max(2, self.args.repeat - 1)):
                alone.append(run(prepared(left), env))
                ra, rb = together(prepared(left), prepared(right))
                both.append(max(ra.seconds, rb.seconds))
                both_cpu.append(ra.cpu + rb.cpu)
                assert ra.rc == 0 and rb.rc == 0, (ra.err[-800:], rb.err[-800:])
                first = prepared(left)
                ca, cb = together(first, prepared(left, twin))
                overlap.append((ca, cb))
                floor_alone.append(run(puts(left), env).seconds)
                fa, fb = together(puts(left), puts(right))
                floor_both.append(max(fa.seconds, fb.seconds))
        a = median([r.seconds for r in alone])
        b = median(both)
        ac = median([r.cpu for r in alone])
        # Sharing one server slows two applies down even when neither waits for the other: the floor is the
        # slowdown of two bare clients doing the same PUTs at once. Waiting for the other's objects would
        # show as a slowdown beyond it (met: within 20 % of it), and serialised applies take twice one alone.
        floor_ratio = median(floor_both) / median(floor_alone)
        self.add(f"two projects, disjoint ({n} updates each), applying at once", "neither waits",
                 f"{b:.2f} s the slower (CPU {median(both_cpu):.2f} both)",
                 f"{a:.2f} s one alone (CPU {ac:.2f}); bare PUTs: {median(floor_both):.2f} s two at once, "
                 f"{median(floor_alone):.2f} s alone ({floor_ratio:.2f}x)", f"{b / a:.2f}x (floor {floor_ratio:.2f}x)",
                 b / a <= 1.2 * floor_ratio and b / a < 1.9)  # fmt: skip
        # Overlapping: serialised means the later one either waited for the whole first apply or was
        # refused as stale once it got the lock (the first changed what it planned against).
        waited = [max(x.seconds, y.seconds) >= 1.6 * a or (x.rc != 0) != (y.rc != 0) for x, y in overlap]
        self.add("  the same objects from two checkouts at once", "serialise",
                 f"{median([max(x.seconds, y.seconds) for x, y in overlap]):.2f} s the slower",
                 f"{a:.2f} s one alone", f"{sum(waited)}/{len(waited)} serialised", all(waited))  # fmt: skip
        self.raw.delete_all((left.prefix, right.prefix))

    # the CLI's own cost --------------------------------------------------------------------------------

    def rows_cli(self) -> None:
        project = make_project(self.base, f"{self.tag}v", self.size(1000), self.size(200))
        start = lambda: run([PY, "-c", "pass"], self.env)  # noqa: E731
        imports = lambda: run([PY, "-c", "import idflow.cli"], self.env)  # noqa: E731
        helps, validates, starts, floors = self.times(
            lambda: run([PY, "-m", "idflow.cli", "--help"], self.env),
            lambda: self.idflow(project, "validate"),
            start,
            imports,
            repeat=self.args.repeat + 2,
        )
        h, v = median([r.seconds for r in helps]), median([r.seconds for r in validates])
        hc, vc = median([r.cpu for r in helps]), median([r.cpu for r in validates])
        s, f = median([r.seconds for r in starts]), median([r.seconds for r in floors])
        self.add("idflow --help", "<= 0.15 s", f"{h:.3f} s (CPU {hc:.3f})", f"{s:.3f} s (python -c pass)",
                 f"{h / s:.1f}x", h <= 0.15)  # fmt: skip
        self.add(f"idflow validate, {self.size(1000)} tasks + {self.size(200)} workflows", "<= 0.5 s",
                 f"{v:.2f} s (CPU {vc:.2f})", f"{f:.3f} s (start + import idflow.cli)", f"{v / f:.1f}x",
                 v <= 0.5)  # fmt: skip

    # ---------------------------------------------------------------------------------------------------

    def size(self, full: int) -> int:
        return full // 5 if self.args.quick else full

    def baseline(self) -> dict[str, Any]:
        try:
            return json.loads(BASELINE.read_text())
        except (OSError, ValueError):
            return {}

    def table(self) -> str:
        heads = ("work", "target", "measured", "floor", "ratio", "")
        cells = [heads] + [(r.work, r.target, r.value, r.floor, r.ratio, r.verdict) for r in self.rows]
        widths = [max(len(c[i]) for c in cells) for i in range(len(heads))]
        lines = ["| " + " | ".join(c[i].ljust(widths[i]) for i in range(len(heads))) + " |" for c in cells]
        lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="sizes / 5, fewer runs: for CI")
    parser.add_argument("--repeat", type=int, default=None, help="process runs per figure (default 5; quick 3)")
    parser.add_argument("--only", default=",".join(ROWS), help=f"comma-separated, of: {', '.join(ROWS)}")
    parser.add_argument("--no-foreign", action="store_true", help="do not load the server with others' objects")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--against", type=Path, help="also time the plan rows with the idflow checkout here")
    parser.add_argument("--write-baseline", action="store_true", help=f"record the plan file size in {BASELINE.name}")
    args = parser.parse_args()
    args.repeat = args.repeat or (3 if args.quick else 5)
    if args.against and not (args.against / "idflow" / "cli").is_dir():
        parser.error(f"--against {args.against}: not a checkout of idflow (no idflow/cli in it)")
    args.against = args.against.resolve() if args.against else None
    only = [r.strip() for r in args.only.split(",") if r.strip()]
    unknown = set(only) - set(ROWS)
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    with (
        tempfile.TemporaryDirectory(prefix="idflow-bench-") as temp,
        local_server(os.environ.get("CONDUCTOR_SERVER_URL")) as url,
    ):
        bench = Bench(args, url, Path(temp))
        print(f"server {url}; {'quick' if args.quick else 'full'} sizes; {args.repeat} runs per figure", flush=True)
        try:
            if not args.no_foreign:
                load_foreign(bench.raw, bench.tag, bench.size(1000), bench.size(400))
            steps = {"plan": bench.rows_plan, "planfile": bench.rows_planfile, "big": bench.rows_big,
                     "orphans": bench.rows_orphans, "purge": bench.rows_purge, "proxy": bench.rows_proxy,
                     "concurrent": bench.rows_concurrent, "cli": bench.rows_cli}  # fmt: skip
            for name in ROWS:
                if name in only:
                    steps[name]()
        finally:
            print(f"cleanup: {bench.raw.delete_all((bench.tag,))} objects deleted", flush=True)
        print()
        print(bench.table())
        if args.json:
            args.json.write_text(json.dumps({"rows": [r.__dict__ for r in bench.rows], **bench.figures}, indent=2))
        if args.write_baseline and "plan" in bench.figures:
            f = bench.figures["plan"]
            BASELINE.write_text(json.dumps({"plan_file_bytes_per_object": f["plan_bytes"] / f["objects"]}) + "\n")


if __name__ == "__main__":
    main()
