"""Import rules of the package, checked with ast over its source (nothing is imported):

* only the server boundary (idflow/server/) imports the Conductor SDK; the code that runs things with it
  (idflow/run/ and idflow/decorator.py, the drop-in ``worker_task`` that task modules import) is excepted;
* no circular imports among idflow's modules at import time (imports inside functions, which break a
  cycle on purpose, and ``if TYPE_CHECKING:`` blocks do not count).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "idflow"
SDK_ALLOWED = ("server/", "run/", "decorator.py")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, module: str, *, top_level_only: bool) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    nodes = _top_level(tree.body) if top_level_only else list(ast.walk(tree))
    names = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names]
    return names


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements run at import: module level, into if/try blocks, but not TYPE_CHECKING ones."""
    found: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found += _top_level(node.orelse)
        elif isinstance(node, ast.If | ast.Try):
            for block in ("body", "orelse", "finalbody"):
                found += _top_level(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                found += _top_level(handler.body)
        else:
            found.append(node)
    return found


def test_only_the_server_boundary_and_the_runners_import_the_sdk():
    modules = _modules()
    assert "idflow.server.client" in modules and len(modules) > 40
    offenders = []
    for name, path in modules.items():
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(SDK_ALLOWED):
            continue
        sdk = [i for i in _imports(path, name, top_level_only=False) if i == "conductor" or i.startswith("conductor.")]
        if sdk:
            offenders.append(f"{relative} imports {sdk[0]}")
    assert offenders == []
    client = _imports(modules["idflow.server.client"], "idflow.server.client", top_level_only=False)
    assert any(i.startswith("conductor.") for i in client)  # the check sees the imports it is about


def test_no_circular_imports_at_import_time():
    modules = _modules()
    graph = {
        name: sorted({_owner(i, modules) for i in _imports(path, name, top_level_only=True)} - {None, name})
        for name, path in modules.items()
    }
    assert sum(len(edges) for edges in graph.values()) > 50  # the graph was read
    cycle = _find_cycle(graph)
    assert cycle is None, "circular import: " + " -> ".join(cycle or ())


def _owner(imported: str, modules: dict[str, Path]) -> str | None:
    """The idflow module an import names (``idflow.plan.model.Plan`` -> ``idflow.plan.model``)."""
    while imported:
        if imported in modules:
            return imported
        imported = imported.rpartition(".")[0]
    return None


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_names_a_cycle():
    assert _find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": ["b"], "b": []}) is None
