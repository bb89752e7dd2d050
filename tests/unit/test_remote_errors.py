"""How the remote adapter names the server's error answers, PostgreSQL's included."""

from __future__ import annotations

import json

import pytest

from idflow.config import load_config
from idflow.errors import Conflict, NotFound, ServerError, ServerUnreachable
from idflow.server.client import ConductorRemote


@pytest.fixture
def remote(tmp_path):
    return ConductorRemote(load_config(cwd=tmp_path, environ={"CONDUCTOR_SERVER_URL": "http://127.0.0.1:9/api"}))


def answer(status: int, message: str):
    from conductor.client.http.rest import ApiException

    return ApiException(status=status, reason="x", body=json.dumps({"status": status, "message": message}))


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (409, "Workflow with idflow_apply_lock.1 already exists!", Conflict),
        # two creates of one workflow version racing through two PostgreSQL-backed nodes
        (500, 'ERROR: duplicate key value violates unique constraint "meta_workflow_def_pkey"', Conflict),
        (500, "Workflow with idflow_apply_lock.1 already exists!", Conflict),  # the same race on SQLite
        (500, "No such task definition", NotFound),  # SQLite's answer to deleting an absent task def
        (404, "No such task definition", NotFound),  # PostgreSQL's
        (500, "something else broke", ServerError),
        # conductor-oss 3.32.3's answers for event handlers: a POST of a name that exists, a PUT or DELETE of one
        # that does not
        (500, "EventHandler with name on_doc.x already exists!", Conflict),
        (500, "EventHandler with name on_doc.x not found!", NotFound),
        (500, "EventHandler with name x is broken", ServerError),
    ],
)
def test_error_answers_are_named(remote, status, message, kind):
    error = remote._translate(answer(status, message), "POST", "/metadata/workflow")
    assert type(error) is kind and error.status == status


def test_unreachable_is_retried_a_bounded_number_of_times_with_growing_back_off(tmp_path):
    config = load_config(cwd=tmp_path, environ={"CONDUCTOR_SERVER_URL": "http://127.0.0.1:9"})
    slept: list[float] = []
    remote = ConductorRemote(config, retries=3, backoff_base=0.25, backoff_max=0.75, sleep=slept.append)
    with pytest.raises(ServerUnreachable, match="cannot reach the server"):
        remote.list_task_defs()
    assert remote.request_count == 4
    # doubling, capped at backoff_max, each with jitter down to half; the sleep is injected: no real waiting
    assert len(slept) == 3
    for delay, cap in zip(slept, (0.25, 0.5, 0.75), strict=True):
        assert cap / 2 <= delay <= cap, slept
