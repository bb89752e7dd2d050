"""``idflow completion bash|zsh|fish``: click's own shell completion script, so users need not know
click's ``_IDFLOW_COMPLETE=<shell>_source`` convention."""

from __future__ import annotations

import click

COMPLETE_VAR = "_IDFLOW_COMPLETE"


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    bash:  eval "$(idflow completion bash)"    (in ~/.bashrc; bash 4.4+)
    zsh:   eval "$(idflow completion zsh)"     (in ~/.zshrc)
    fish:  idflow completion fish > ~/.config/fish/completions/idflow.fish
    """
    from click.shell_completion import get_completion_class

    root = ctx.find_root()
    completer = get_completion_class(shell)
    assert completer is not None  # the choice lists only shells click supports
    script = completer(root.command, {}, root.info_name or "idflow", COMPLETE_VAR).source()
    click.echo(script, nl=not script.endswith("\n"))
