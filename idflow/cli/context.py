"""What every command gets through ``ctx.obj``: the config (loaded on first use) and the remote.

The remote is made on first use by ``remote_factory`` (``ConductorRemote`` unless a caller, e.g. a unit
test, passes another factory in ``obj``: ``CliRunner().invoke(cli, args, obj=AppContext(None, remote_factory=...))``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from idflow.config import Config
    from idflow.server.client import ConductorRemote, Remote


@dataclass
class AppContext:
    config_path: str | None
    verbose: bool = False
    debug: bool = False
    # --env NAME (repeatable where a command takes several) or IDFLOW_ENV; empty: default_environment.
    envs: tuple[str, ...] = ()
    env_from_flag: bool = False  # given as --env on the command line (what a protected environment needs)
    remote_factory: Callable[[Config], Remote] | None = field(default=None, repr=False)
    _config: Config | None = field(default=None, repr=False)
    _remote: ConductorRemote | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            if len(self.envs) > 1:
                raise click.UsageError(
                    f"--env given {len(self.envs)} times: only `idflow plan` and `idflow diff` take several"
                )
            self._config = self.config_for(self.envs[0] if self.envs else None)
        return self._config

    def config_for(self, environment: str | None) -> Config:
        """The config with ``environment`` chosen (None: IDFLOW_ENV, else default_environment)."""
        from idflow.config import load_config
        from idflow.masking import register_secrets

        origin = "--env" if self.env_from_flag else "IDFLOW_ENV"
        config = load_config(self.config_path, environment=environment, environment_origin=origin)
        register_secrets(config.secrets)
        return config

    @property
    def remote(self) -> ConductorRemote:
        if self._remote is None:
            if self.remote_factory is not None:
                self._remote = self.remote_factory(self.config)  # type: ignore[assignment]
            else:
                from idflow.server.client import ConductorRemote

                self._remote = ConductorRemote(self.config)
        return self._remote  # type: ignore[return-value]


pass_app = click.make_pass_decorator(AppContext)


def _store_envs(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    app = ctx.find_object(AppContext)
    names = (value,) if isinstance(value, str) else tuple(value or ())
    if app is not None and names:
        app.envs = names
        app.env_from_flag = ctx.get_parameter_source(param.name or "env") is click.core.ParameterSource.COMMANDLINE
    return value


def env_option(multiple: bool = False) -> click.Option:
    """``--env NAME`` (and ``IDFLOW_ENV``): which of the config's environments the command talks to."""
    return click.Option(
        ["--env", "env"],
        metavar="NAME",
        multiple=multiple,
        envvar="IDFLOW_ENV",
        expose_value=False,
        is_eager=True,
        callback=_store_envs,
        help="The environment (config 'environments:') to use; default: $IDFLOW_ENV, else default_environment."
        + (" Repeatable." if multiple else ""),
    )
