"""``idflow.kinds.server_model`` checked against the real server, so the hand-written model cannot go stale.

Every structure is sent with every field the model lists, every field conductor-python's models know,
the fields real files carry that the server is known to drop (conductor-oss kitchensink and
test-harness files, the original idflow's workflows), and one made-up field; then read back. What
survives must be exactly the model's fields; what comes back unsent must be the model's defaults; and
an object sent with no fields must come back with exactly the model's defaults.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from idflow.kinds.normal import snake_to_camel
from idflow.kinds.server_model import DROPPED, MODEL, TASK_DEF, WORKFLOW_DEF, Struct, reachable

pytestmark = pytest.mark.integration

UNKNOWN = "idflowMadeUpField"
#: Fields that real definition files carry and the server drops (the model's list, which the schemas use).
REAL_FILE_EXTRAS = DROPPED
#: The structures a workflow (and so a task definition) holds; event handlers and schedules have their own test.
WORKFLOW_STRUCTS = set(reachable(WORKFLOW_DEF))
#: conductor-python's model class of each structure (its attribute names are candidates too).
SDK_CLASSES = {
    "WorkflowDef": "WorkflowDef",
    "WorkflowTask": "WorkflowTask",
    "TaskDef": "TaskDef",
    "SubWorkflowParams": "SubWorkflowParams",
    "RateLimitConfig": "RateLimitConfig",
    "CacheConfig": "CacheConfig",
    "SchemaDef": "SchemaDef",
    "StateChangeEvent": "StateChangeEvent",
}
#: Values that must satisfy the server's validation (anything else gets a generic value of its type).
SAMPLES: dict[tuple[str, str], Any] = {
    ("WorkflowDef", "version"): 1,
    ("WorkflowDef", "schemaVersion"): 2,
    ("WorkflowTask", "type"): "SIMPLE",
    ("WorkflowTask", "workflowTaskType"): "SIMPLE",  # conductor-python's; a write-only alias of 'type'
    ("TaskDef", "timeoutSeconds"): 100,
    ("TaskDef", "responseTimeoutSeconds"): 50,
    ("TaskDef", "totalTimeoutSeconds"): 200,
    ("TaskDef", "backoffScaleFactor"): 2,
    ("SchemaDef", "type"): "JSON",
}
PRIMITIVE_SAMPLES = {"string": "x", "integer": 7, "object": {"k": 1}, "any": 3, "list[string]": ["x"]}


def sdk_fields(struct: str) -> dict[str, str]:
    """conductor-python's field names (JSON spelling) and swagger types for a structure."""
    import conductor.client.http.models as models

    cls = getattr(models, SDK_CLASSES[struct], None)
    if cls is None:
        return {}
    return {cls.attribute_map.get(attr) or snake_to_camel(attr): kind for attr, kind in cls.swagger_types.items()}


def sdk_sample(kind: str) -> Any:
    return {"str": "x", "int": 7, "bool": True}.get(kind, ["x"] if kind.startswith("list") else {"k": "v"})


