"""Recognising and masking secret values, for every renderer and log line."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"

_known_secrets: set[str] = set()


def register_secrets(values: tuple[str, ...] | list[str]) -> None:
    """Values (API key, secret, tokens) that must be masked wherever they would be logged."""
    _known_secrets.update(v for v in values if v)


def known_secrets() -> tuple[str, ...]:
    return tuple(_known_secrets)


SECRET_KEY_PATTERN = re.compile(r"pass(word|wd)?|secret|token|api[_-]?key|authorization|credential", re.I)


def is_secret_key(key: object) -> bool:
    return isinstance(key, str) and _secret_name(key)


@functools.lru_cache(maxsize=16384)
def _secret_name(name: str) -> bool:
    """Whether a key or an environment variable's name looks secret: asked again for the same few names by
    every log line and for every key of every body a report masks, so each is searched once."""
    return bool(SECRET_KEY_PATTERN.search(name))


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


# A URL's userinfo (``scheme://user:password@``): everything between ``//`` and the last ``@`` before the
# path, as urllib and httpx read it.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s?#]*@")


def redact_urls(text: str) -> str:
    """``text`` with the userinfo (user and password) of every URL in it removed: the one place URLs are
    made printable, for error messages, log lines and anything idflow writes."""
    return _USERINFO.sub(r"\1", text)


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """``(url without userinfo, user, password)``; user and password percent-decoded, None when absent."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    clean = urlunsplit(parts._replace(netloc=hostport))
    return clean, unquote(user), (unquote(password) if colon else None)


# Credentials idflow reads from the environment by default; the config's own ``*_env_var`` names are
# registered (as values) when the config loads. Any other variable whose name looks secret is masked too.
CREDENTIAL_ENV_VARS = ("CONDUCTOR_AUTH_KEY", "CONDUCTOR_AUTH_SECRET")
_MIN_MASKED_LENGTH = 6  # shorter values ("1", "yes") would mangle messages without protecting anything


def environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the credential variables, and of every variable named like a secret."""
    env = os.environ if environ is None else environ
    values = [env.get(name, "") for name in CREDENTIAL_ENV_VARS]
    values += [value for name, value in _named(env) if _secret_name(name) and len(value) >= _MIN_MASKED_LENGTH]
    return [v for v in values if v]


def _named(env: Mapping[str, str]) -> Iterable[tuple[str, str]]:
    """``env.items()``; for ``os.environ``, names first and only the secret-named values decoded: this runs
    for every log line and every change of an apply, and decoding each variable was most of it."""
    raw = getattr(env, "_data", None) if env is os.environ else None
    if not isinstance(raw, dict):
        return env.items()
    return [(env.decodekey(k), env.decodevalue(v)) for k, v in raw.items() if _secret_bytes_name(k)]  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=4096)
def _secret_bytes_name(name: bytes) -> bool:
    return _secret_name(os.fsdecode(name))


def mask_text(text: str, literals: Iterable[str] = (), environ: Mapping[str, str] | None = None) -> str:
    """One line of text made safe to print: URL userinfo removed, and every known secret masked: ``literals``,
    those the config registered, and those of the environment (``environ``, default ``os.environ``)."""
    return mask_with(text, all_secrets(literals, environ))


def all_secrets(literals: Iterable[str] = (), environ: Mapping[str, str] | None = None) -> list[str]:
    """What ``mask_text`` masks, longest first: gathered once for many texts (a log line's every value)."""
    return sorted({*literals, *known_secrets(), *environment_secrets(environ)} - {""}, key=len, reverse=True)


def mask_with(text: str, secrets: list[str]) -> str:
    """``mask_text`` with the secrets gathered by ``all_secrets``."""
    text = redact_urls(text)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text
