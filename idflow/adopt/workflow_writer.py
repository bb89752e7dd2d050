"""A workflow version on the server becomes ``<workflows_dir>/<name>/<name>.v<version>.yaml`` (or ``.json``):
the server-owned fields and the defaults the server writes back left out, keys in the model's order, and
the schema header of ``idflow schema`` for editors. The workflow reader reads it back to the same definition."""

from __future__ import annotations

import json
import os
from typing import Any

import yaml

from idflow.adopt.minimal import minimal
from idflow.adopt.names import file_stem
from idflow.adopt.types import Imported, Refused, WriteContext
from idflow.kinds.server_model import WORKFLOW_DEF
from idflow.kinds.usage import inline_workflows, iter_tasks
from idflow.kinds.workflow_normal import normalise_workflowdef
from idflow.plan.model import Kind, object_key

# What `idflow schema -o schemas` writes for workflows (idflow.repo.schema.KINDS; a test checks they agree).
SCHEMA_FILE = "idflow-workflow.schema.json"


def write_workflow(raw: dict[str, Any], ctx: WriteContext) -> Imported:
    from idflow.repo.workflow_files import NAME_RULE, SAFE_NAME

    definition = normalise_workflowdef(raw)
    name, version = str(definition.get("name")), int(definition.get("version") or 1)
    label = f"workflow {name!r} v{version}"
    bad = [f"the name {name!r}"] if not SAFE_NAME.fullmatch(name) else []
    bad += [f"the inline sub-workflow name {w.get('name')!r} at {where}" for w, where in inline_workflows(definition)
            if isinstance(w.get("name"), str) and not SAFE_NAME.fullmatch(w["name"])]  # fmt: skip
    bad += [f"{field} {task.get(field)!r} at {where}" for task, where in iter_tasks(definition)
            for field in ("name", "taskReferenceName")
            if isinstance(task.get(field), str) and not SAFE_NAME.fullmatch(task[field])
            and not task[field].startswith("${")]  # fmt: skip
    if bad:
        raise Refused(f"{label} cannot be kept in a workflow file: {bad[0]} {NAME_RULE}")
    configured = ctx.config.owner_email
    owner = definition.get("ownerEmail")
    notes: list[str] = []
    if configured and owner not in (None, configured):
        raise Refused(
            f"{label} belongs to {owner!r}, not the configured owner_email {configured!r}: a workflow file of "
            "this project cannot keep it"
        )
    if configured and owner is None:
        notes.append(f"{label} has no ownerEmail: the next plan sets it to {configured!r}")
    body = minimal(WORKFLOW_DEF, definition)
    if configured:
        body.pop("ownerEmail", None)  # the reader writes the configured owner
    if normalise_workflowdef({**body, "ownerEmail": owner} if owner else body) != definition:
        body = definition  # the short form would not read back the same: keep every field
    body = {"name": name, "version": version, **{k: v for k, v in body.items() if k not in ("name", "version")}}
    path, fmt = _path_for(name, version, ctx, notes)
    schema = os.path.relpath(ctx.config.root / "schemas" / SCHEMA_FILE, path.parent)
    if fmt == "json":
        text = json.dumps({"$schema": schema, **body}, indent=2, ensure_ascii=False) + "\n"
    else:
        text = f"# yaml-language-server: $schema={schema}\n" + yaml.safe_dump(
            body, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
        )
    return Imported(Kind.WORKFLOW.value, f"{name} v{version}", object_key(Kind.WORKFLOW, name, version), path,
                    text, tuple(notes))  # fmt: skip


def _path_for(name: str, version: int, ctx: WriteContext, notes: list[str]) -> tuple[Any, str]:
    """Where the workflow goes, and in which format: the plain file already holding it (``--force`` rewrites
    it in place, in its own format), else ``<stem>/<stem>.v<version>.<format>``. A template is left alone."""
    from idflow.repo.workflow_files import workflow_format

    existing = ctx.existing.get(object_key(Kind.WORKFLOW, name, version))
    if existing is not None:
        fmt, templated = workflow_format(existing) or ("yaml", True)
        if templated:
            raise Refused(
                f"workflow {name!r} v{version} is defined by the template {ctx.config.relative(existing)}: "
                "left as it is"
            )
        return existing, fmt
    stems = ctx.memo.setdefault("workflow-stems", {})
    if name not in stems:
        stems[name] = file_stem(name, ctx.taken(ctx.config.workflows_dir))
        if stems[name] != name:
            why = "a safe file name" if file_stem(name, set()) != name else "that name is taken"
            notes.append(f"workflow {name!r} is written under the file name {stems[name]!r} ({why})")
    stem = stems[name]
    ext = "json" if ctx.fmt == "json" else "yaml"
    return ctx.config.workflows_dir / stem / f"{stem}.v{version}.{ext}", ext
