"""What the event handler and schedule writers share: one object per file, directly in the kind's folder,
``<folder>/<safe name>.yaml`` (or ``.json``), the server-owned fields and the server's defaults left out,
keys in the model's order. Neither kind has a JSON schema (``idflow schema``), so no schema header."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from idflow.adopt.minimal import minimal
from idflow.adopt.names import file_stem
from idflow.adopt.types import Imported, Refused, WriteContext
from idflow.kinds.server_model import Struct
from idflow.plan.model import object_key


def write_one(
    kind: str, noun: str, struct: Struct, normalise: Callable[[Any], Any], folder: Path, raw: dict[str, Any],
    ctx: WriteContext,
) -> Imported:  # fmt: skip
    from idflow.repo.workflow_files import NAME_RULE, SAFE_NAME

    definition = normalise(raw)
    name = str(definition.get("name"))
    label = f"{noun} {name!r}"
    if not SAFE_NAME.fullmatch(name):
        raise Refused(f"{label} cannot be kept in a {noun} file: the name {name!r} {NAME_RULE}")
    body = minimal(struct, definition)
    if normalise(body) != definition:
        body = definition  # the short form would not read back the same: keep every field
    body = {"name": name, **{k: v for k, v in body.items() if k != "name"}}
    notes: list[str] = []
    path, fmt = _path_for(kind, noun, name, folder, ctx, notes)
    if fmt == "json":
        text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    else:
        text = yaml.safe_dump(body, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
    return Imported(kind, name, object_key(kind, name), path, text, tuple(notes))


def _path_for(kind: str, noun: str, name: str, folder: Path, ctx: WriteContext, notes: list[str]) -> tuple[Path, str]:
    """The plain file of the folder already holding the object (``--force`` rewrites it in place, in its
    own format), else ``<folder>/<stem>.<format>``. A template or a list of the original idflow is left alone."""
    existing = ctx.existing.get(object_key(kind, name))
    if existing is not None:
        fmt = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(existing.suffix.lower())
        if fmt is None or (existing.parent != folder and folder not in existing.parents):
            raise Refused(f"{noun} {name!r} is defined by {ctx.config.relative(existing)}: left as it is")
        return existing, fmt
    stem = file_stem(name, ctx.taken(folder))
    if stem != name:
        why = "a safe file name" if file_stem(name, set()) != name else "that name is taken"
        notes.append(f"{noun} {name!r} is written under the file name {stem!r} ({why})")
    ext = "json" if ctx.fmt == "json" else "yaml"
    return folder / f"{stem}.{ext}", ext
