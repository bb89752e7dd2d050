"""An in-memory ``Remote`` (idflow's own interface to Conductor) for fast unit tests of apply."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

from idflow.errors import Conflict, NoScheduler, NotFound, RemoteError, ValidationRejected

_clock = itertools.count(1)


class FakeRemote:
    url = "http://conductor.test/api"

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self.workflows: dict[tuple[str, int], dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.schedules: dict[str, dict[str, Any]] = {}
        self.scheduler = True  # False: a server without a scheduler (its list answers 404)
        self.calls: list[str] = []
        # (call name, definition or name) -> an error to raise; `after` True means the write lands first.
        self.failures: dict[str, tuple[RemoteError, bool]] = {}

    def fail(self, call: str, error: RemoteError, after_write: bool = False) -> None:
        self.failures[call] = (error, after_write)

    def _maybe_fail(self, key: str, write: Callable[[], None] = lambda: None) -> None:
        error, after = self.failures.pop(key, (None, False))
        if error is not None and after:
            write()
        if error is not None:
            raise error
        write()

    def list_task_defs(self) -> list[dict[str, Any]]:
        self.calls.append("list_task_defs")
        return copy.deepcopy(list(self.tasks.values()))

    def get_task_def(self, name: str) -> dict[str, Any] | None:
        self.calls.append(f"get_task_def:{name}")
        return copy.deepcopy(self.tasks.get(name))

    def create_task_defs(self, definitions: list[dict[str, Any]]) -> None:
        self.calls.append("create_task_defs:" + ",".join(d["name"] for d in definitions))
        for d in definitions:
            if d.get("timeoutSeconds", 0) and d.get("responseTimeoutSeconds", 3600) > d["timeoutSeconds"]:
                raise ValidationRejected("rejected", [f"{d['name']}: responseTimeoutSeconds too large"])

        def write() -> None:
            for d in definitions:
                self.tasks[d["name"]] = {**copy.deepcopy(d), "createTime": next(_clock)}

        self._maybe_fail("create:" + ",".join(d["name"] for d in definitions), write)

    def update_task_def(self, definition: dict[str, Any]) -> None:
        self.calls.append(f"update_task_def:{definition['name']}")
        if definition["name"] not in self.tasks:
            raise NotFound("no such task")

        def write() -> None:
            self.tasks[definition["name"]] = {**copy.deepcopy(definition), "updateTime": next(_clock)}

        self._maybe_fail(f"update:{definition['name']}", write)

    def delete_task_def(self, name: str) -> None:
        self.calls.append(f"delete_task_def:{name}")
        if name not in self.tasks:
            raise NotFound("no such task")
        self._maybe_fail(f"delete:{name}", lambda: self.tasks.pop(name))

    def list_workflow_defs(self) -> list[dict[str, Any]]:
        self.calls.append("list_workflow_defs")
        return copy.deepcopy(list(self.workflows.values()))

    def get_workflow_def(self, name: str, version: int) -> dict[str, Any] | None:
        return copy.deepcopy(self.workflows.get((name, version)))

    def put_workflow_defs(self, definitions: list[dict[str, Any]]) -> None:
        self.calls.append("put_workflow_defs:" + ",".join(d["name"] for d in definitions))
        for d in definitions:
            self.workflows[(d["name"], d["version"])] = copy.deepcopy(d)

    def create_workflow_def(self, definition: dict[str, Any]) -> None:
        from idflow.errors import Conflict

        key = (definition["name"], definition["version"])
        if key in self.workflows:
            raise Conflict("exists", 409)
        self.workflows[key] = copy.deepcopy(definition)

    def delete_workflow_def(self, name: str, version: int) -> None:
        self.calls.append(f"delete_workflow_def:{name}:{version}")
        if (name, version) not in self.workflows:
            raise NotFound("no such workflow")
        del self.workflows[(name, version)]

    # -- event handlers: as conductor-oss answers (a create of an existing name, an update or delete of
    # an absent one: 500s that the real client turns into Conflict / NotFound)

    def list_event_handlers(self) -> list[dict[str, Any]]:
        self.calls.append("list_event_handlers")
        return copy.deepcopy(list(self.events.values()))

    def create_event_handler(self, handler: dict[str, Any]) -> None:
        self.calls.append(f"create_event_handler:{handler['name']}")
        if handler["name"] in self.events:
            raise Conflict(f"EventHandler with name {handler['name']} already exists!", 500)
        self._maybe_fail(
            f"create_event:{handler['name']}", lambda: self.events.update({handler["name"]: copy.deepcopy(handler)})
        )

    def update_event_handler(self, handler: dict[str, Any]) -> None:
        self.calls.append(f"update_event_handler:{handler['name']}")
        if handler["name"] not in self.events:
            raise NotFound(f"EventHandler with name {handler['name']} not found!", 500)
        self._maybe_fail(
            f"update_event:{handler['name']}", lambda: self.events.update({handler["name"]: copy.deepcopy(handler)})
        )

    def delete_event_handler(self, name: str) -> None:
        self.calls.append(f"delete_event_handler:{name}")
        if name not in self.events:
            raise NotFound(f"EventHandler with name {name} not found!", 500)
        self._maybe_fail(f"delete_event:{name}", lambda: self.events.pop(name))

    # -- schedules: one POST creates or replaces; a DELETE of an absent one is fine

    def list_schedules(self) -> list[dict[str, Any]]:
        self.calls.append("list_schedules")
        if not self.scheduler:
            raise NoScheduler("this server has no scheduler (HTTP 404)", 404)
        return copy.deepcopy(list(self.schedules.values()))

    def _save_schedule(self, call: str, schedule: dict[str, Any]) -> None:
        self.calls.append(f"{call}:{schedule['name']}")
        if not self.scheduler:
            raise NotFound("No static resource api/scheduler/schedules.", 404)
        old = self.schedules.get(schedule["name"])
        now = next(_clock)
        stored = {**copy.deepcopy(schedule), "createTime": old["createTime"] if old else now, "updatedTime": now}
        self._maybe_fail(f"{call}:{schedule['name']}", lambda: self.schedules.update({schedule["name"]: stored}))

    def create_schedule(self, schedule: dict[str, Any]) -> None:
        self._save_schedule("create_schedule", schedule)

    def update_schedule(self, schedule: dict[str, Any]) -> None:
        self._save_schedule("update_schedule", schedule)

    def delete_schedule(self, name: str) -> None:
        self.calls.append(f"delete_schedule:{name}")
        self._maybe_fail(f"delete_schedule:{name}", lambda: self.schedules.pop(name, None))
