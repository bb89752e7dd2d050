"""Read-only JSON values: what a plan's bodies are made of.

``freeze`` turns a JSON-shaped value into ``FrozenDict``s and ``FrozenList``s. They are a ``dict`` and a
``tuple`` to everything that reads them, so the C JSON encoder writes and hashes them as they are (no copy
back to plain dicts before writing a plan file or hashing a body), and ``freeze`` of a value that is
already frozen is the value itself (a body frozen once is never copied again). Every way to change one in
place raises ``TypeError``; ``thaw`` gives a mutable copy, for sending to the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from idflow.kinds.normal import canonical_json


class FrozenDict(dict):  # type: ignore[type-arg]
    """A ``dict`` nothing can change in place. Made only by ``freeze``, so its values are frozen too."""

    __slots__ = ("_canonical",)  # its canonical JSON, once asked for (``canonical``): it cannot change

    def _read_only(self, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise TypeError("a planned definition is read-only (thaw() gives a copy to change)")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, _memo: Any) -> FrozenDict:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))


class FrozenList(tuple):  # type: ignore[type-arg]
    """A JSON list, frozen: a ``tuple`` whose items are frozen (made only by ``freeze``)."""

    __slots__ = ()


_FROZEN = (FrozenDict, FrozenList)
_LEAVES = frozenset({str, int, float, bool, type(None)})


def freeze(value: Any) -> Any:
    kind = type(value)  # exact types first, and leaves without a call: this runs for every value of every body
    if kind is dict:
        return FrozenDict({k: v if type(v) in _LEAVES else freeze(v) for k, v in value.items()})
    if kind in _LEAVES or kind is FrozenDict or kind is FrozenList:
        return value
    if kind is list or kind is tuple:
        return FrozenList([v if type(v) in _LEAVES else freeze(v) for v in value])
    if isinstance(value, Mapping):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    return value


def thaw(value: Any) -> Any:
    """A mutable copy: plain dicts and lists all the way down."""
    kind = type(value)
    if kind is FrozenDict or kind is dict:
        return {k: v if type(v) in _LEAVES else thaw(v) for k, v in value.items()}
    if kind in _LEAVES:
        return value
    if kind is FrozenList or kind is list or kind is tuple:
        return [v if type(v) in _LEAVES else thaw(v) for v in value]
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    return value


def is_frozen(value: Any) -> bool:
    """Whether ``value`` is a frozen container (so the JSON encoder can take it as it is)."""
    return type(value) in _FROZEN


def canonical(value: Any) -> str:
    """``canonical_json(value)``; for a frozen dict computed once and kept on it (a plan compares a body,
    then writes it short and checks the short form against it: the same text each time)."""
    if type(value) is not FrozenDict:
        return canonical_json(value)
    try:
        return value._canonical  # type: ignore[no-any-return]
    except AttributeError:
        text = value._canonical = canonical_json(value)
        return text
