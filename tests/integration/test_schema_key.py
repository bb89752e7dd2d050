"""A JSON workflow file naming its JSON schema (``"$schema"``, for editors) plans and applies like one
without it, against the real server: the key is neither sent nor reported."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def test_workflow_json_with_schema_key_applies_and_then_plans_no_changes(cli_project, remote, unique):
    wf = f"{unique}_schema_key"
    folder = cli_project.root / "idflow" / "workflows"
    folder.mkdir(parents=True)
    definition = {
        "$schema": "../../schemas/idflow-workflow.schema.json",
        "name": wf,
        "version": 1,
        "tasks": [{"name": "wait", "taskReferenceName": "wait", "type": "WAIT"}],
    }
    (folder / "wf.json").write_text(json.dumps(definition, indent=2))
    try:
        first = cli_project("apply", "--plan-now", "-y")
        assert first.exit_code == 0, first.output
        assert "$schema" not in first.output and "ignored" not in first.output
        stored = remote.get_workflow_def(wf, 1)
        assert stored is not None and "$schema" not in stored
        again = cli_project("plan")
        assert again.exit_code == 0, again.output
        assert "No changes." in again.stdout
        assert "$schema" not in again.output and "ignored" not in again.output
    finally:
        if remote.get_workflow_def(wf, 1):
            remote.delete_workflow_def(wf, 1)
