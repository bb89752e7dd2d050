"""Recognising and masking secret values, for every renderer and log line."""

from __future__ import annotations

import re
from collections.abc import Iterable
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
