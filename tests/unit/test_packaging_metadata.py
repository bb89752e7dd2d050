"""The package metadata in pyproject.toml (building and installing a wheel: tests/integration/test_packaging.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_uses_the_spdx_license_string_and_a_setuptools_that_reads_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    assert "setuptools>=77" in project["build-system"]["requires"]  # the first release with PEP 639 strings
    assert any(dep.startswith("build") for dep in project["project"]["optional-dependencies"]["dev"])
