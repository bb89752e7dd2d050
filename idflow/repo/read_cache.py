"""What reading each task file and workflow file gave, kept between runs in ``<state_dir>/cache/``.

Reading 1,000 task files is mostly ``ast.parse`` and the static reader (about 0.6 s of every plan and
validate), 200 workflow files mostly their type checks and normal forms, and an unchanged file reads the
same every time. So each file's result (its workers, its workflow, its problems) is kept under its path
and the SHA-256 of its bytes, for one reader: the source of the modules that compute the result (a
``Reader``'s ``modules``), the Python version and the configured owner. A file whose bytes changed is read
again; a cache of another reader, or one that is absent, unreadable or malformed, is not used at all. Only
results that JSON gives back exactly are kept (a tuple, a date or a NaN in a value is not). Templates are
never cached: what they render depends on variables and on the files they include. The same cache keeps
the short forms of a plan file's no-op bodies (``SHORT_BODIES``), under each body's hash instead of a path.

The cache only saves time: every file is still read from disk and hashed, nothing is taken from the cache
without its file's current hash, and a cache that cannot be written is left as it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idflow.errors import Problem
from idflow.repo import safefile

FORMAT = 1
CACHE_LIMIT = 64 * safefile.MB


@dataclass(frozen=True)
class Reader:
    """One kind of file the cache keeps results of: its cache file, and the modules whose code decides
    what reading such a file gives (the reader's module and every idflow module it imports, transitively;
    tests/unit/test_read_cache.py fails when one is missing)."""

    cache_name: str
    modules: tuple[str, ...]
    libraries: tuple[str, ...] = ()  # third-party modules whose version counts (a parser's)
    whole_package: bool = False  # the source of every idflow module counts (no short list says it all)


_MODEL = (
    "idflow.errors", "idflow.kinds.normal", "idflow.kinds.server_model", "idflow.kinds.ownership", "idflow.jsontext",
)  # fmt: skip
TASK_FILES = Reader(
    "task-files.json",
    ("idflow.repo.task_files", "idflow.repo.static", "idflow.repo.safefile", "idflow.decorator", *_MODEL),
)
WORKFLOW_FILES = Reader(
    "workflow-files.json",
    (
        "idflow.repo.workflow_files", "idflow.repo.yamlfile", "idflow.repo.safefile", "idflow.kinds.usage",
        "idflow.kinds.key", "idflow.kinds.workflow_normal", *_MODEL,
    ),
    libraries=("yaml",),
)  # fmt: skip

#: Not a file reader: the short forms of a plan file's no-op bodies (``idflow.plan.file``), under the
#: SHA-256 of each body's canonical JSON. What decides a short form (the server's model, every kind's
#: normal form, ``idflow.adopt.minimal``) is spread over the package, so all of it counts.
SHORT_BODIES = Reader("short-bodies.json", (), whole_package=True)


def reader_fingerprint(reader: Reader, owner_email: str | None) -> str:
    digest = hashlib.sha256(f"{FORMAT}\0{sys.version}\0{owner_email}".encode())
    for name in reader.modules:
        digest.update(Path(sys.modules[name].__file__ or "").read_bytes())
    for name in reader.libraries:
        digest.update(f"\0{name} {getattr(sys.modules[name], '__version__', '?')}".encode())
    if reader.whole_package:  # about 100 files, 10 ms
        package = Path(__file__).resolve().parents[1]
        for path in sorted(package.rglob("*.py")):
            digest.update(f"\0{path.relative_to(package).as_posix()}\0".encode() + path.read_bytes())
    return digest.hexdigest()


def problem_data(problem: Problem) -> list[Any]:
    """A problem as the cache keeps it (``problem_from`` reverses it)."""
    return [problem.path, problem.line, problem.col, problem.message]


def problem_from(raw: Any) -> Problem:
    """Raises TypeError or ValueError for anything ``problem_data`` does not write."""
    path, line, col, message = raw
    if not (isinstance(path, str) and type(line) is int and type(col) is int and isinstance(message, str)):
        raise TypeError("not a problem")
    return Problem(path, line, col, message)


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ReadCache:
    """Results per file path: ``get`` one whose digest matches, ``put`` new ones, ``save`` once at the end
    (which keeps only the files asked about in this run, and writes only when something changed)."""

    def __init__(self, folder: Path, reader: Reader, owner_email: str | None):
        self.path = folder / reader.cache_name
        self.fingerprint = reader_fingerprint(reader, owner_email)
        self._old = self._load()
        self._new: dict[str, list[Any]] = {}
        self._changed = False

    def _load(self) -> dict[str, Any]:
        try:
            raw = safefile.read_bytes(self.path, limit=CACHE_LIMIT, within=(self.path.parent,), parents_checked=True)
            data = json.loads(raw)
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("reader") != self.fingerprint:
            return {}
        files = data.get("files")
        return files if isinstance(files, dict) else {}

    def get(self, path: str, digest: str) -> Any | None:
        entry = self._old.get(path)
        if isinstance(entry, list) and len(entry) == 2 and entry[0] == digest:
            self._new[path] = entry
            return entry[1]
        return None

    def result(self, path: str, data: bytes, read: Callable[[], tuple[Any, Any]], restore: Callable[[Any], Any]) -> Any:
        """What reading the file at ``path`` gives for these bytes: ``restore`` of the payload kept for them,
        else ``read()``, which returns the result and the payload to keep (None: nothing). ``restore`` raises
        TypeError or ValueError for a payload it does not know, and the file is read then."""
        digest = file_digest(data)
        cached = self.get(path, digest)
        if cached is not None:
            try:
                return restore(cached)
            except (TypeError, ValueError):
                pass  # malformed: read the file
        result, payload = read()
        if payload is not None:
            self.put(path, digest, payload)
        return result

    def put(self, path: str, digest: str, result: Any) -> None:
        """Keep ``result`` (JSON data: lists, not tuples) unless JSON would not give it back as it is."""
        try:
            if json.loads(json.dumps(result)) != result:
                return
        except (TypeError, ValueError, RecursionError):
            return
        self._new[path] = [digest, result]
        self._changed = True

    def save(self) -> None:
        if not self._changed and self._new.keys() == self._old.keys():
            return
        text = json.dumps({"reader": self.fingerprint, "files": self._new}, separators=(",", ":"))
        if len(text) > CACHE_LIMIT:  # it would never be read back: not worth writing every run
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        except OSError:
            return  # a read-only checkout: every run reads every file, as without a cache
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, self.path)  # replaces a link planted at the path rather than following it
        except OSError:
            Path(tmp).unlink(missing_ok=True)
