"""Plan files: versioned, checksummed JSON, written atomically with mode 0600.

The document is the plan's own dict plus ``applied`` (null until apply marks it) and ``checksum``, a
sha256 over the canonical JSON of everything else. Later format versions only add fields; a reader
accepts any ``1.x`` and refuses another major version.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from idflow import safefile
from idflow.errors import FileWriteError, PlanFileError
from idflow.normal import canonical_json
from idflow.plan import FORMAT_VERSION, Plan

SUPPORTED_MAJOR = FORMAT_VERSION.split(".")[0]


def checksum(document: dict[str, Any]) -> str:
    body = {k: v for k, v in document.items() if k != "checksum"}
    return "sha256:" + hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def document(plan: Plan, applied: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = plan.to_dict()
    doc["applied"] = applied
    doc["checksum"] = checksum(doc)
    return doc


def write_json_atomic(path: Path, data: Any) -> Path:
    """Write JSON to ``path`` through a temp file and a rename, readable by the owner only."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise FileWriteError(f"{path}: cannot write the file: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=False, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # a full disk (ENOSPC), a quota, a read-only file system: one line, exit 1
        Path(tmp).unlink(missing_ok=True)
        raise FileWriteError(f"{path}: cannot write the file: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_plan(plan: Plan, path: Path, applied: dict[str, Any] | None = None) -> Path:
    return write_json_atomic(path, document(plan, applied))


def read_document(path: Path) -> dict[str, Any]:
    try:
        raw = safefile.read_bytes(path, limit=safefile.PLAN_FILE_LIMIT)  # named by the user: may be anywhere
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no plan file here; run `idflow plan` first") from None
    except safefile.UnsafeFile as exc:
        raise PlanFileError(f"{path}: the plan file {exc}") from None
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot read plan file: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise PlanFileError(f"{path}: not a plan file (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{path}:{exc.lineno}:{exc.colno}: not a plan file (invalid JSON: {exc.msg})") from None
    except RecursionError:
        raise PlanFileError(f"{path}: not a plan file (JSON nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer longer than Python's int-to-string limit
        raise PlanFileError(f"{path}: not a plan file ({str(exc).split(';')[0]})") from None
    if not isinstance(doc, dict) or "format_version" not in doc:
        raise PlanFileError(f"{path}: not an idflow plan file (no format_version)")
    version = str(doc.get("format_version"))
    if version.split(".")[0] != SUPPORTED_MAJOR:
        raise PlanFileError(
            f"{path}: plan format {version} is not supported by this idflow (reads {SUPPORTED_MAJOR}.x); "
            "make the plan again with this version"
        )
    try:
        expected = checksum(doc)
    except UnicodeEncodeError:  # a lone surrogate escape ("\ud800"): not text idflow ever writes
        raise PlanFileError(f"{path}: not a plan file (invalid Unicode escape in the JSON)") from None
    if doc.get("checksum") != expected:
        raise PlanFileError(
            f"{path}: checksum mismatch: the plan file was edited or truncated; run `idflow plan` again"
        )
    return doc


def read_plan(path: Path) -> tuple[Plan, dict[str, Any] | None]:
    """The plan and its ``applied`` record (None if never applied)."""
    doc = read_document(path)
    try:
        plan = Plan.from_dict(doc)
        _check_shape(plan, doc.get("applied"))
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise PlanFileError(f"{path}: malformed plan file ({type(exc).__name__}: {exc})") from None
    return plan, doc.get("applied")


def _check_shape(plan: Plan, applied: Any) -> None:
    """What apply relies on beyond ``Plan.from_dict``: raise ValueError where a (checksummed) file breaks it."""
    if applied is not None and not isinstance(applied, dict):
        raise ValueError(f"'applied' must be null or an object, not {type(applied).__name__}")
    for change in plan.changes:
        if change.version is not None and (not isinstance(change.version, int) or isinstance(change.version, bool)):
            raise ValueError(f"change {change.name!r}: version {change.version!r} is not a whole number")
    for key, value in plan.fingerprints.items():
        kind, _, rest = str(key).partition(":")
        if kind not in ("task", "workflow", "uses") or not rest or not (value is None or isinstance(value, str)):
            raise ValueError(f"bad fingerprint {key!r}: {value!r}")
        if kind == "workflow":
            int(rest.rpartition(":")[2])


def mark_applied(path: Path, plan: Plan, applied: dict[str, Any]) -> None:
    write_plan(plan, path, applied)
