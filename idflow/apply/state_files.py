"""Opening idflow's own files under the state folder (``state/.lock``, ``state/.server-lock``) without
following symbolic links: a link planted there would otherwise make idflow truncate and rewrite whatever
file it points to. Plan files and reports are written through a temp file and a rename, which replaces a
link rather than following it."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from idflow.errors import StateFileError


def open_state_file(path: Path, flags: int, mode: int = 0o600) -> int:
    """``os.open`` that refuses a symbolic link and anything but a regular file (FIFOs, devices)."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StateFileError(
                f"{path} is a symbolic link; idflow never follows links for its state files: remove it"
            ) from None
        raise
    kind = os.fstat(fd).st_mode
    if not stat.S_ISREG(kind):
        os.close(fd)
        raise StateFileError(f"{path} is not a regular file; remove it")
    os.set_blocking(fd, True)
    return fd


def read_state_text(path: Path) -> str:
    """The file's text ('' when absent)."""
    try:
        fd = open_state_file(path, os.O_RDONLY)
    except FileNotFoundError:
        return ""
    with os.fdopen(fd, encoding="utf-8") as handle:
        return handle.read(1 << 20)


def write_state_text(path: Path, text: str) -> None:
    """Replace the file's content through a temp file and a rename (a link at ``path`` is replaced, not
    followed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
