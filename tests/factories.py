"""Small factories for hand-built states and plans (tests build what they need, nothing more)."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

from idflow.apply.record import DEFAULT_ENVIRONMENT, ApplyRecord, Entry, body_hash
from idflow.kinds.normal import normalise_taskdef
from idflow.plan.inputs import ActualState, DesiredObject, DesiredState, RemoteObject, actual_from_server
from idflow.plan.model import Kind, PlanOptions, object_key, thaw
from idflow.plan.planner import build_plan

URL = "http://conductor.test/api"


def taskdef(name: str, **fields: Any) -> dict[str, Any]:
    return normalise_taskdef({"name": name, **fields})


def desired(*tasks: dict[str, Any], workflows: list[dict[str, Any]] | None = None) -> DesiredState:
    return DesiredState(
        tasks=MappingProxyType(
            {t["name"]: DesiredObject(normalise_taskdef(t), f"tasks/{t['name']}.py:1") for t in tasks}
        ),
        workflows=MappingProxyType(
            {(w["name"], w["version"]): DesiredObject(w, f"workflows/{w['name']}.json:1") for w in workflows or []}
        ),
        manages_workflows=workflows is not None,
    )


def actual(*tasks: dict[str, Any], workflows: list[dict[str, Any]] | None = None) -> ActualState:
    raw_tasks = [{"createTime": 1, "updateTime": 0, **t} for t in tasks]
    return actual_from_server(raw_tasks, list(workflows or []))


def remote_object(definition: dict[str, Any]) -> RemoteObject:
    return RemoteObject(definition, "sha256:x")


def simple(name: str, ref: str | None = None) -> dict[str, Any]:
    return {"name": name, "taskReferenceName": ref or f"{name}_ref", "type": "SIMPLE"}


def workflow(name: str, version: int, tasks: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"name": name, "version": version, "schemaVersion": 2, "tasks": tasks, **fields}


def applied_record(actual_state: ActualState, project: str = "test") -> ApplyRecord:
    """An apply record as if idflow had applied everything the server holds (and nothing changed since)."""
    objects = {}
    for key, obj in [
        *((object_key(Kind.TASK, n), o) for n, o in actual_state.tasks.items()),
        *((object_key(Kind.WORKFLOW, n, v), o) for (n, v), o in actual_state.workflows.items()),
    ]:
        body = thaw(obj.definition)
        objects[key] = Entry(body_hash(body), body_hash(body), body, "2026-01-01T00:00:00+00:00")
    return ApplyRecord(project, DEFAULT_ENVIRONMENT, MappingProxyType(objects))


def plan_of(desired_state: DesiredState, actual_state: ActualState, **options: Any):  # type: ignore[no-untyped-def]
    """A plan; without owner_email, as if idflow had applied all the server holds (``record=None``: no record)."""
    owner_email = options.pop("owner_email", None)
    ignore = tuple(options.pop("ignore", ()))
    record = options.pop("record", "all")
    record_note = options.pop("record_note", "")
    if record == "all":
        record = None if owner_email else applied_record(actual_state)
    return build_plan(
        desired_state, actual_state, PlanOptions(**options), server_url=URL, owner_email=owner_email, ignore=ignore,
        record=record, record_note=record_note,
    )  # fmt: skip


def write_task_file(root: Path, name: str, *, package: bool = False, **settings: Any) -> Path:
    """A task folder ``<root>/idflow/tasks/<name>/<name>.py`` decorated with ``settings``."""
    folder = root / "idflow" / "tasks" / name
    folder.mkdir(parents=True, exist_ok=True)
    if package:
        (folder / "__init__.py").write_text("")
    keywords = "".join(f", {k}={v!r}" for k, v in settings.items())
    path = folder / f"{name}.py"
    path.write_text(
        "from idflow import worker_task\n\n\n"
        f"@worker_task(task_definition_name={name!r}{keywords})\n"
        f"def {name}(task):\n"
        f'    """Task {name}."""\n'
        "    return {'ok': True}\n"
    )
    return path
