"""Regenerate the hostile plan files of this folder: ``python tests/reliability/hostile/plans/regenerate.py``.

They start from one valid plan (a task to create) made against ``http://conductor.example:8080/api``, a
server the tests never configure, and break it in one way each. Files whose checksum is recomputed after
the edit test the checks behind the checksum.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3]))

from idflow.plan.file import checksum, document  # noqa: E402
from idflow.plan.inputs import actual_from_server  # noqa: E402
from idflow.plan.model import PlanOptions  # noqa: E402
from idflow.plan.planner import build_plan  # noqa: E402
from tests.factories import desired  # noqa: E402

SERVER = "http://conductor.example:8080/api"


def base() -> dict[str, Any]:
    wanted = desired({"name": "hostile_plan_task", "retryCount": 2})
    plan = build_plan(wanted, actual_from_server([], []), PlanOptions(), server_url=SERVER)
    doc = document(plan)
    doc["created_at"] = "2026-01-01T00:00:00+00:00"
    doc["checksum"] = checksum(doc)
    return doc


def edited(edit: Callable[[dict[str, Any]], None], fix_checksum: bool) -> str:
    doc = base()
    edit(doc)
    if fix_checksum:
        doc["checksum"] = checksum(doc)
    return json.dumps(doc, indent=2) + "\n"


def main() -> None:
    valid = json.dumps(base(), indent=2) + "\n"
    files: dict[str, str | bytes] = {
        "another_server.json": valid,
        "truncated.json": valid[: len(valid) // 2],
        "edited.json": edited(lambda d: d["changes"][0].update(name="something_else"), fix_checksum=False),
        "no_checksum.json": edited(lambda d: d.pop("checksum"), fix_checksum=False),
        "wrong_version.json": edited(lambda d: d.update(format_version="9.0"), fix_checksum=True),
        "already_applied.json": edited(
            lambda d: d.update(applied={"at": "2026-01-01T00:05:00+00:00", "report": "state/apply-x.json"}),
            fix_checksum=True,
        ),
        "bad_action.json": edited(lambda d: d["changes"][0].update(action="explode"), fix_checksum=True),
        "applied_not_object.json": edited(lambda d: d.update(applied="yes"), fix_checksum=True),
        "bad_fingerprint.json": edited(
            lambda d: d["fingerprints"].update({"workflow:someflow:latest": None}), fix_checksum=True
        ),
        "not_json.json": "This is not a plan. It is a shopping list: eggs, milk.\n",
        "empty.json": "",
        "json_array.json": "[]\n",
        "deep_nesting.json": "[" * 5000 + "]" * 5000 + "\n",
        "huge_integer.json": '{"format_version": "1.0", "n": 1' + "0" * 5000 + "}\n",
        "lone_surrogate.json": '{"format_version": "1.0", "name": "\\ud800", "checksum": "sha256:0"}\n',
        "not_utf8.json": valid.replace("hostile_plan_task", "hostile_plan_t\udce9sk").encode(
            "utf-8", "surrogateescape"
        ),
    }
    for name, content in files.items():
        path = HERE / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


if __name__ == "__main__":
    main()
