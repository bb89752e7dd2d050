"""Reading project files safely: the one place every reader of task, requirements, workflow, stage,
config and plan files goes through.

A repository is input from whoever wrote the pull request, so a file in it may be a symbolic link to
``/proc/self/environ`` or a private key, a FIFO that blocks forever, or ``/dev/zero``. ``read_bytes``:

- refuses a path that resolves outside the folders it may come from (``within``; none for a path the user
  named on the command line, which may live anywhere);
- opens without blocking (a FIFO cannot hang the read) and refuses anything but a regular file, checked on
  the open file (``fstat``), so a size check cannot be fooled by ``st_size`` 0;
- reads at most ``limit`` bytes and fails beyond.

Every refusal is an ``UnsafeFile``, an ``OSError`` whose message reads after the file's name ("the
file is a FIFO, not a regular file; not read"). ``excerpt`` is how a message quotes file content.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

MB = 1024 * 1024
# Limits per kind of file (generous: real files are far smaller; README "Limits").
TASK_FILE_LIMIT = 5 * MB  # a task .py or requirements.txt
WORKFLOW_FILE_LIMIT = 5 * MB  # a workflow file or template
STAGE_FILE_LIMIT = 1 * MB
CONFIG_FILE_LIMIT = 1 * MB
PLAN_FILE_LIMIT = 64 * MB
EXCERPT_CHARS = 60


class UnsafeFile(OSError):
    """A file idflow refuses to read (outside the project, not a regular file, too large)."""

    def __init__(self, message: str):
        super().__init__(errno.EPERM, message)

    def __str__(self) -> str:
        return str(self.strerror)


def size_text(limit: int) -> str:
    return f"{limit // MB} MB" if limit >= MB and limit % MB == 0 else f"{limit} bytes"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def _inside(real: str, folders: Iterable[Path]) -> bool:
    for folder in folders:
        base = os.path.realpath(folder)
        if real == base or real.startswith(base.rstrip(os.sep) + os.sep):
            return True
    return False


_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)


def read_bytes(
    path: Path | str, *, limit: int, within: Iterable[Path] | None = None, parents_checked: bool = False
) -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes that resolves inside one of the
    folders ``within`` (when given). Raises ``UnsafeFile`` (or another ``OSError``) otherwise.

    ``parents_checked``: the caller reached ``path`` by walking down from a folder inside ``within``
    without following links out of it, so only the file itself can be a link. It is then opened with
    ``O_NOFOLLOW`` first (no ``realpath`` for the common case: discovery stays fast), and only a link is
    resolved and checked.
    """
    path = os.fspath(path)
    fd = -1
    if within is not None and parents_checked:
        try:
            fd = os.open(path, _FLAGS | os.O_NOFOLLOW)
        except OSError as exc:
            if exc.errno != errno.ELOOP:  # ELOOP: the file is a link (or a loop), checked below
                raise
    if fd < 0:
        if within is not None:
            real = os.path.realpath(path)
            if not _inside(real, within):
                if os.path.islink(path) or real != os.path.abspath(path):
                    raise UnsafeFile("is a symbolic link to a place outside the project; not read")
                raise UnsafeFile("is outside the project; not read")
        fd = os.open(path, _FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
            raise UnsafeFile(f"is {_kind(mode)}, not a regular file; not read")
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 * MB, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise UnsafeFile(f"is larger than {size_text(limit)}; not read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _escaped(value: str, limit: int) -> str:
    head = value[: limit + 1]
    shown = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in head)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """File content quoted for an error message: control characters escaped, at most ``limit`` characters."""
    return "'" + _escaped(str(text), limit) + "'"


def short(message: str, limit: int = 200) -> str:
    """A library's error message (which may quote file content) as one short line, control characters
    escaped."""
    return _escaped(str(message), limit)
