"""The package as a newcomer gets it: a wheel built from the repository installs into a fresh virtualenv
and runs (the metadata itself: tests/unit/test_packaging_metadata.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import idflow

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _build_wheel(tmp_path: Path) -> Path:
    # Build from a copy of what the sdist would hold, so a stale build/ folder in the checkout cannot leak in.
    source = tmp_path / "src"
    shutil.copytree(ROOT / "idflow", source / "idflow", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    dist = tmp_path / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "deprecated" not in (result.stdout + result.stderr).lower()
    (wheel,) = dist.glob("idflow-*.whl")
    return wheel


@pytest.mark.processes
def test_a_wheel_built_from_the_repository_installs_into_a_fresh_virtualenv_and_runs(tmp_path):
    wheel = _build_wheel(tmp_path)
    assert wheel.name == f"idflow-{idflow.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"idflow-{idflow.__version__}.dist-info/METADATA").decode()
    templates = sorted(p.name for p in (ROOT / "idflow" / "render" / "templates").glob("*.j2"))
    assert templates and all(f"idflow/render/templates/{t}" in names for t in templates)  # package data
    assert "idflow/__main__.py" in names
    assert "License-Expression: MIT" in metadata
    assert not any(n.startswith(("tests/", "bench/", "examples/")) for n in names)

    # A fresh virtualenv; its dependencies come from this test run's environment (a .pth line, as
    # --system-site-packages would give), so the test needs no network and stays fast. idflow itself
    # must come from the wheel.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert install.returncode == 0, install.stderr
    assert install.stderr.strip() == ""  # a quiet install

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "IDFLOW_CONFIG")}
    outside = tmp_path / "a-project"  # with an idflow/ folder of its own, as every project has
    (outside / "idflow" / "tasks").mkdir(parents=True)
    version = subprocess.run(
        [str(venv / "bin" / "idflow"), "--version"], capture_output=True, text=True, env=env, cwd=outside, timeout=60
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"idflow, version {idflow.__version__}"
    where = subprocess.run(
        [str(python), "-c", "import idflow; print(idflow.__file__)"],
        capture_output=True, text=True, env=env, cwd=outside, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(venv), where
    module = subprocess.run(
        [str(python), "-m", "idflow", "--version"], capture_output=True, text=True, env=env, cwd=outside, timeout=60
    )
    assert module.returncode == 0 and module.stdout.strip() == version.stdout.strip(), module.stderr
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    check = subprocess.run([*pip, "check"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr  # every declared dependency is satisfied
