"""`idflow --help` lists the subcommands without importing them (issue 19): the list it shows must be
the commands' own, and running any command loads it."""

import importlib
import subprocess
import sys

import click
import pytest

from idflow.cli import LAZY_COMMANDS, cli


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_the_listed_short_help_is_the_commands_own(name):
    module, attr, short = LAZY_COMMANDS[name]
    command = getattr(importlib.import_module(f"idflow.cli.{module}"), attr)
    assert isinstance(command, click.Command)
    assert command.get_short_help_str(limit=1000) == short


def test_every_command_module_is_listed():
    ctx = click.Context(cli)
    names = cli.list_commands(ctx)
    assert names == sorted(LAZY_COMMANDS) and len(names) >= 10
    assert all(cli.get_command(ctx, n) is not None for n in names)
    tasks = cli.get_command(ctx, "tasks")
    assert isinstance(tasks, click.Group) and "deps" in tasks.commands


def test_help_imports_no_subcommand_and_not_the_decorator():
    code = (
        "import sys, runpy; sys.argv = ['idflow', '--help']\n"
        "try:\n    runpy.run_module('idflow.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('idflow.cli.') or m in ('idflow.decorator', "
        "'idflow.kinds.normal', 'conductor'))\n"
        "print('LOADED', loaded, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert "Commands:" in done.stdout and "validate" in done.stdout, done.stdout + done.stderr
    loaded = done.stderr.split("LOADED", 1)[1]
    assert "idflow.cli.plan" not in loaded and "idflow.decorator" not in loaded, loaded
    assert "idflow.cli.context" in loaded, "the check saw the modules that were loaded"


def test_worker_task_still_imports_from_the_package():
    from idflow import worker_task
    from idflow.decorator import worker_task as direct

    assert worker_task is direct


def test_validate_of_json_workflows_imports_neither_structlog_nor_jinja2(tmp_path):
    """A command that logs nothing does not pay for structlog's import, nor plain workflow files for jinja2's."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "idflow.yml").write_text("owner_email: team@example.com\n")
    task = tmp_path / "idflow" / "tasks" / "hello"
    task.mkdir(parents=True)
    (task / "hello.py").write_text(
        "from idflow import worker_task\n\n\n@worker_task(task_definition_name='hello')\ndef hello(task):\n"
        "    return {}\n"
    )
    (tmp_path / "idflow" / "workflows").mkdir()
    (tmp_path / "idflow" / "workflows" / "wf.json").write_text(
        '{"name": "wf", "tasks": [{"name": "hello", "taskReferenceName": "h"}]}'
    )
    code = (
        "import sys, runpy; sys.argv = ['idflow', 'validate']\n"
        "try:\n    runpy.run_module('idflow.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted(m for m in ('structlog', 'jinja2', 'idflow.repo.task_files') if m in sys.modules),"
        " file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert "OK: 1 task, 1 workflow" in done.stdout, done.stdout + done.stderr
    assert done.stderr.split("LOADED", 1)[1].strip() == "['idflow.repo.task_files']", done.stderr


def test_lines_below_the_level_do_not_import_structlog_and_the_others_are_logged():
    code = (
        "import sys\nfrom idflow.log import configure_logging, get_logger\n"
        "configure_logging('info', stdlib=False)\nlog = get_logger('idflow.test')\n"
        "log.debug('hidden line')\nprint('AFTER_DEBUG', 'structlog' in sys.modules, file=sys.stderr)\n"
        "log.info('shown line', token='abc')\nlog.debug('hidden again')\n"
        "print('AFTER_INFO', 'structlog' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "AFTER_DEBUG False" in done.stderr and "AFTER_INFO True" in done.stderr, done.stderr
    assert "shown line" in done.stderr and "hidden" not in done.stderr, done.stderr


def test_as_a_library_the_callers_structlog_configuration_decides():
    """Without the CLI's configure_logging, a program that configured structlog itself sees idflow's debug
    lines if it asked for them."""
    code = (
        "import logging, structlog\n"
        "structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))\n"
        "from idflow.log import get_logger\nget_logger('idflow.test').debug('a debug line')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "a debug line" in done.stdout + done.stderr, done
