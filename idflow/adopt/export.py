"""``idflow export DIR``: every definition of every kind on the server, any owner, as plain JSON files (what
the server answered, one file per object) plus ``manifest.json``: the server (without credentials), the
time, the idflow version, counts, and a sha256 per file. ``idflow plan --from DIR`` restores it, as a plan.

idflow's own apply lock and apply records are left out: they are idflow's state, not definitions."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from idflow.adopt.kinds import KINDS, starts_only_owners
from idflow.adopt.names import file_stem
from idflow.adopt.safewrite import write_new
from idflow.errors import DefinitionError, FileWriteError, IdflowError, Problem

if TYPE_CHECKING:
    from idflow.config import Config
    from idflow.plan.inputs import DesiredState
    from idflow.server.client import Remote

MANIFEST = "manifest.json"
FORMAT = "idflow-export/1"
MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ExportOutcome:
    folder: Path
    counts: dict[str, int]


def export(config: Config, remote: Remote, folder: Path) -> ExportOutcome:
    """Write the export into ``folder``, which must be absent or empty (an export is never mixed with
    another's files). Everything is read before anything is written."""
    from idflow import __version__
    from idflow.masking import redact_urls

    read = {kind: spec.fetch(remote) for kind, spec in KINDS.items()}
    if folder.is_symlink():
        raise FileWriteError(f"{folder} is a symbolic link; idflow never writes through links: export elsewhere")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileWriteError(f"{folder}: exists and is not an empty folder; export into a new one")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileWriteError(f"{folder}: cannot create the folder: {exc.strerror or exc}") from None
    files: dict[str, dict[str, Any]] = {}
    for kind, objects in read.items():
        spec = KINDS[kind]
        taken: set[str] = set()
        for raw in sorted(objects, key=lambda r: (spec.name(r), spec.version(r) or 0)):
            version = spec.version(raw)
            stem = file_stem(spec.name(raw) + ("" if version is None else f".v{version}"), taken)
            relative = f"{spec.folder}/{stem}.json"
            text = json.dumps(raw, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            write_new(folder, folder / relative, text)
            files[relative] = {"kind": kind, "name": spec.name(raw), "version": version, "sha256": _sha256(text)}
    manifest = {
        "format": FORMAT,
        "idflow_version": __version__,
        "server_url": redact_urls(config.server_url),
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "counts": {kind: len(objects) for kind, objects in read.items()},
        "left_out": "idflow's apply lock and apply records (idflow's state, not definitions)",
        "files": files,
    }
    write_new(folder, folder / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return ExportOutcome(folder, manifest["counts"])


def _sha256(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return "sha256:" + hashlib.sha256(data).hexdigest()


def read_export(folder: Path) -> tuple[dict[str, Any], dict[str, list[tuple[str, dict[str, Any]]]]]:
    """The manifest and, per kind, ``(file, raw definition)`` of every file it lists, each checked against
    its checksum: a file changed, missing or added by hand since the export is refused by name."""
    from idflow.repo import safefile

    manifest_path = folder / MANIFEST
    manifest = _json(safefile, manifest_path, folder)
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or manifest.get("format") != FORMAT:
        raise IdflowError(f"{manifest_path}: not the manifest of an idflow export ({FORMAT})")
    problems: list[Problem] = []
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {kind: [] for kind in KINDS}
    for relative, entry in sorted(manifest["files"].items()):
        path = folder / relative
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if kind not in KINDS or Path(relative).is_absolute() or ".." in Path(relative).parts:
            problems.append(Problem(str(manifest_path), 0, 0, f"{relative!r}: not a file of an export"))
            continue
        try:
            data = safefile.read_bytes(path, limit=MAX_FILE_BYTES, within=[folder])
        except (OSError, safefile.UnsafeFile) as exc:
            problems.append(Problem(str(path), 0, 0, f"cannot read: {getattr(exc, 'strerror', None) or exc}"))
            continue
        if _sha256(data) != entry.get("sha256"):
            problems.append(Problem(str(path), 0, 0, "changed since the export (its sha256 is not the manifest's)"))
            continue
        raw = json.loads(data)
        if not isinstance(raw, dict):
            problems.append(Problem(str(path), 1, 1, "not a definition (a JSON object)"))
            continue
        found[kind].append((str(path), raw))
    listed = {os.path.normpath(r) for r in manifest["files"]} | {MANIFEST}
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            relative = os.path.relpath(os.path.join(dirpath, name), folder)
            if relative not in listed:
                problems.append(Problem(os.path.join(dirpath, name), 0, 0, "not in the export's manifest"))
    if problems:
        raise DefinitionError(problems, what="export")
    return manifest, found


def _json(safefile: Any, path: Path, folder: Path) -> Any:
    try:
        return json.loads(safefile.read_bytes(path, limit=MAX_FILE_BYTES, within=[folder]))
    except (OSError, safefile.UnsafeFile) as exc:
        raise IdflowError(f"{path}: cannot read the manifest: {getattr(exc, 'strerror', None) or exc}") from None
    except ValueError as exc:
        raise IdflowError(f"{path}: not JSON: {exc}") from None


def desired_from_export(config: Config, folder: Path) -> tuple[DesiredState, list[str]]:
    """The export as the desired state of a plan (a restore), and notes. With owner_email set, only that
    owner's definitions (and those of no owner, which get it) are restored: this project writes no other; of
    the handlers and schedules (no owner field) those that start only that owner's workflows."""
    from idflow.kinds.key import Kind, ObjectKey
    from idflow.plan.inputs import DesiredObject, DesiredState

    manifest, found = read_export(folder)
    notes: list[str] = []
    left_out = 0
    objects: dict[str, dict[Any, DesiredObject]] = {kind: {} for kind in KINDS}
    owners = {
        (str(raw.get("name")), int(raw.get("version") or 1)): raw.get("ownerEmail") for _p, raw in found["workflow"]
    }
    for kind, files in found.items():
        spec = KINDS[kind]
        for path, raw in files:
            definition = spec.normalise(raw)
            owner = definition.get("ownerEmail")
            if config.owner_email and owner not in (None, config.owner_email):
                left_out += 1
                continue
            if (config.owner_email and kind not in ("task", "workflow")
                    and not starts_only_owners(kind, definition, owners, config.owner_email)):  # fmt: skip
                left_out += 1
                continue
            if config.owner_email and kind in ("task", "workflow"):  # handlers and schedules have no owner field
                definition["ownerEmail"] = config.owner_email
            key = spec.name(raw) if spec.version(raw) is None else (spec.name(raw), spec.version(raw))
            objects[kind][key] = DesiredObject(definition, f"{os.path.abspath(path)}:1")
    if left_out:
        notes.append(
            f"{left_out} definition(s) of other owners in the export are left out of this restore (owner_email "
            f"is {config.owner_email!r}); restore them from a project without owner_email"
        )
    # Handlers and schedules are restored when the export has them (one of an older idflow does not: the
    # server's are then left alone); they are this project's once the restore's apply records them.
    counts = manifest.get("counts") if isinstance(manifest.get("counts"), dict) else {}
    others = {
        Kind(kind): MappingProxyType({ObjectKey(Kind(kind), name): obj for name, obj in objects[kind].items()})
        for kind in KINDS
        if kind not in ("task", "workflow") and kind in counts
    }
    return (
        DesiredState(
            tasks=MappingProxyType(objects["task"]),
            workflows=MappingProxyType(objects["workflow"]),
            manages_workflows=True,
            others=MappingProxyType(others),
            notes=tuple(notes),
        ),
        notes,
    )
