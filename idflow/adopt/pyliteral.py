"""Python source for JSON values, laid out as ``ruff format`` lays them out (double quotes, magic trailing
commas), so generated task files pass ``ruff format --check`` as written."""

from __future__ import annotations

from typing import Any

LINE_LENGTH = 88
INDENT = "    "


def string(value: str) -> str:
    """A string literal in ruff's preferred quotes: double, unless the text holds double quotes only."""
    body = repr(value)
    if body.startswith('"'):
        return body  # repr chose double quotes: the text holds a single quote and no double quote
    if '"' in value and "'" not in value:
        return body
    return '"' + body[1:-1].replace("\\'", "'").replace('"', '\\"') + '"'


def flat(value: Any) -> str:
    """``value`` on one line."""
    if isinstance(value, str):
        return string(value)
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{string(str(k))}: {flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(flat(v) for v in value) + "]"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def literal(value: Any, indent: int, prefix: str, suffix: str = ",") -> list[str]:
    """Lines of ``prefix`` + the value + ``suffix`` at ``indent`` levels: on one line when it fits, else the
    outermost brackets split, one element a line with a trailing comma (what ruff keeps as it is)."""
    pad = INDENT * indent
    one = f"{pad}{prefix}{flat(value)}{suffix}"
    if len(one) <= LINE_LENGTH or not isinstance(value, dict | list | tuple) or not value:
        return [one]
    opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
    lines = [f"{pad}{prefix}{opening}"]
    if isinstance(value, dict):
        for key, item in value.items():
            lines += literal(item, indent + 1, f"{string(str(key))}: ")
    else:
        for item in value:
            lines += literal(item, indent + 1, "")
    lines.append(f"{pad}{closing}{suffix}")
    return lines
