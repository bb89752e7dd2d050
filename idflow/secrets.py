"""Recognising and masking secret values, for every renderer and log line."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
SECRET_KEY_PATTERN = re.compile(r"pass(word|wd)?|secret|token|api[_-]?key|authorization|credential", re.I)


def is_secret_key(key: object) -> bool:
    return isinstance(key, str) and bool(SECRET_KEY_PATTERN.search(key))


def mask_secrets(value: Any, literals: Iterable[str] = ()) -> Any:
    """Copy of ``value`` with values under secret-looking keys, and any known secret literal, masked."""
    literals = tuple(s for s in literals if s)
    return _mask(value, literals)


def _mask(value: Any, literals: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: (MASK if is_secret_key(k) and v not in (None, "") else _mask(v, literals)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v, literals) for v in value]
    if isinstance(value, str) and literals:
        for secret in literals:
            value = value.replace(secret, MASK)
    return value


# Credentials idflow reads from the environment by default; the config's own ``*_env_var`` names are
# registered (as values) when the config loads. Any other variable whose name looks secret is masked too.
CREDENTIAL_ENV_VARS = ("CONDUCTOR_AUTH_KEY", "CONDUCTOR_AUTH_SECRET")
_MIN_MASKED_LENGTH = 6  # shorter values ("1", "yes") would mangle messages without protecting anything


def environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the credential variables, and of every variable named like a secret."""
    env = os.environ if environ is None else environ
    values = [env.get(name, "") for name in CREDENTIAL_ENV_VARS]
    values += [value for name, value in env.items() if is_secret_key(name) and len(value) >= _MIN_MASKED_LENGTH]
    return [v for v in values if v]


def mask_text(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every known secret (registered by the config, or from the environment) masked."""
    from idflow.log import known_secrets

    for secret in sorted({*known_secrets(), *environment_secrets(environ)}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
