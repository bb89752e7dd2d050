"""YAML as idflow reads it (config, workflow and stage files): safe, strict about duplicate keys
(PyYAML keeps the last one silently), dates left as strings, and key lines for error messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping and leaves dates as strings (as JSON)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: SafeLoader reports it
                break
            if duplicate:
                raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


StrictLoader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class YamlProblem(Exception):
    """Why a YAML text cannot be read, and where (1-based line and column)."""

    def __init__(self, line: int, col: int, message: str):
        super().__init__(message)
        self.line, self.col, self.message = line, col, message


def read_text(path: Path, what: str) -> str:
    """The text of ``path`` (UTF-8, a BOM allowed); an unreadable or non-UTF-8 file is a ``YamlProblem``
    whose message names ``what`` (``config file``, ``stage file``, ...)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise YamlProblem(1, 1, f"cannot read the {what}: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlProblem(line, 1, f"the {what} is not UTF-8 (byte {exc.start})") from None


def load(text: str) -> Any:
    """Parse ``text``; every failure becomes a ``YamlProblem`` (never a traceback)."""
    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise YamlProblem(line, col, f"invalid YAML: {problem}") from None
    except RecursionError:
        raise YamlProblem(1, 1, "invalid YAML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer longer than Python's int-to-string limit
        raise YamlProblem(1, 1, f"invalid YAML: {str(exc).split(';')[0]}") from None


def key_lines(text: str) -> dict[str, int]:
    """1-based line of every mapping key and list item, as dotted paths ('' is the document)."""
    lines: dict[str, int] = {"": 1}
    try:
        node = yaml.compose(text)
    except (yaml.YAMLError, RecursionError, ValueError):
        return lines
    if node is None:
        return lines
    lines[""] = node.start_mark.line + 1

    def walk(n: yaml.Node, prefix: str) -> None:
        if isinstance(n, yaml.MappingNode):
            for key_node, value_node in n.value:
                path = f"{prefix}{key_node.value}"
                lines[path] = key_node.start_mark.line + 1
                walk(value_node, path + ".")
        elif isinstance(n, yaml.SequenceNode):
            for index, item in enumerate(n.value):
                path = f"{prefix}{index}"
                lines[path] = item.start_mark.line + 1
                walk(item, path + ".")

    walk(node, "")
    return lines
