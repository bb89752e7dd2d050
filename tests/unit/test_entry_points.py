"""Shell completion (`idflow completion`) and `python -m idflow`: click's own mechanisms, end to end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from idflow.cli import cli

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def idflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "idflow"), *args], capture_output=True, text=True, env={**ENV, **(env or {})}, timeout=60
    )


@pytest.mark.processes
@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_clicks_own_script_for_the_shell(shell):
    printed = idflow("completion", shell)
    assert printed.returncode == 0, printed.stderr
    native = idflow(env={"_IDFLOW_COMPLETE": f"{shell}_source"})  # click's variable, by hand
    assert printed.stdout == native.stdout
    assert "_IDFLOW_COMPLETE" in printed.stdout and f"{shell}_complete" in printed.stdout


def test_completion_rejects_another_shell():
    result = CliRunner().invoke(cli, ["completion", "powershell"])
    assert result.exit_code == 1 and "Invalid value for '{bash|zsh|fish}'" in result.output


@pytest.mark.processes
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_commands_and_options_through_the_printed_script():
    ask = 'COMPREPLY=(); _idflow_completion idflow 2>/dev/null; echo "${COMPREPLY[*]}"\n'
    script = (
        'eval "$(idflow completion bash)"\n'
        f"COMP_WORDS=(idflow val); COMP_CWORD=1; {ask}"
        f"COMP_WORDS=(idflow validate --fo); COMP_CWORD=2; {ask}"
        f"COMP_WORDS=(idflow completion ''); COMP_CWORD=2; {ask}"
    )
    result = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True, env=ENV, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["validate", "--format", "bash zsh fish"]


@pytest.mark.processes
def test_zsh_and_fish_protocols_answer_too():
    zsh = idflow(env={"_IDFLOW_COMPLETE": "zsh_complete", "COMP_WORDS": "idflow pl", "COMP_CWORD": "1"})
    assert "plan" in zsh.stdout.splitlines()
    fish = idflow(env={"_IDFLOW_COMPLETE": "fish_complete", "COMP_WORDS": "idflow sh", "COMP_CWORD": "sh"})
    assert any(line.startswith("plain,show") for line in fish.stdout.splitlines()), fish.stdout


@pytest.mark.processes
def test_python_dash_m_idflow_is_the_same_command_line():
    module = subprocess.run([sys.executable, "-m", "idflow", "--help"], capture_output=True, text=True, timeout=60)
    script = idflow("--help")
    assert module.returncode == 0 and module.stdout == script.stdout
    assert "validate" in module.stdout and "completion" in module.stdout


@pytest.mark.processes
def test_help_of_python_dash_m_idflow_does_not_import_the_sdk():
    code = (
        "import runpy, sys\nsys.argv = ['idflow', '--help']\n"
        "try:\n    runpy.run_module('idflow', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('conductor' in sys.modules, 'deepdiff' in sys.modules, 'jinja2' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.strip().splitlines()[-1] == "False False False"
