"""JSON Schemas (draft 2020-12) of the files idflow reads, for editors (``idflow schema``).

Each is generated from the tables the readers check files with, so an editor and `idflow validate` cannot
disagree on what they both check: workflow files from ``idflow.kinds.server_model`` (fields, types, choices,
defaults, required fields; the fields the server drops are listed as deprecated, since validate warns about
them rather than refusing them), ``config/idflow.yml`` from ``idflow.config``'s key tables, stage files from
``idflow.run.stages``' keys. A schema checks less than validate (templates, references, duplicate task
references are validate's alone), never more.

Event handlers and schedules are not here: idflow does not manage them, and the server model does not
describe them yet. Pure functions; nothing heavy is imported.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from idflow.kinds.server_model import DROPPED, MODEL, TASK_DEF, WORKFLOW_DEF, Struct, element_type, reachable

DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: Every kind of file with a schema: what it is, and the file name ``idflow schema -o DIR`` writes it to.
KINDS: dict[str, tuple[str, str]] = {
    "workflow": ("workflow files (.json, .yaml, .yml; templates once rendered)", "idflow-workflow.schema.json"),
    "stage": ("stage files (<stages_dir>/<name>.yml)", "idflow-stage.schema.json"),
    "config": ("config/idflow.yml", "idflow-config.schema.json"),
}
_JSON_TYPES = {"string": "string", "integer": "integer", "boolean": "boolean", "object": "object"}
NOT_BLANK = r"\S"  # a non-empty string, blanks alone not counting (as the readers check names)


def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of one kind of file (a key of ``KINDS``)."""
    builders = {"workflow": workflow_schema, "stage": stage_schema, "config": config_schema}
    if kind not in builders:
        raise ValueError(f"unknown kind {kind!r}")
    return builders[kind]()


def dumps(document: dict[str, Any]) -> str:
    """The text of a schema: key order as built (the model's field order), so output is stable."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _nullable(fragment: dict[str, Any]) -> dict[str, Any]:
    """A null counts as unset in every file idflow reads."""
    return {"anyOf": [fragment, {"type": "null"}]} if "type" not in fragment else _or_null(fragment)


def _or_null(fragment: dict[str, Any]) -> dict[str, Any]:
    result = dict(fragment)
    kinds = result["type"] if isinstance(result["type"], list) else [result["type"]]
    result["type"] = [*kinds, "null"]
    if "enum" in result:
        result["enum"] = [*result["enum"], None]
    return result


def _type(type_: str) -> dict[str, Any]:
    if type_ in MODEL:
        return {"$ref": f"#/$defs/{type_}"}
    container = element_type(type_)
    if container is not None:
        kind, inner = container
        if kind == "list":
            return {"type": "array", "items": _type(inner)}
        return {"type": "object", "additionalProperties": _type(inner)}
    if type_ == "any":
        return {}
    return {"type": _JSON_TYPES[type_]}


def _field(struct: Struct, name: str) -> dict[str, Any]:
    field = struct.fields[name]
    fragment = _type(field.type)
    if field.alternatives:
        fragment = {"anyOf": [fragment, *(_type(t) for t in field.alternatives)]}
    if field.choices:
        fragment["enum"] = list(field.choices)
    if field.required:  # present, and not null, blank or empty (the readers' check)
        if fragment.get("type") == "string":
            fragment["pattern"] = NOT_BLANK
        elif fragment.get("type") == "array":
            fragment["minItems"] = 1
        return fragment
    if field.has_default:
        fragment["default"] = copy.deepcopy(field.default)
    return fragment if fragment == {} else _nullable(fragment)


def _ignored(struct: Struct) -> dict[str, dict[str, Any]]:
    """The fields files carry that the server drops: allowed (validate warns about them), marked deprecated,
    described with the words of validate's warning."""
    from idflow.repo.workflow_files import _ignored_message

    names = list(DROPPED.get(struct.name, ()))
    if struct is WORKFLOW_DEF:  # task definition settings written at a workflow's top level
        names += [k for k in TASK_DEF.fields if k not in WORKFLOW_DEF.fields and k not in names]
    return {k: {"deprecated": True, "description": _ignored_message((k,), struct.name)} for k in names}


def _struct(struct: Struct) -> dict[str, Any]:
    properties: dict[str, Any] = {k: _field(struct, k) for k in struct.fields}
    properties.update(_ignored(struct))
    result: dict[str, Any] = {"type": "object", "properties": properties}
    required = [k for k, f in struct.fields.items() if f.required]
    if required:
        result["required"] = required
    return result  # other fields are allowed: the server drops them, validate warns


