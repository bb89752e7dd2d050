"""Reading Python values from source without running it.

Only what is obviously a value is read: literals, lists/tuples/dicts of them, unary minus, arithmetic on
numbers, string concatenation, f-strings of such values, and module-level constants assigned exactly once
from such expressions before their use. Everything else raises ``NotStatic`` naming the node and why.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterator
from typing import Any

from idflow.kinds.normal import RETRY_LOGICS, TIMEOUT_POLICIES

# `AnyName.RETRY` reads as "RETRY": enum members of the two task-definition enums.
ENUM_MEMBERS = frozenset((*TIMEOUT_POLICIES, *RETRY_LOGICS))

_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_MAX_INT_BITS = 128  # bounds `BIG * BIG * ...` so reading a file cannot take unbounded time or memory
# Strings and containers computed from constants (`B = A + A`, `C = f"{B}{B}"`, `L2 = [L1, L1]`) double
# with each line: a value may hold this many characters and items, and one file this many in all.
MAX_VALUE_SIZE = 1_000_000
MAX_FILE_VALUE_SIZE = 16_000_000


class NotStatic(Exception):
    """``node`` cannot be read without running the code; ``reason`` says what it is."""

    def __init__(self, node: ast.AST, reason: str):
        super().__init__(reason)
        self.node = node
        self.reason = reason


def snippet(node: ast.AST, limit: int = 40) -> str:
    text = ast.unparse(node)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integral(value: Any) -> Any:
    """Arithmetic results that are whole numbers become ints (``3600 / 2`` is 1800, not 1800.0)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class ModuleScope:
    """The module-level names of one file, and which of them are constants.

    ``statements`` are the file's module-level statements with the names each binds (``bound``), in
    order: computed once here for every reader of the file."""

    def __init__(self, tree: ast.Module):
        self._bindings: dict[str, list[ast.stmt]] = {}
        self._values: dict[str, Any] = {}
        self._errors: dict[str, NotStatic] = {}
        self._evaluating: set[str] = set()
        self._sizes: dict[int, int] = {}  # id of a computed str/list/dict -> its size (kept alive below)
        self._measured: list[Any] = []
        self._spent = 0
        self._top_level = {id(stmt) for stmt in tree.body}
        self.statements: list[ast.stmt] = list(iter_module_statements(tree.body))
        self.bound: list[tuple[str, ...]] = []
        for stmt in self.statements:
            names = _bound_tuple(stmt)
            self.bound.append(names)
            for name in names:
                self._bindings.setdefault(name, []).append(stmt)

    def constant_node(self, name: str, use: ast.AST) -> ast.expr:
        """The value expression of ``name`` if it is a plain constant assigned once before ``use``."""
        bindings = self._bindings.get(name)
        if not bindings:
            raise NotStatic(use, f"{name} is not a constant defined in this file")
        if len(bindings) > 1:
            raise NotStatic(use, f"{name} is assigned more than once")
        stmt = bindings[0]
        value: ast.expr | None = None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            value = stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            value = stmt.value  # None for a bare annotation
        if value is None or id(stmt) not in self._top_level:
            raise NotStatic(use, f"{name} is not a plain module-level constant")
        if (stmt.lineno, stmt.col_offset) >= (getattr(use, "lineno", 0), getattr(use, "col_offset", 0)):
            raise NotStatic(use, f"{name} is not assigned before this line")
        return value

    def bounded(self, value: Any, node: ast.AST) -> Any:
        """``value`` (just computed at ``node``), if it is within the size limits."""
        size = self._size(value)
        if size > MAX_VALUE_SIZE:
            raise NotStatic(node, f"a value larger than {MAX_VALUE_SIZE:,} characters and items")
        self._spent += size
        if self._spent > MAX_FILE_VALUE_SIZE:
            raise NotStatic(node, f"more than {MAX_FILE_VALUE_SIZE:,} characters and items of values in one file")
        return value

    def _size(self, value: Any) -> int:
        if isinstance(value, str):
            return len(value) + 1
        if not isinstance(value, list | dict):
            return 1
        known = self._sizes.get(id(value))
        if known is not None:
            return known
        parts = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        total = 1 + sum(self._size(part) for part in parts)
        self._sizes[id(value)] = total
        self._measured.append(value)
        return total

    def lookup(self, name: str, use: ast.AST) -> Any:
        if name in self._values:
            return self._values[name]
        if name in self._errors:
            raise NotStatic(use, self._errors[name].reason)
        value_node = self.constant_node(name, use)
        if name in self._evaluating:
            raise NotStatic(use, f"{name} refers to itself")
        self._evaluating.add(name)
        try:
            value = evaluate(value_node, self)
        except NotStatic as exc:  # a chain of constants names the first and the real reason, not every link
            inner = exc.reason.partition(" is not a static value: ")[2] or exc.reason
            error = NotStatic(use, f"{name} is not a static value: {inner}")
            self._errors[name] = error
            raise error from None
        finally:
            self._evaluating.discard(name)
        self._values[name] = value
        return value


