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
    ctx.obj = AppContext(config_path=config_path, verbose=verbose, debug=debug)


def _register() -> None:
    from idflow.cli import (
        apply,
        completion,
        deps,
        history,
        listings,
        plan,
        schema,
        server,
        stage,
        tasks,
        validate,
        worker,
        workflows,
    )

    cli.add_command(server.server)
    cli.add_command(plan.plan)
    cli.add_command(plan.show)
    cli.add_command(validate.validate)
    cli.add_command(apply.apply)
    cli.add_command(history.history)
    tasks.tasks.add_command(deps.deps)
    cli.add_command(tasks.tasks)
    cli.add_command(workflows.workflows)
    cli.add_command(listings.events)
    cli.add_command(listings.schedules)
    cli.add_command(worker.worker)
    cli.add_command(stage.stage)
    cli.add_command(completion.completion)
    cli.add_command(schema.schema)


_register()


def main() -> None:
    cli.main(prog_name="idflow")