class Builder:
    """Builds sample definitions and remembers where each structure instance sits in them."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.refs = itertools.count()
        self.instances: list[tuple[str, tuple[str | int, ...], dict[str, Any]]] = []

    def minimal_task(self) -> dict[str, Any]:
        return {"name": f"{self.prefix}_t", "taskReferenceName": f"r{next(self.refs)}"}

    def full(self, struct: Struct, path: tuple[str | int, ...]) -> dict[str, Any]:
        value: dict[str, Any] = {}
        for key, field in struct.fields.items():
            value[key] = self.value(struct, key, field.type, field.default, (*path, key))
        for key, kind in sdk_fields(struct.name).items():
            if key not in value and key not in struct.server_owned:
                value[key] = SAMPLES.get((struct.name, key), sdk_sample(kind))
        for key in REAL_FILE_EXTRAS.get(struct.name, ()):
            if key not in value:
                value[key] = 1
        value[UNKNOWN] = "x"
        if struct is WORKFLOW_DEF:
            value["name"] = f"{self.prefix}_{'_'.join(map(str, path)) or 'full'}"
        if struct.name == "WorkflowTask":
            value.update(self.minimal_task())
        self.instances.append((struct.name, path, value))
        return value

    def value(self, struct: Struct, key: str, type_: str, default: Any, path: tuple[str | int, ...]) -> Any:
        if (struct.name, key) in SAMPLES:
            return SAMPLES[(struct.name, key)]
        choices = struct.fields[key].choices
        if choices:
            return next((c for c in choices if c != default), choices[0])
        if type_ == "boolean":
            return not default if isinstance(default, bool) else True
        if type_ in PRIMITIVE_SAMPLES:
            return PRIMITIVE_SAMPLES[type_]
        if type_ == "map[string]":
            return {"k": "v"}
        if type_ == "WorkflowDef":  # an inline sub-workflow (its name and version become subWorkflowParam's)
            return {"name": "x", "version": 7, "tasks": [self.minimal_task()]}
        if type_ in MODEL:
            return self.full(MODEL[type_], path)
        if type_ == "list[list[WorkflowTask]]":
            return [[self.minimal_task()]]
        if type_ == "map[list[WorkflowTask]]":
            return {"c": [self.minimal_task()]}
        if type_ == "list[WorkflowTask]":
            return [self.full(MODEL["WorkflowTask"], (*path, 0))] if path == ("tasks",) else [self.minimal_task()]
        if type_ == "map[list[StateChangeEvent]]":
            return {"onStart": [self.full(MODEL["StateChangeEvent"], (*path, "onStart", 0))]}
        raise AssertionError(f"no sample for type {type_}")


def at(value: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def survivors_problems(struct: Struct, sent: dict[str, Any], back: dict[str, Any]) -> Iterator[str]:
    kept = {k for k in sent if k in back} - struct.server_owned
    modelled = set(sent) & set(struct.fields)
    for key in sorted(modelled - kept):
        yield f"{struct.name}.{key}: in the model, but the server dropped it"
    for key in sorted(kept - modelled):
        yield f"{struct.name}.{key}: the server keeps it, but the model lacks it"
    defaults = {k for k, f in struct.fields.items() if f.has_default}
    for key in sorted(set(back) - set(sent) - struct.server_owned - defaults):
        yield f"{struct.name}.{key}: the server added it unasked ({back[key]!r}), but the model has no default for it"
    for key in sorted(kept & modelled):
        field = struct.fields[key]
        if (field.type in PRIMITIVE_SAMPLES or field.type == "boolean") and back[key] != sent[key]:
            yield f"{struct.name}.{key}: sent {sent[key]!r} ({field.type}), read back {back[key]!r}"


def default_problems(struct: Struct, sent: dict[str, Any], back: dict[str, Any]) -> Iterator[str]:
    written = {k: v for k, v in back.items() if k not in sent and k not in struct.server_owned}
    expected = {k: v for k, v in struct.defaults().items() if k not in sent}
    if written != expected:
        yield f"{struct.name}: the server wrote back {written!r} for unset fields, the model says {expected!r}"


@pytest.fixture
def cleanup(remote, unique):
    yield
    for workflow in remote.list_workflow_defs():
        if str(workflow.get("name", "")).startswith(unique):
            remote.delete_workflow_def(workflow["name"], workflow["version"])
    for task in remote.list_task_defs():
        if str(task.get("name", "")).startswith(unique):
            remote.delete_task_def(task["name"])


def test_every_field_the_server_keeps_is_in_the_model_and_nothing_else(remote, unique, cleanup) -> None:
    builder = Builder(unique)
    workflow = builder.full(WORKFLOW_DEF, ())
    task_builder = Builder(unique)
    task_def = task_builder.full(TASK_DEF, ())
    task_def["name"] = f"{unique}_taskdef"
    remote.put_workflow_defs([workflow])
    remote.create_task_defs([task_def])
    back = remote.get_workflow_def(workflow["name"], 1)
    back_task = remote.get_task_def(task_def["name"])
    assert back is not None and back_task is not None

    checked = {name for name, _path, _value in builder.instances}
    assert checked == WORKFLOW_STRUCTS, f"structures never sent: {WORKFLOW_STRUCTS - checked}"
    problems = [
        problem
        for name, path, sent in builder.instances
        for problem in survivors_problems(MODEL[name], sent, at(back, path))
    ]
    problems += list(survivors_problems(TASK_DEF, task_def, back_task))
    assert problems == [], "\n".join(problems)


def test_an_empty_object_comes_back_with_exactly_the_model_defaults(remote, unique, cleanup) -> None:
    task = {
        "name": f"{unique}_t",
        "taskReferenceName": "t",
        "taskDefinition": {"name": f"{unique}_emb"},
        "subWorkflowParam": {"name": f"{unique}_child"},
        "cacheConfig": {},
        "onStateChange": {"onStart": [{}]},
    }
    workflow = {
        "name": f"{unique}_minimal",
        "tasks": [task],
        "rateLimitConfig": {},
        "cacheConfig": {},
        "inputSchema": {"name": "s"},
    }
    remote.put_workflow_defs([workflow])
    remote.create_task_defs([{"name": f"{unique}_plain"}])
    back = remote.get_workflow_def(workflow["name"], 1)  # no version sent: stored as version 1
    back_task = remote.get_task_def(f"{unique}_plain")
    assert back is not None and back_task is not None
    pairs = [
        ("WorkflowDef", workflow, back),
        ("WorkflowTask", task, back["tasks"][0]),
        ("TaskDef", task["taskDefinition"], back["tasks"][0]["taskDefinition"]),
        ("TaskDef", {"name": f"{unique}_plain"}, back_task),
        ("SubWorkflowParams", task["subWorkflowParam"], back["tasks"][0]["subWorkflowParam"]),
        ("CacheConfig", {}, back["tasks"][0]["cacheConfig"]),
        ("StateChangeEvent", {}, back["tasks"][0]["onStateChange"]["onStart"][0]),
        ("RateLimitConfig", {}, back["rateLimitConfig"]),
        ("SchemaDef", workflow["inputSchema"], back["inputSchema"]),
    ]
    assert {name for name, _s, _b in pairs} == WORKFLOW_STRUCTS
    problems = [p for name, sent, got in pairs for p in default_problems(MODEL[name], sent, got)]
    assert problems == [], "\n".join(problems)
