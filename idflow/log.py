"""structlog set-up: human lines (default) or JSON lines on stderr, with secrets masked.

structlog is imported (and configured as ``configure_logging`` last asked) on the first line logged at or
above the configured level: a command that logs nothing (``plan``, ``validate``) does not pay for its import.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from idflow.masking import all_secrets, known_secrets, mask_secrets, mask_text, mask_with

_asked: tuple[int, str] | None = None  # (level, format) of the last configure_logging
_structlog_ready = False


def _redact(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    secrets = all_secrets()  # once per line, not per value: apply logs a line per change
    masked = mask_secrets(event, known_secrets())
    return {k: mask_with(v, secrets) if isinstance(v, str) else v for k, v in masked.items()}


class _StderrLogger:
    """Writes to whatever ``sys.stderr`` is at call time (so CliRunner and redirects see it)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def configure_logging(level: str = "info", fmt: str = "text", debug: bool = False, stdlib: bool = True) -> None:
    """Configure idflow's structlog output; with ``stdlib``, also route standard-library logging (the SDK
    logs there, under names like ``[1234] conductor.client...``) to stderr, masked, errors only unless
    debugging."""
    global _asked
    numeric = logging.DEBUG if debug else getattr(logging, level.upper(), logging.INFO)
    _asked = (numeric, fmt)
    if _structlog_ready:
        _configure_structlog(numeric, fmt)
    if stdlib:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
            root.removeHandler(handler)
        handler = _StderrHandler()
        handler.setLevel(logging.DEBUG if debug else logging.ERROR)
        handler.addFilter(_MaskFilter())
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.DEBUG if debug else logging.WARNING)


def _configure_structlog(numeric: int, fmt: str) -> None:
    import structlog

    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    if fmt == "json":
        processors.append(structlog.processors.JSONRenderer(sort_keys=True))
    else:
        colors = sys.stderr.isatty() and not _no_color()
        processors.append(structlog.dev.ConsoleRenderer(colors=colors, pad_event_to=30))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=lambda *args: _StderrLogger(),
        cache_logger_on_first_use=False,
    )


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler that writes to whatever ``sys.stderr`` is when a record arrives."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class _MaskFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = mask_text(record.getMessage())
        record.msg, record.args = message, ()
        return True


def _no_color() -> bool:
    return "NO_COLOR" in os.environ


def get_logger(name: str = "idflow") -> Any:
    """A logger that imports structlog on its first line at or above the configured level: modules make
    theirs at import, and a plan, which logs nothing at the default level, never pays for structlog."""
    return _LazyLogger(name)


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class _LazyLogger:
    def __init__(self, name: str):
        self._name = name
        self._logger: Any = None

    def __getattr__(self, method: str) -> Any:
        numeric = _LEVELS.get(method)
        if numeric is None:
            raise AttributeError(method)

        def log(event: str, *args: Any, **kw: Any) -> Any:
            if self._logger is None:
                if _asked is not None and numeric < _asked[0] and not _structlog_ready:
                    return None  # filtered out as structlog would be: no reason to import it
                self._logger = _structlog_logger(self._name)
            return getattr(self._logger, method)(event, *args, **kw)

        return log


def _structlog_logger(name: str) -> Any:
    global _structlog_ready
    import structlog

    if not _structlog_ready:
        _structlog_ready = True
        if _asked is not None:
            _configure_structlog(*_asked)
        elif not structlog.is_configured():
            # Used as a library without the CLI: warnings and errors on stderr, never debug lines on stdout.
            _configure_structlog(logging.WARNING, "text")
    return structlog.get_logger(name)
