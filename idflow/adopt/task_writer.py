"""A task on the server becomes ``<tasks_dir>/<module>/<module>.py``: an ``@worker_task(...)`` with every field
that differs from the server's defaults as a keyword, the description as the docstring, and a body that
fails loudly until the worker is written. Discovery reads it back to the same definition."""

from __future__ import annotations

import os
import textwrap
from typing import Any

from idflow.adopt.minimal import minimal
from idflow.adopt.names import module_name
from idflow.adopt.pyliteral import INDENT, LINE_LENGTH, literal, string
from idflow.adopt.types import Imported, Refused, WriteContext
from idflow.kinds.normal import TASKDEF_DEFAULTS, TASKDEF_FIELDS, camel_to_snake, normalise_taskdef
from idflow.kinds.server_model import SCHEMA_DEF
from idflow.plan.model import Kind, object_key

NOT_WRITTEN = "imported by `idflow import`: write this worker (until then every task fails)"


def write_task(raw: dict[str, Any], ctx: WriteContext) -> Imported:
    from idflow.repo.task_files import validate_definition

    definition = normalise_taskdef(raw)
    name = definition["name"]
    problems = validate_definition(definition)
    if problems:
        raise Refused(f"task {name!r} cannot be kept in a task file: {problems[0]}")
    notes: list[str] = []
    module = _module_for(name, ctx)
    if module != name:
        why = "its name is not a Python module name" if module_name(name, set()) != name else "that name is taken"
        notes.append(f"task {name!r} is written as the module {module!r} ({why})")
    keywords = _keywords(definition, ctx, notes)
    description = definition.get("description")
    docstring = description if isinstance(description, str) and _fits_docstring(description) else None
    if docstring is None and description is not None:
        keywords.insert(0, ("description", description))
    text = _source(name, module, keywords, docstring)
    path = ctx.config.tasks_dir / module / f"{module}.py"
    return Imported(Kind.TASK.value, name, object_key(Kind.TASK, name), path, text, tuple(notes))


def _module_for(name: str, ctx: WriteContext) -> str:
    """The module a task goes to: the one already holding it (``--force`` rewrites it in place), else a new
    safe name. A task defined anywhere else in the project is left alone."""
    tasks_dir = ctx.config.tasks_dir
    existing = ctx.existing.get(object_key(Kind.TASK, name))
    if existing is None:
        canonical = module_name(name, set())
        path = tasks_dir / canonical / f"{canonical}.py"
        if os.path.lexists(path) and path not in set(ctx.existing.values()):
            return canonical  # a file of no task where this one goes: replaced only with --force
        return module_name(name, ctx.taken(tasks_dir))
    folder = existing.parent
    if folder.parent == tasks_dir and existing.name == f"{folder.name}.py":
        ctx.taken(tasks_dir).add(folder.name.lower())
        return folder.name
    raise Refused(f"task {name!r} is already defined in {ctx.config.relative(existing)}: left as it is")


def _keywords(definition: dict[str, Any], ctx: WriteContext, notes: list[str]) -> list[tuple[str, Any]]:
    configured = ctx.config.owner_email
    found: list[tuple[str, Any]] = []
    for field in TASKDEF_FIELDS:
        value = definition.get(field)
        if field in ("name", "description") or value is None:
            continue
        if field in TASKDEF_DEFAULTS and value == TASKDEF_DEFAULTS[field]:
            continue
        if field == "ownerEmail" and configured:
            if value != configured:  # (import selects these only when named, and says so)
                raise Refused(
                    f"task {definition['name']!r} belongs to {value!r}, not the configured owner_email "
                    f"{configured!r}: a task file of this project cannot keep it"
                )
            continue  # discovery writes the configured owner
        if field in ("inputSchema", "outputSchema") and isinstance(value, dict):
            value = minimal(SCHEMA_DEF, value)
        found.append((camel_to_snake(field), value))
    if configured and definition.get("ownerEmail") is None:
        notes.append(f"task {definition['name']!r} has no ownerEmail: the next plan sets it to {configured!r}")
    return found


def _fits_docstring(text: str) -> bool:
    """Whether discovery reads ``text`` back from a docstring exactly (its summary: the first paragraph,
    whitespace joined) and the docstring needs no escapes."""
    return bool(text) and text == " ".join(text.split()) and text.isprintable() and '"' not in text and "\\" not in text


def _source(name: str, module: str, keywords: list[tuple[str, Any]], docstring: str | None) -> str:
    lines = [
        f'"""The worker of the Conductor task {name}, imported from the server by `idflow import`."""',
        "",
        "from idflow import worker_task",
        "",
        "",
        "@worker_task(",
        f"{INDENT}{string(name)},",
    ]
    for keyword, value in keywords:
        lines += literal(value, 1, f"{keyword}=")
    lines += [")", f"def {module}():"]
    if docstring is not None:
        one = f'{INDENT}"""{docstring}"""'
        if len(one) <= LINE_LENGTH:
            lines.append(one)
        else:
            wrapped = textwrap.wrap(docstring, width=LINE_LENGTH - len(INDENT), break_long_words=False,
                                    break_on_hyphens=False)  # fmt: skip
            lines.append(f'{INDENT}"""{wrapped[0]}')
            lines += [f"{INDENT}{line}" for line in wrapped[1:]]
            lines.append(f'{INDENT}"""')
    # Split as ruff format splits it (the message is too long for one line).
    lines += [f"{INDENT}raise NotImplementedError(", f"{INDENT * 2}{string(NOT_WRITTEN)}", f"{INDENT})"]
    return "\n".join(lines) + "\n"
