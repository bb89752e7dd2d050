"""The CLI shell: exit codes, one-line errors, --debug, and a cheap start."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from idflow.cli import cli


def run(*args, **kwargs):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)


def test_usage_errors_exit_1_with_one_line():
    result = run("plan", "--only", "sometimes")
    assert result.exit_code == 1 and "Invalid value for '--only'" in result.output
    assert run("no-such-command").exit_code == 1


def test_idflow_error_is_one_line_and_traceback_only_with_debug(tmp_path):
    bad = tmp_path / "idflow.yml"
    bad.write_text("colour: blue\n")
    result = run("--config", str(bad), "tasks", "list", "--local")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {bad}:1: unknown key 'colour' (known keys: conductor, "
        "conductor_api_key_env_var, conductor_api_secret_env_var, "
        "conductor_server_url, default_environment, environments, events_dir, ignore, owner_email, project, "
        "schedules, schedules_dir, stages_dir, "
        "state_dir, tasks_dir, vars, workflows_dir)"
    ]
    debug = run("--debug", "--config", str(bad), "tasks", "list", "--local")
    assert debug.exit_code == 1 and "Traceback" in debug.stderr


@pytest.mark.processes
def test_version_and_help_do_not_import_the_sdk():
    code = (
        "import sys; from idflow.cli import cli\n"
        "try:\n    cli.main(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "print('conductor' in sys.modules, 'deepdiff' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False False"
    assert "idflow, version" in run("--version").output


def test_unreachable_server_is_one_line(tmp_path):
    result = run(
        "tasks", "list", "--remote", env={"CONDUCTOR_SERVER_URL": "http://127.0.0.1:9/api", "IDFLOW_CONFIG": ""}
    )
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "Error: GET http://127.0.0.1:9/api/metadata/taskdefs: cannot reach the server"
    )


@pytest.mark.processes
def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path):
    """`idflow tasks list --local | head -1`: no traceback, no "Exception ignored", exit 141 as git."""
    from tests.factories import write_task_file

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "idflow.yml").write_text("{}\n")
    for index in range(700):  # about 100 kB of lines: more than a pipe holds, so writing must fail
        write_task_file(tmp_path, f"resize_image_variant_number_{index:04d}_for_the_gallery", package=True)
    elsewhere = tmp_path / "elsewhere"  # not the project folder, whose idflow/ would shadow the package
    elsewhere.mkdir()
    config = str(tmp_path / "config" / "idflow.yml")
    process = subprocess.Popen(
        [sys.executable, "-m", "idflow.cli", "--config", config, "tasks", "list", "--local"],
        cwd=elsewhere,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = process.stdout.readline()
    process.stdout.close()  # what head does after its line
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=120) == 141
    assert first.startswith(b"resize_image_variant_number_0000_for_the_gallery")
    assert stderr == ""


def test_global_flags_are_moved_in_front_of_the_subcommand_but_not_past_a_double_dash():
    from idflow.cli import hoist_global_flags

    assert hoist_global_flags(["tasks", "list", "--sync", "--verbose"]) == ["--verbose", "tasks", "list", "--sync"]
    assert hoist_global_flags(["plan", "-v", "--debug", "-o", "p.json"]) == ["-v", "--debug", "plan", "-o", "p.json"]
    assert hoist_global_flags(["stage", "run", "--", "-v"]) == ["stage", "run", "--", "-v"]


def test_debug_after_the_subcommand_shows_the_traceback(tmp_path):
    bad = tmp_path / "idflow.yml"
    bad.write_text("colour: blue\n")
    debug = run("--config", str(bad), "tasks", "list", "--local", "--debug")
    assert debug.exit_code == 1 and "Traceback" in debug.stderr
    assert "Traceback" not in run("--config", str(bad), "tasks", "list", "--local").stderr


def test_verbose_after_the_subcommand_is_accepted_by_every_command():
    from idflow.cli import cli as group

    def leaves(command, path):
        subcommands = getattr(command, "commands", None)
        if not subcommands:
            yield path
            return
        for name, sub in subcommands.items():
            yield from leaves(sub, [*path, name])

    paths = list(leaves(group, []))
    assert len(paths) > 10
    for path in paths:
        result = run(*path, "-v", "--help")  # unknown to the subcommand itself: hoisted to the group
        assert result.exit_code == 0, (path, result.output)
