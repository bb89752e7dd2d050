"""How long `idflow validate` takes as a process (what a pre-commit hook pays), against its floor.

Run: ``.venv/bin/python bench/bench_validate.py [--tasks N] [--workflows W] [--repeat R]``. Target: at most
0.5 s for 1,000 tasks. The project is bench_plan's (1,000 task files, 200 nested workflows) plus 20 stage
files; no server is needed or contacted. The floors are measured in the same run, alternating with
validate so machine load hits all alike: a bare interpreter, and an interpreter importing idflow's CLI
(what every idflow command pays before doing anything).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_plan import generate_project

STAGE = """\
description: Benchmark stage {index}
workflow:
  name: {workflow}
input:
  doc_uuid: "{{{{ doc_uuid }}}}"
  language: "{{{{ language | default('en') }}}}"
"""


def add_stages(root: Path, workflows: list[str], count: int) -> None:
    stages = root / "idflow" / "stages"
    stages.mkdir(parents=True)
    for index in range(count):
        workflow = workflows[index % len(workflows)]
        (stages / f"stage_{index:02d}.yml").write_text(STAGE.format(index=index, workflow=workflow))


# As an installed idflow runs: with its modules' bytecode cached (the first, unmeasured run writes it), also
# where the environment says PYTHONDONTWRITEBYTECODE (without a cache every run compiles idflow's sources).
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def run(command: list[str], cwd: Path) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds of the child: user + system). On a loaded machine the CPU time
    is the steadier figure: waiting for a core counts in the first, not in the second."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=ENV)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--workflows", type=int, default=200)
    parser.add_argument("--stages", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    idflow = str(Path(sys.executable).with_name("idflow"))
    # -P: like the idflow script, do not put the working directory (the project, whose idflow/ folder
    # would shadow the package) on sys.path.
    commands = {
        "interpreter start (python -c pass)": [sys.executable, "-P", "-c", "pass"],
        "floor: start + import idflow.cli": [sys.executable, "-P", "-c", "import idflow.cli"],
        "idflow validate": [idflow, "validate"],
    }
    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        generate_project(root, "bv", args.tasks, args.workflows)
        add_stages(root, [f"bv_wf_{i:03d}" for i in range(args.workflows)], args.stages)
        output = subprocess.run(
            [idflow, "validate"], cwd=root, capture_output=True, text=True, check=True, env=ENV
        ).stdout
        wall: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, command in commands.items():
                seconds, cpu_seconds = run(command, root)
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
    print(f"project: {args.tasks} tasks, {args.workflows} workflows, {args.stages} stages; {args.repeat} runs each")
    print(f"validate said: {output.strip()}")
    print(f"load average before/after: {load_before} / {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'':40} {'best s':>8} {'median s':>9} {'CPU best s':>11}")
    for name in commands:
        print(f"{name:40} {min(wall[name]):8.3f} {statistics.median(wall[name]):9.3f} {min(cpu[name]):11.3f}")
    floor = "floor: start + import idflow.cli"
    best, best_cpu = min(wall["idflow validate"]), min(cpu["idflow validate"])
    print(
        f"validate / floor (best wall): {best / min(wall[floor]):.1f}x, (best CPU): {best_cpu / min(cpu[floor]):.1f}x;"
        f" the checking itself: {best - min(wall[floor]):.3f} s wall, {best_cpu - min(cpu[floor]):.3f} s CPU"
    )
    print(f"target <= 0.5 s for 1,000 tasks: {'met' if best <= 0.5 else 'MISSED'} (best {best:.3f} s wall)")


if __name__ == "__main__":
    main()
