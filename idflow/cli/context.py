"""What every command gets through ``ctx.obj``: the config (loaded on first use) and the remote.

The remote is made on first use by ``remote_factory`` (``ConductorRemote`` unless a caller, e.g. a unit
test, passes another factory in ``obj``: ``CliRunner().invoke(cli, args, obj=AppContext(None, remote_factory=...))``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from idflow.config import Config
    from idflow.server.client import ConductorRemote, Remote


@dataclass
class AppContext:
    config_path: str | None
    verbose: bool = False
    debug: bool = False
    remote_factory: Callable[[Config], Remote] | None = field(default=None, repr=False)
    _config: Config | None = field(default=None, repr=False)
    _remote: ConductorRemote | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            from idflow.config import load_config
            from idflow.masking import register_secrets

            self._config = load_config(self.config_path)
            register_secrets(self._config.secrets)
        return self._config

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
