"""YAML as idflow reads it (config, workflow and stage files): safe, strict about duplicate keys
(PyYAML keeps the last one silently), dates left as strings, and key lines for error messages."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from idflow.repo import safefile

# Aliases make a small document stand for a huge one (nine aliases of nine aliases of ...: a 575-byte
# "billion laughs" expands to gigabytes downstream). A document may expand to this many nodes, or to
# twice its own, whichever is more.
MAX_EXPANDED_NODES = 1_000_000


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
                raise ConstructorError(None, None, f"duplicate key {safefile.excerpt(str(key))}", key_node.start_mark)
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


def read_text(
    path: Path, what: str, *, limit: int, within: Iterable[Path] | None = None, parents_checked: bool = False
) -> str:
    """The text of ``path`` (UTF-8, a BOM allowed), read through ``safefile`` (at most ``limit`` bytes,
    resolving inside ``within``); an unreadable or non-UTF-8 file is a ``YamlProblem`` whose message
    names ``what`` (``config file``, ``stage file``, ...)."""
    try:
        raw = safefile.read_bytes(path, limit=limit, within=within, parents_checked=parents_checked)
    except safefile.UnsafeFile as exc:
        raise YamlProblem(1, 1, f"the {what} {exc}") from None
    except OSError as exc:
        raise YamlProblem(1, 1, f"cannot read the {what}: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlProblem(line, 1, f"the {what} is not UTF-8 (byte {exc.start})") from None


def load(text: str) -> Any:
    """Parse ``text``; every failure becomes a ``YamlProblem`` (never a traceback)."""
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise YamlProblem(line, col, f"invalid YAML: {safefile.short(problem)}") from None
    except RecursionError:
        raise YamlProblem(1, 1, "invalid YAML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer longer than Python's int-to-string limit
        raise YamlProblem(1, 1, f"invalid YAML: {safefile.short(str(exc).split(';')[0])}") from None
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand it beyond the budget, or that refers to itself.

    Each node's expanded size is computed once (aliases share node objects), so this is linear in the
    document as written."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    distinct = 0

    def size(node: yaml.Node) -> int:
        nonlocal distinct
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            mark = node.start_mark
            raise YamlProblem(mark.line + 1, mark.column + 1, "invalid YAML: an alias refers to the node it is in")
        distinct += 1
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1
            return 1
        open_nodes.add(key)
        items = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
        total = 1 + sum(size(child) for child in items)
        open_nodes.discard(key)
        sizes[key] = total
        return total

    expanded = size(root)
    if expanded > max(MAX_EXPANDED_NODES, 2 * distinct):
        raise YamlProblem(
            1, 1,
            f"invalid YAML: its aliases expand it to {expanded:,} values (more than {MAX_EXPANDED_NODES:,}); "
            "write the repeated parts out or use fewer aliases",
        )  # fmt: skip


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
