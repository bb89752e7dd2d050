"""SIGINT and SIGTERM during apply: one orderly path for both.

``InterruptGuard`` is installed only for the duration of an apply (and restores the previous handlers).
Outside ``deferred()`` a signal raises ``Interrupted`` in the main thread at once (waiting for the server's
lock, reading for the stale check). Inside ``deferred()`` it is only recorded: a write or a lock request
already sent runs to its end (bounded by the request timeout), and the code in there asks ``requested``
before starting the next one. Either way the caller then records what landed, writes the report and
releases the locks; the command exits 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; ``signum`` says which (a KeyboardInterrupt, so nothing catches it as an error)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class InterruptGuard:
    def __init__(self) -> None:
        self.signum: int | None = None
        self._depth = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        if self._depth == 0:
            raise Interrupted(signum)

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Signals are recorded, not raised, until the block ends."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

    def checkpoint(self) -> None:
        """Raise now if a signal arrived (to be called between requests inside ``deferred()``)."""
        if self.signum is not None:
            raise Interrupted(self.signum)
