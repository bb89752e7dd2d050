"""An environment's field overrides (config ``environments.NAME.overrides``) laid over the desired state.

Pure: the desired state in, a new one out, plus for every object which fields the config set and where,
so the plan can say that a value comes from the config and not from the task or workflow file. Later
entries win over earlier ones for the same field (the origin named is the entry that applied).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from idflow.config import Override
from idflow.plan.inputs import DesiredObject, DesiredState
from idflow.plan.model import Kind, object_key, thaw

#: object key -> {field: "file:line"}
Origins = Mapping[str, Mapping[str, str]]


def apply_overrides(desired: DesiredState, overrides: tuple[Override, ...]) -> tuple[DesiredState, Origins]:
    if not overrides:
        return desired, MappingProxyType({})
    from idflow.kinds.normal import normalise_taskdef
    from idflow.kinds.workflow_normal import normalise_workflowdef

    origins: dict[str, Mapping[str, str]] = {}

    def over(kind: Kind, name: str, key: str, local: DesiredObject, normalise: Callable[[Any], Any]) -> DesiredObject:
        chosen: dict[str, Any] = {}
        where: dict[str, str] = {}
        for entry in overrides:
            if entry.kind == kind.value and entry.matches(name):
                for path, value in entry.fields.items():
                    chosen[path] = thaw(value)
                    where[path] = entry.origin
        if not chosen:
            return local
        origins[key] = MappingProxyType(where)
        return replace(local, definition=normalise({**thaw(local.definition), **chosen}))

    tasks = {
        name: over(Kind.TASK, name, object_key(Kind.TASK, name), local, normalise_taskdef)
        for name, local in desired.tasks.items()
    }
    workflows = {
        (name, version): over(
            Kind.WORKFLOW, name, object_key(Kind.WORKFLOW, name, version), local, normalise_workflowdef
        )
        for (name, version), local in desired.workflows.items()
    }
    changed = replace(desired, tasks=MappingProxyType(tasks), workflows=MappingProxyType(workflows))
    return changed, MappingProxyType(origins)