_BODY_AND_ELSE = frozenset({ast.If, ast.For, ast.AsyncFor, ast.While})
_WITHS = frozenset({ast.With, ast.AsyncWith})
_TRIES = frozenset({ast.Try, ast.TryStar})
_BLOCKS = _BODY_AND_ELSE | _WITHS | _TRIES


def iter_module_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, including those inside if/try/with/for/while blocks (not defs)."""
    for stmt in body:
        yield stmt
        kind = type(stmt)
        if kind not in _BLOCKS:  # (exact types: the parser makes no subclasses) most statements
            continue
        if kind in _BODY_AND_ELSE:
            yield from iter_module_statements(stmt.body)  # type: ignore[attr-defined]
            yield from iter_module_statements(stmt.orelse)  # type: ignore[attr-defined]
        elif kind in _WITHS:
            yield from iter_module_statements(stmt.body)  # type: ignore[attr-defined]
        else:
            yield from iter_module_statements(stmt.body)  # type: ignore[attr-defined]
            for handler in stmt.handlers:  # type: ignore[attr-defined]
                yield handler  # type: ignore[misc]  # binds `except E as name`
                yield from iter_module_statements(handler.body)
            yield from iter_module_statements(stmt.orelse)  # type: ignore[attr-defined]
            yield from iter_module_statements(stmt.finalbody)  # type: ignore[attr-defined]


def _target_names(target: ast.expr) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            yield from _target_names(element)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


def bound_names(stmt: ast.AST) -> Iterator[str]:
    """Names a module-level statement binds (its own, not those of nested blocks)."""
    if isinstance(stmt, ast.Assign):
        for target in stmt.targets:
            yield from _target_names(target)
    elif isinstance(stmt, ast.AnnAssign | ast.AugAssign):
        if isinstance(stmt, ast.AugAssign) or stmt.value is not None:
            yield from _target_names(stmt.target)
    elif isinstance(stmt, ast.For | ast.AsyncFor):
        yield from _target_names(stmt.target)
    elif isinstance(stmt, ast.With | ast.AsyncWith):
        for item in stmt.items:
            if item.optional_vars is not None:
                yield from _target_names(item.optional_vars)
    elif isinstance(stmt, ast.Import | ast.ImportFrom):
        for alias in stmt.names:
            yield alias.asname or alias.name.split(".")[0]
    elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        yield stmt.name
    elif isinstance(stmt, ast.Delete):
        for target in stmt.targets:
            yield from _target_names(target)
    elif isinstance(stmt, ast.ExceptHandler) and stmt.name:
        yield stmt.name


_BINDS_NOTHING = frozenset({ast.Expr, ast.Pass, ast.Return, ast.Raise, ast.Assert, ast.Global, ast.Nonlocal})


def _bound_tuple(stmt: ast.AST) -> tuple[str, ...]:
    """``bound_names`` as a tuple; the statements that bind nothing (most of a module) without a walk."""
    if type(stmt) in _BINDS_NOTHING:
        return ()
    return tuple(bound_names(stmt))


def evaluate(node: ast.AST, scope: ModuleScope) -> Any:
    """The value of ``node``; raises ``NotStatic`` at the first part that needs the code to run."""
    if isinstance(node, ast.Constant):
        value = node.value
        if value is None or isinstance(value, str | int | float | bool):
            return value
        raise NotStatic(node, f"{type(value).__name__} is not a JSON value")
    if isinstance(node, ast.List | ast.Tuple):
        return scope.bounded([evaluate(element, scope) for element in node.elts], node)
    if isinstance(node, ast.Dict):
        result: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                raise NotStatic(value, f"the unpacking **{snippet(value)}")
            result[evaluate(key, scope)] = evaluate(value, scope)
        return scope.bounded(result, node)
    if isinstance(node, ast.Name):
        return scope.lookup(node.id, node)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = evaluate(node.operand, scope)
        if not _is_number(operand):
            raise NotStatic(node, f"a sign on a {type(operand).__name__}")
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        return _binop(node, scope)
    if isinstance(node, ast.JoinedStr):
        return _fstring(node, scope)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.attr in ENUM_MEMBERS:
        return node.attr
    raise NotStatic(node, describe(node))


def _binop(node: ast.BinOp, scope: ModuleScope) -> Any:
    left = evaluate(node.left, scope)
    right = evaluate(node.right, scope)
    if isinstance(node.op, ast.Add) and isinstance(left, str) and isinstance(right, str):
        if len(left) + len(right) > MAX_VALUE_SIZE:
            raise NotStatic(node, f"a value larger than {MAX_VALUE_SIZE:,} characters and items")
        return scope.bounded(left + right, node)
    if not (_is_number(left) and _is_number(right)):
        raise NotStatic(node, f"arithmetic on {type(left).__name__} and {type(right).__name__}")
    try:
        value = _ARITHMETIC[type(node.op)](left, right)
    except ZeroDivisionError:
        raise NotStatic(node, "a division by zero") from None
    except OverflowError:
        raise NotStatic(node, "a number too large") from None
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise NotStatic(node, "a number too large")
    return _integral(value)


def _fstring(node: ast.JoinedStr, scope: ModuleScope) -> str:
    parts: list[str] = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value))
            continue
        assert isinstance(value, ast.FormattedValue)
        if value.conversion != -1 or value.format_spec is not None:
            raise NotStatic(value, "an f-string with a conversion or format spec")
        try:
            inner = evaluate(value.value, scope)
        except NotStatic as exc:
            raise NotStatic(exc.node, f"an f-string with expressions: {exc.reason}") from None
        if not isinstance(inner, str | int) or isinstance(inner, bool):
            raise NotStatic(value, "an f-string with a non-string expression")
        parts.append(str(inner))
        if sum(map(len, parts)) > MAX_VALUE_SIZE:
            raise NotStatic(node, f"a value larger than {MAX_VALUE_SIZE:,} characters and items")
    return scope.bounded("".join(parts), node)


_KINDS: dict[type[ast.AST], str] = {
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator",
    ast.IfExp: "a conditional expression",
    ast.BoolOp: "a boolean expression",
    ast.Compare: "a comparison",
    ast.Set: "a set (not a JSON value)",
    ast.Await: "an await",
    ast.NamedExpr: "an assignment expression",
    ast.Starred: "an unpacking",
}


def describe(node: ast.AST) -> str:
    """What a node is, for 'cannot be read without running the code (...)' messages."""
    if isinstance(node, ast.Call):
        return f"a call to {snippet(node.func)}()"
    if isinstance(node, ast.Attribute):
        return f"the attribute {snippet(node)}"
    if isinstance(node, ast.Subscript):
        return f"the subscript {snippet(node)}"
    if isinstance(node, ast.BinOp):
        return f"the operation {snippet(node)}"
    if isinstance(node, ast.UnaryOp):
        return f"the operation {snippet(node)}"
    return _KINDS.get(type(node), f"the expression {snippet(node)}")
