"""The remote adapter against the real server: round trip and error mapping."""

from __future__ import annotations

import pytest

from idflow.errors import NotFound, ValidationRejected

pytestmark = pytest.mark.integration


def test_register_read_back_update_delete(remote, unique):
    name = f"{unique}_x"
    before = remote.request_count
    remote.create_task_defs([{"name": name, "retryCount": 1, "description": "d"}])
    stored = remote.get_task_def(name)
    assert (stored["name"], stored["retryCount"], stored["description"]) == (name, 1, "d")
    remote.update_task_def({**stored, "retryCount": 2})
    assert remote.get_task_def(name)["retryCount"] == 2
    assert name in {t["name"] for t in remote.list_task_defs()}
    remote.delete_task_def(name)
    assert remote.get_task_def(name) is None
    assert remote.request_count - before == 7


def test_errors_are_mapped(remote, unique):
    with pytest.raises(NotFound):
        remote.delete_task_def(f"{unique}_absent")
    with pytest.raises(NotFound):
        remote.update_task_def({"name": f"{unique}_absent"})
    with pytest.raises(ValidationRejected) as caught:
        remote.create_task_defs([{"name": f"{unique}_bad", "timeoutSeconds": 10}])
    assert any("responseTimeoutSeconds" in e for e in caught.value.field_errors)
    assert remote.get_task_def(f"{unique}_bad") is None
