"""Writing new files inside one folder without ever following a symbolic link: every folder on the way is
opened relative to its parent with ``O_NOFOLLOW`` (created when missing), and the file itself too, so a
link planted anywhere on the path is refused rather than written through, and nothing lands outside."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from idflow.errors import FileWriteError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def check_inside(root: Path, path: Path) -> tuple[str, ...]:
    """The parts of ``path`` below ``root``; a path outside it (or with ``..``) is refused."""
    try:
        parts = Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).parts
    except ValueError:
        raise FileWriteError(f"{path}: outside {root}; idflow writes only inside it") from None
    if not parts or any(part in ("", ".", "..") for part in parts):
        raise FileWriteError(f"{path}: not a file path inside {root}")
    return parts


def write_new(root: Path, path: Path, text: str, *, replace: bool = False) -> None:
    """Write ``text`` to ``path`` (inside ``root``), creating the folders on the way. An existing file is
    refused unless ``replace``; a symbolic link anywhere below ``root`` is always refused."""
    parts = check_inside(root, path)
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        raise FileWriteError(f"{root}: cannot open the folder: {exc.strerror or exc}") from None
    try:
        for index, part in enumerate(parts[:-1]):
            child = _child_dir(fd, part, root.joinpath(*parts[: index + 1]))
            os.close(fd)
            fd = child
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_TRUNC if replace else os.O_EXCL)
        try:
            out = os.open(parts[-1], flags | os.O_NONBLOCK, 0o644, dir_fd=fd)
        except OSError as exc:
            raise FileWriteError(_why(path, exc)) from None
        if not stat.S_ISREG(os.fstat(out).st_mode):
            os.close(out)
            raise FileWriteError(f"{path}: not a regular file; nothing written")
        with os.fdopen(out, "w", encoding="utf-8") as handle:
            handle.write(text)
    finally:
        os.close(fd)


def _child_dir(parent: int, name: str, shown: Path) -> int:
    try:
        os.mkdir(name, 0o755, dir_fd=parent)
    except FileExistsError:
        pass
    except OSError as exc:
        raise FileWriteError(_why(shown, exc)) from None
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        raise FileWriteError(_why(shown, exc)) from None


def _why(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return f"{path} is a symbolic link; idflow never writes through links: nothing written there"
    if exc.errno == errno.ENOTDIR:
        return f"{path}: a file is in the way of a folder (or a link to one); nothing written there"
    if exc.errno == errno.EEXIST:
        return f"{path} exists; --force replaces it"
    return f"{path}: cannot write: {exc.strerror or exc}"
