"""How long `idflow validate` takes as a process (what a pre-commit hook pays), against its floor.

Run: ``.venv/bin/python bench/bench_validate.py [--tasks N] [--workflows W] [--repeat R]``. Target: at most
0.5 s for 1,000 tasks. The project is bench_plan's (1,000 task files, 200 nested workflows) plus 20 stage
files; no server is needed or contacted. The floors are measured in the same run, alternating with
validate so machine load hits all alike: a bare interpreter, and an interpreter importing idflow's CLI
(what every idflow command pays before doing anything).
"""

from __future__ import annotations

import argparse
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


def run(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return elapsed


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
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        generate_project(root, "bv", args.tasks, args.workflows)
        add_stages(root, [f"bv_wf_{i:03d}" for i in range(args.workflows)], args.stages)
        output = subprocess.run([idflow, "validate"], cwd=root, capture_output=True, text=True, check=True).stdout
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, command in commands.items():
                times[name].append(run(command, root))
    print(f"project: {args.tasks} tasks, {args.workflows} workflows, {args.stages} stages; {args.repeat} runs each")
    print(f"validate said: {output.strip()}")
    print(f"{'':40} {'best s':>8} {'median s':>9}")
    for name, values in times.items():
        print(f"{name:40} {min(values):8.3f} {statistics.median(values):9.3f}")
    validate, floor = times["idflow validate"], times["floor: start + import idflow.cli"]
    best = min(validate)
    print(f"validate / floor (best): {best / min(floor):.1f}x; the checking itself: {best - min(floor):.3f} s")
    print(f"target <= 0.5 s for 1,000 tasks: {'met' if best <= 0.5 else 'MISSED'} (best {best:.3f} s)")


if __name__ == "__main__":
    main()
