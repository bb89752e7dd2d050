"""Small factories for hand-built states and plans (tests build what they need, nothing more)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from idflow.normal import normalise_taskdef
from idflow.plan import PlanOptions
from idflow.planner import build_plan
from idflow.state import ActualState, DesiredObject, DesiredState, RemoteObject, actual_from_server

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


def plan_of(desired_state: DesiredState, actual_state: ActualState, **options: Any):  # type: ignore[no-untyped-def]
    owner_email = options.pop("owner_email", None)
    ignore = tuple(options.pop("ignore", ()))
    return build_plan(
        desired_state, actual_state, PlanOptions(**options), server_url=URL, owner_email=owner_email, ignore=ignore
    )
