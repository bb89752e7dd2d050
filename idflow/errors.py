"""idflow's exception tree.

Every expected failure is an ``IdflowError``; the CLI turns it into one line on stderr and exit 1.
Anything else reaching the CLI is a bug and is reported as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class IdflowError(Exception):
    """Root of every error idflow expects and reports without a traceback."""

    exit_code = 1

    def details(self) -> list[str]:
        """Extra lines shown under the one-line message (problem lists, field errors)."""
        return []


class ConfigError(IdflowError):
    """The configuration file or environment is unusable."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a source file, located as ``path:line:col``."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"

    @classmethod
    def from_message(cls, text: str) -> Problem:
        """A problem from a one-line error that starts with ``path:line[:col]: `` (config and stage errors);
        ``path: `` alone gives line 0 (the whole file), and anything else has no path."""
        located = _LOCATED.match(text)
        if located:
            line, col = int(located["line"]), int(located["col"] or 1)
            return cls(located["path"], line, col, located["message"])
        whole = _WHOLE_FILE.match(text)
        if whole:
            return cls(whole["path"], 0, 0, whole["message"])
        return cls("", 0, 0, text)


_LOCATED = re.compile(r"(?P<path>[^\n]+?):(?P<line>\d+)(?::(?P<col>\d+))?: (?P<message>.*)", re.DOTALL)
_WHOLE_FILE = re.compile(r"(?P<path>[^\s:][^:\n]*/[^:\n]*): (?P<message>.*)", re.DOTALL)


class DefinitionError(IdflowError):
    """Local definitions (task files, workflow files) are invalid; carries every problem found."""

    def __init__(self, problems: list[Problem], what: str = "definition"):
        self.problems = sorted(problems, key=lambda p: (p.path, p.line, p.col, p.message))
        count = len(self.problems)
        message = str(self.problems[0]) if count == 1 else f"{count} problems in local {what}s"
        super().__init__(message)

    def details(self) -> list[str]:
        return [str(p) for p in self.problems] if len(self.problems) > 1 else []


class RemoteError(IdflowError):
    """The Conductor server could not do what was asked."""

    transient = False

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class ServerUnreachable(RemoteError):
    """Connection refused, DNS failure, reset: nothing (or not all) reached the server."""

    transient = True


class RemoteTimeout(RemoteError):
    """The server did not answer within the configured timeout."""

    transient = True


class ServerUnavailable(RemoteError):
    """502/503/504: the server or a proxy in front of it is temporarily unavailable."""

    transient = True


class AuthError(RemoteError):
    """401/403: credentials missing, wrong or not allowed."""


class NotFound(RemoteError):
    """404 for a named object."""


class Conflict(RemoteError):
    """409: the object already exists."""


class NoScheduler(RemoteError):
    """The server has no scheduler (``GET /scheduler/schedules`` answers 404): conductor-oss runs without
    one when ``conductor.scheduler.enabled`` is false. Only a project with schedule files needs one."""


class ValidationRejected(RemoteError):
    """400: the server rejected a definition; carries its field messages."""

    def __init__(self, message: str, field_errors: list[str] | None = None, status: int | None = 400):
        super().__init__(message, status)
        self.field_errors = field_errors or []

    def details(self) -> list[str]:
        return list(self.field_errors)


class ServerError(RemoteError):
    """Any other unexpected answer (500 and the like)."""


class DevServerError(IdflowError):
    """Starting, stopping or finding the local Conductor server failed."""


class PlanFileError(IdflowError):
    """A plan file cannot be read or is not acceptable (checksum, version, server, applied)."""


class StalePlanError(IdflowError):
    """The server changed since the plan was made; nothing was written."""

    def __init__(self, message: str, changes: list[str]):
        super().__init__(message)
        self.changes = changes

    def details(self) -> list[str]:
        return list(self.changes)


class LockError(IdflowError):
    """Another apply holds the state lock."""


class ApplyFailed(IdflowError):
    """Some changes of an apply failed; the report says which."""


class ConfirmationRefused(IdflowError):
    """The user declined, or no confirmation could be asked for."""


class StageError(IdflowError):
    """A stage file is invalid, or its workflow run did not succeed."""


class WorkerError(IdflowError):
    """Workers cannot be started (missing requirements, nothing to run)."""


class StateFileError(IdflowError):
    """A file under the state folder is a symbolic link or not a regular file."""


class ApplyInterrupted(IdflowError):
    """SIGINT or SIGTERM stopped an apply: what landed is in the report, the locks are released.
    Exits 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM), as shells do."""

    def __init__(self, message: str, signum: int, outcome: object = None):
        super().__init__(message)
        self.exit_code = 128 + signum
        self.outcome = outcome


class ServerResponseError(RemoteError):
    """The server answered, but not with what the API promises (HTML, a wrong shape, too large)."""


class FileWriteError(IdflowError):
    """A file idflow writes (plan, report, markdown part) could not be written (disk full, no permission)."""
