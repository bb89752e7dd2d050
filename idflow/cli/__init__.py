"""The ``idflow`` command line: a thin click layer over the core.

This is the one place where errors become exit codes: ``IdflowError`` and usage errors exit 1 with
one line on stderr (a traceback only with ``--debug``), Ctrl-C exits 130 (an apply stopped by SIGTERM
143), anything unexpected exits 3.
A reader that stops early (``idflow tasks list | head``) ends the command quietly with 141, as git does
(128 + SIGPIPE).
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import click

from idflow import __version__
from idflow.cli.context import AppContext
from idflow.errors import IdflowError

EXIT_ERROR = 1
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
# Flags of the root group that may also be written after a subcommand (`idflow plan -v`).
GLOBAL_FLAGS = ("-v", "--verbose", "--debug")


def hoist_global_flags(argv: list[str]) -> list[str]:
    """``argv`` with the global flags moved in front of the subcommand, wherever they were written.

    One mechanism for every command, so ``idflow tasks list --sync --verbose`` means
    ``idflow --verbose tasks list --sync``. Nothing after ``--`` is touched.
    """
    end = argv.index("--") if "--" in argv else len(argv)
    flags = [arg for arg in argv[:end] if arg in GLOBAL_FLAGS]
    rest = [arg for arg in argv[:end] if arg not in GLOBAL_FLAGS]
    return flags + rest + argv[end:]


class IdflowGroup(click.Group):
    """The root group: subcommands load on first use (``LAZY_COMMANDS``); errors become exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return _lazy_list(self, ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return _lazy_get(self, ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        _lazy_format_commands(self, ctx, formatter)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # before click's own handler, which would exit 1
            raise click.exceptions.Exit(_quiet_broken_pipe()) from None

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = hoist_global_flags(list(sys.argv[1:] if args is None else args))
        debug = "--debug" in argv or os.environ.get("IDFLOW_DEBUG") == "1"
        try:
            result = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0
            sys.stdout.flush()  # a closed pipe shows here, not as "Exception ignored" at exit
        except BrokenPipeError:
            code = _quiet_broken_pipe()
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except click.UsageError as exc:
            # One line (click's own rendering adds "Usage:" and "Try ..." lines before the error).
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            _error_line(f"Error: {exc.format_message()}{hint}")
            code = EXIT_ERROR
        except click.ClickException as exc:
            _error_line(f"Error: {exc.format_message()}")
            code = EXIT_ERROR
        except click.Abort as exc:
            # click turns Ctrl-C (and apply's SIGTERM, an Interrupted) into Abort; an EOF at a prompt too
            if isinstance(exc.__cause__, KeyboardInterrupt):
                click.echo("Interrupted.", err=True)
                code = _interrupted_code(exc.__cause__)
            else:
                click.echo("Aborted.", err=True)
                code = EXIT_ERROR
        except KeyboardInterrupt as exc:
            click.echo("Interrupted.", err=True)
            code = _interrupted_code(exc)
        except IdflowError as exc:
            if debug:
                _traceback_lines()
            _error_line(f"Error: {exc}")
            for line in exc.details():
                _error_line(f"  {line}")
            code = exc.exit_code
        except (MemoryError, RecursionError) as exc:
            # An input or a server answer too big or too deep to handle: the user's problem to see, not a bug.
            if debug:
                _traceback_lines()
            what = "out of memory" if isinstance(exc, MemoryError) else "input nested too deeply"
            _error_line(f"Error: {what} ({type(exc).__name__}); idflow stopped there")
            code = EXIT_ERROR
        except Exception as exc:
            if debug:
                _traceback_lines()
            _error_line(f"Internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
            code = EXIT_INTERNAL
        if standalone_mode:
            sys.exit(code)
        return code


def _interrupted_code(exc: KeyboardInterrupt) -> int:
    """128 + the signal: 130 for Ctrl-C, 143 for the SIGTERM apply turns into an ``Interrupted``."""
    return 128 + int(getattr(exc, "signum", 2))


def _error_line(text: str) -> None:
    """One line on stderr, every known secret masked (as in normal output and logs), and control characters
    and line breaks escaped: error messages carry what servers and files said (an OSC or CSI sequence, a
    newline and a fake line), and must not act on the terminal."""
    from idflow.masking import mask_text
    from idflow.render import one_line

    click.echo(one_line(mask_text(text)), err=True)


def _traceback_lines() -> None:
    """The current traceback (``--debug``), each of its lines through ``_error_line``."""
    for line in traceback.format_exc().rstrip("\n").splitlines():
        _error_line(line)


def _quiet_broken_pipe() -> int:
    """The reader of stdout went away: say nothing, and make the flush at exit write to /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (a test runner's buffer)
        pass
    finally:
        os.close(devnull)
    return EXIT_BROKEN_PIPE


@click.group(cls=IdflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="idflow")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="IDFLOW_CONFIG",
    help="Config file (default: config/idflow.yml found by walking up).",
)
@click.option("-v", "--verbose", is_flag=True, help="Say more (also accepted after the subcommand).")
@click.option("--debug", is_flag=True, help="Debug logging and tracebacks (also accepted after the subcommand).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Format of log lines on stderr.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: bool, debug: bool, log_format: str) -> None:
    """Keep Conductor task and workflow definitions in git, and the server in step with them."""
    from idflow.log import configure_logging

    configure_logging(level="debug" if verbose else "info", fmt=log_format, debug=debug)
    given = ctx.obj.remote_factory if isinstance(ctx.obj, AppContext) else None  # a test's fake remote
    ctx.obj = AppContext(config_path=config_path, verbose=verbose, debug=debug, remote_factory=given)


# Subcommands, imported only when one is run (or asked for its help): ``idflow --help`` lists them from
# here without importing any, which keeps it near the interpreter's start time. The short help must be
# the command's own first docstring line (tests/unit/test_cli_lazy.py checks it).
LAZY_COMMANDS = {
    "apply": ("apply", "apply",
        "Apply a saved plan (default: state/plan.json), "
        "refusing it if the server changed since."),
    "diff": ("diff", "diff",
        "Compare two environments' servers (what promotion would change, what was edited by hand): objects "
        "either manages that the other lacks or holds differently, field by field."),
    "events": ("listings", "events", "List event handlers, local and remote."),
    "export": ("adopt", "export",
        "Back up every definition on the server (any owner) into FOLDER: JSON files and a manifest."),
    "import": ("adopt", "import_",
        "Write project files for definitions on the server (tasks as worker stubs; workflows, event handlers "
        "and schedules as files)."),
    "completion": ("completion", "completion", "Print the shell completion script for SHELL."),
    "history": ("history", "history",
        "List the last applies of this project to the "
        "server (when, who, commit, counts)."),
    "plan": ("plan", "plan", "Compare local definitions with the server and save what would change."),
    "schedules": ("listings", "schedules", "List schedules, local and remote."),
    "schema": ("schema", "schema", "JSON Schemas (draft 2020-12) of workflow, stage and config files, for editors."),
    "server": ("server", "server",
        "Run a local Conductor server (conductor-oss on SQLite, or "
        "a PostgreSQL cluster) in the background."),
    "show": ("plan", "show", "Render a saved plan (default: state/plan.json)."),
    "stage": ("stage", "stage", "Start a stage's workflow for one document, and list the stages."),
    "tasks": ("tasks", "tasks", "List, upload and purge task definitions; show or install their requirements."),
    "validate": ("validate", "validate",
        "Check config, task, workflow and stage files without "
        "asking the server (exit 1 on any problem)."),
    "worker": ("worker", "worker", "Run the workers of local tasks."),
    "workflows": ("workflows", "workflows", "List workflow definitions, local and remote."),
}  # fmt: skip


#: Commands that never talk to a server nor read environment settings.
_WITHOUT_ENV = frozenset({"completion", "schema"})


def _add_env_option(name: str, command: click.Command) -> None:
    """``--env`` on every command (one mechanism, so a command added later gets it too); a command that
    takes several environments declares its own."""
    from idflow.cli.context import env_option

    if name in _WITHOUT_ENV:
        return
    if isinstance(command, click.Group):
        for sub_name, sub in command.commands.items():
            _add_env_option(sub_name, sub)
    elif not any(p.name == "env" for p in command.params):
        command.params.append(env_option())


def _load(name: str) -> click.Command:
    import importlib

    module, attr, _help = LAZY_COMMANDS[name]
    command: click.Command = getattr(importlib.import_module(f"idflow.cli.{module}"), attr)
    if name == "tasks" and isinstance(command, click.Group) and "deps" not in command.commands:
        from idflow.cli import deps

        command.add_command(deps.deps)
    _add_env_option(name, command)
    return command


def _lazy_list(self: click.Group, ctx: click.Context) -> list[str]:
    return sorted({*self.commands, *LAZY_COMMANDS})


def _lazy_get(self: click.Group, ctx: click.Context, name: str) -> click.Command | None:
    if name not in self.commands and name in LAZY_COMMANDS:
        self.add_command(_load(name), name)
    return self.commands.get(name)


def _lazy_format_commands(self: click.Group, ctx: click.Context, formatter: click.HelpFormatter) -> None:
    limit = formatter.width - 6 - max(len(n) for n in _lazy_list(self, ctx))
    rows = []
    for name in _lazy_list(self, ctx):
        loaded = self.commands.get(name)
        if loaded is not None and loaded.hidden:
            continue
        text = loaded.get_short_help_str(limit) if loaded is not None else _short(LAZY_COMMANDS[name][2], limit)
        rows.append((name, text))
    if rows:
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _short(text: str, limit: int) -> str:
    """click's own shortening of a help line, for a command not imported."""
    from click.utils import make_default_short_help

    return make_default_short_help(text, limit)


#: Python's cycle collector, tuned for a command that builds large acyclic data once: with the default
#: thresholds (700, 10, 10) a plan of 10,000 tasks spends about half its planning time in full
#: collections that find nothing. Cycles are still collected, less often.
GC_THRESHOLDS = (50_000, 20, 100)


def main() -> None:
    import gc

    gc.set_threshold(*GC_THRESHOLDS)
    cli.main(prog_name="idflow")