def workflow_schema() -> dict[str, Any]:
    """One workflow definition per file: the server's WorkflowDef, with what the reader adds (a name,
    a version >= 1, schemaVersion 2 at the top; a ``$schema`` key for editors)."""
    from idflow.repo.workflow_files import SCHEMA_KEY, SCHEMA_VERSION

    in_workflow = reachable(WORKFLOW_DEF)
    return {
        "$schema": DRAFT,
        "title": "idflow workflow file",
        "description": "One Conductor workflow definition (conductor-oss 3.32 model), as idflow reads it. "
        "Generated by `idflow schema`.",
        "$ref": "#/$defs/WorkflowDef",
        "required": ["name"],
        "properties": {
            SCHEMA_KEY: {"type": "string", "description": "the JSON schema of this file (left out by idflow)"},
            "name": {"type": "string", "pattern": NOT_BLANK},
            "version": {"type": ["integer", "null"], "minimum": 1, "default": 1},
            "schemaVersion": {"enum": [SCHEMA_VERSION, None], "default": SCHEMA_VERSION},
        },
        "$defs": {name: _struct(MODEL[name]) for name in MODEL if name in in_workflow},
    }


def _python_type(types: tuple[type, ...]) -> dict[str, Any]:
    names = {str: "string", dict: "object", list: "array", int: "integer", float: "number", bool: "boolean"}
    kinds = sorted({names[t] for t in types})
    if kinds == ["integer", "number"]:
        kinds = ["number"]
    return {"type": kinds[0] if len(kinds) == 1 else kinds}


def _config_keys(table: dict[str, tuple[tuple[type, ...], str]], prefix: str = "") -> dict[str, Any]:
    from idflow.config import _VALUE_RULES

    properties: dict[str, Any] = {}
    for key, (types, description) in table.items():
        fragment = {**_python_type(types), "description": description, **_VALUE_RULES.get(prefix + key, {})}
        properties[key] = _or_null(fragment)
    return properties


def config_schema() -> dict[str, Any]:
    from idflow.config import _CONDUCTOR_BLOCK, _SCHEDULES_BLOCK, _TOP_LEVEL

    properties = _config_keys(_TOP_LEVEL)
    properties["conductor"] = _or_null(
        {
            "type": "object",
            "description": "the server (these win over the conductor_* keys)",
            "properties": _config_keys(_CONDUCTOR_BLOCK, "conductor."),
            "additionalProperties": False,
        }
    )
    from idflow.config import _ENVIRONMENT_BLOCK

    properties["environments"] = _or_null(
        {
            "type": "object",
            "description": "environment name -> what differs on its server",
            "additionalProperties": _or_null(
                {"type": "object", "properties": _config_keys(_ENVIRONMENT_BLOCK), "additionalProperties": False}
            ),
        }
    )
    properties["schedules"] = _or_null(
        {
            "type": "object",
            "description": "how schedules are managed",
            "properties": _config_keys(_SCHEDULES_BLOCK, "schedules."),
            "additionalProperties": False,
        }
    )
    return {
        "$schema": DRAFT,
        "title": "idflow config (config/idflow.yml)",
        "description": "Generated by `idflow schema`.",
        "type": ["object", "null"],
        "properties": properties,
        "additionalProperties": False,
    }


def stage_schema() -> dict[str, Any]:
    from idflow.run.stages import _TOP_KEYS, _WORKFLOW_KEYS

    workflow_keys = {
        "name": {"type": "string", "pattern": NOT_BLANK, "description": "the workflow to start"},
        "version": {
            "type": ["integer", "null"],
            "minimum": 1,
            "description": "the workflow's version (the server's latest when left out)",
        },
    }
    top_keys = {
        "description": {"type": ["string", "null"]},
        "workflow": {
            "anyOf": [
                {"type": "string", "pattern": NOT_BLANK},
                {
                    "type": "object",
                    "properties": workflow_keys,
                    "required": ["name"],
                    "additionalProperties": False,
                },
            ]
        },
        "input": {
            "type": ["object", "null"],
            "description": "the workflow's input; string values are Jinja2 templates over doc_uuid, stage, vars, "
            "input and each --input KEY",
        },
    }
    if list(top_keys) != list(_TOP_KEYS) or list(workflow_keys) != list(_WORKFLOW_KEYS):
        raise AssertionError("idflow.run.stages' keys changed: update the stage schema")
    return {
        "$schema": DRAFT,
        "title": "idflow stage file",
        "description": "A way to start a workflow for one document (`idflow stage run`). Generated by `idflow schema`.",
        "type": "object",
        "properties": top_keys,
        "required": ["workflow"],
        "additionalProperties": False,
    }
