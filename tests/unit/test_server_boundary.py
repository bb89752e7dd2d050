"""The remote boundary: URL userinfo, session tokens, checked answers, byte limits, failed writes.

The HTTP cases run against ``tests/hostile_server.py`` on loopback; none depends on timing.
"""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from idflow.config import load_config
from idflow.errors import ConfigError, FileWriteError, ServerError, ServerResponseError
from idflow.kinds.server_model import TASK_DEF, WORKFLOW_DEF
from idflow.masking import mask_text, redact_urls, split_userinfo
from idflow.server.answers import BadAnswer, check_list, check_object
from tests.hostile_server import HostileServer

TASKDEFS = "/api/metadata/taskdefs"


# -- URL userinfo -------------------------------------------------------------------------------------


def test_split_userinfo_decodes_and_keeps_the_rest():
    assert split_userinfo("http://bob:p%40ss@h:8080/api") == ("http://h:8080/api", "bob", "p@ss")
    assert split_userinfo("https://token@h/api") == ("https://h/api", "token", None)
    assert split_userinfo("http://h/api") == ("http://h/api", None, None)


def test_redact_urls_removes_every_userinfo_in_a_text():
    text = "GET http://u:pw@h1/api failed; see https://x@h2:1/y and http://h3/z"
    assert redact_urls(text) == "GET http://h1/api failed; see https://h2:1/y and http://h3/z"
    assert mask_text("token abc at http://u:abc@h/api", ["abc"]) == "token *** at http://h/api"


def test_the_config_keeps_the_url_without_userinfo_and_the_password_as_a_secret(tmp_path):
    config = load_config(cwd=tmp_path, environ={"CONDUCTOR_SERVER_URL": "http://bob:p%40ss@h:8080"})
    assert config.server_url == "http://h:8080/api"
    assert (config.server_user, config.server_password) == ("bob", "p@ss")
    assert "p@ss" in config.secrets and "p%40ss" in config.secrets
    assert "p@ss" not in repr(config) and "bob" not in repr(config)
    assert config.server_url_with_login == "http://bob:p%40ss@h:8080/api"


def test_a_bad_url_is_reported_without_its_password(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(cwd=tmp_path, environ={"CONDUCTOR_SERVER_URL": "ftp://bob:hunter2@h/api"})
    assert "hunter2" not in str(caught.value) and "ftp://h/api" in str(caught.value)


@pytest.mark.parametrize("value", ["0", "-1", "5000", ".nan"])
def test_max_response_mb_must_be_sensible(tmp_path, value):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "idflow.yml").write_text(f"conductor:\n  max_response_mb: {value}\n")
    with pytest.raises(ConfigError, match=re.escape("'conductor.max_response_mb' must be > 0")):
        load_config(cwd=tmp_path, environ={})


TRANSPORTS = ["plain", "httpx"]


def remote_for(url: str, tmp_path: Path, transport: str = "plain", **environ: str):
    """A remote for ``url``; ``transport="httpx"`` puts the direct path on httpx (what https and proxies
    get) where plain http would get the standard library's client."""
    from idflow.server.client import ConductorRemote, _httpx_direct

    config = load_config(cwd=tmp_path, environ={"CONDUCTOR_SERVER_URL": url, **environ})
    remote = ConductorRemote(config, retries=0)
    if transport == "httpx":
        remote._direct = _httpx_direct(remote._http_client(), remote.url)
    return remote


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_userinfo_goes_as_basic_auth_and_never_into_messages(tmp_path, transport):
    with HostileServer() as server:
        server.answer("GET", TASKDEFS, b'{"message": "nope"}', status=500)
        remote = remote_for(server.url_with("bob:hunter2"), tmp_path, transport)
        with pytest.raises(ServerError) as caught:
            remote.list_task_defs()
    assert server.requests[0][2]["Authorization"] == "Basic Ym9iOmh1bnRlcjI="
    assert str(caught.value) == f"GET {server.api_url}/metadata/taskdefs: HTTP 500: nope"
    assert remote.url == server.api_url


def test_a_session_token_is_masked_in_errors(tmp_path):
    with HostileServer() as server:
        server.answer("POST", "/api/token", b'{"token": "tok-abcdef123456"}')
        server.answer("GET", TASKDEFS, b'{"message": "token tok-abcdef123456 expired"}', status=500)
        remote = remote_for(server.api_url, tmp_path, CONDUCTOR_AUTH_KEY="k-id", CONDUCTOR_AUTH_SECRET="s-cret")
        with pytest.raises(ServerError) as caught:
            remote.list_task_defs()
    assert server.requests[-1][2]["X-Authorization"] == "tok-abcdef123456"
    assert "tok-abcdef123456" not in str(caught.value) and "token *** expired" in str(caught.value)


# -- answers are checked at the boundary ------------------------------------------------------------------

REAL_TASK = {
    "name": "resize", "retryCount": 3, "timeoutSeconds": 0, "inputKeys": ["image"], "timeoutPolicy": "TIME_OUT_WF",
    "inputTemplate": {"size": {"w": 1}}, "ownerEmail": "a@b.c", "createTime": 1700000000000,
    "rateLimitPerFrequency": 0, "taskStatusListenerEnabled": True, "someFutureField": {"x": [1]},
}  # fmt: skip
REAL_WORKFLOW = {
    "name": "images", "version": 2, "schemaVersion": 2, "tasks": [
        {"name": "resize", "taskReferenceName": "r", "type": "SIMPLE", "inputParameters": {"a": "${workflow.input.a}"}},
        {"name": "route", "taskReferenceName": "s", "type": "SWITCH",
         "decisionCases": {"big": [{"name": "resize", "taskReferenceName": "r2"}]},
         "defaultCase": [], "forkTasks": [[{"name": "x", "taskReferenceName": "x"}]]},
        {"name": "child", "taskReferenceName": "c", "type": "SUB_WORKFLOW",
         "subWorkflowParam": {"name": "c", "version": 1, "workflowDefinition": "${workflow.input.def}"}},
    ],
}  # fmt: skip


def test_real_shapes_pass():
    assert check_list([REAL_TASK], TASK_DEF, "task definitions") == [REAL_TASK]
    assert check_object(REAL_WORKFLOW, WORKFLOW_DEF, "a workflow definition") == REAL_WORKFLOW
    assert check_list(None, TASK_DEF, "task definitions") == []


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("<html>", "text that is not the JSON asked for (expected a JSON list of task definitions)"),
        ([REAL_TASK, None], "[1] = null (expected an object, a TaskDef)"),
        ([{**REAL_TASK, "name": ""}], '[0].name = "" (expected a non-empty string)'),
        ([{**REAL_TASK, "retryCount": True}], "[0].retryCount = true (expected a whole number)"),
        ([{**REAL_TASK, "inputKeys": "image"}], '[0].inputKeys = "image" (expected a list)'),
        ([{**REAL_TASK, "inputKeys": [1]}], "[0].inputKeys[0] = 1 (expected a string)"),
        ([{**REAL_TASK, "inputTemplate": [1]}], "[0].inputTemplate = [1] (expected an object)"),
    ],
)
def test_task_lists_of_the_wrong_shape_are_named(answer, message):
    with pytest.raises(BadAnswer) as caught:
        check_list(answer, TASK_DEF, "task definitions")
    assert str(caught.value) == message


def test_a_nested_workflow_task_of_the_wrong_type_is_named_with_its_path():
    bad = json.loads(json.dumps(REAL_WORKFLOW))
    bad["tasks"][1]["decisionCases"]["big"][0]["optional"] = "yes"
    with pytest.raises(BadAnswer, match=r'^tasks\[1\]\.decisionCases\.big\[0\]\.optional = "yes" \(expected true'):
        check_object(bad, WORKFLOW_DEF, "a workflow definition")


def test_depth_is_checked_without_recursion():
    deep: list = []
    for _ in range(50_000):
        deep = [deep]
    with pytest.raises(BadAnswer, match="nested more than 100 levels deep"):
        check_list(deep, TASK_DEF, "task definitions")


# -- byte limits -------------------------------------------------------------------------------------------


def _limited(tmp_path: Path, server: HostileServer, transport: str):
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "idflow.yml").write_text("conductor:\n  max_response_mb: 1\n")
    return remote_for(server.api_url, tmp_path, transport)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("compressed", [False, True])
def test_an_answer_within_the_limit_is_read_gzip_or_not(tmp_path, compressed, transport):
    body = json.dumps([REAL_TASK] * 100).encode()
    with HostileServer() as server:
        server.answer("GET", TASKDEFS, body, gzip=compressed)
        assert _limited(tmp_path, server, transport).list_task_defs() == [REAL_TASK] * 100


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("how", ["content_length", "no_length", "gzip_bomb"])
def test_an_answer_over_the_limit_is_refused(tmp_path, how, transport):
    body = json.dumps([{"name": "x", "description": "a" * (2 * 1024 * 1024)}]).encode()
    with HostileServer() as server:
        if how == "content_length":
            server.answer("GET", TASKDEFS, body)
        elif how == "no_length":  # no Content-Length to refuse it by: counted while reading
            server.answer("GET", TASKDEFS, body, length=False)
        else:
            server.answer("GET", TASKDEFS, body, gzip=True)
        with pytest.raises(ServerResponseError) as caught:
            _limited(tmp_path, server, transport).list_task_defs()
    assert str(caught.value).startswith(f"GET {server.api_url}/metadata/taskdefs: the answer is larger than 1 MB")


# -- writing files -----------------------------------------------------------------------------------------


def test_a_full_disk_while_writing_json_is_one_error_naming_the_file(tmp_path, monkeypatch):
    import os

    from idflow.plan.file import write_json_atomic

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    target = tmp_path / "state" / "plan.json"
    with pytest.raises(FileWriteError) as caught:
        write_json_atomic(target, {"a": 1})
    assert str(caught.value) == f"{target}: cannot write the file: No space left on device"
    assert list(target.parent.iterdir()) == []


@pytest.mark.parametrize(("error", "expect"), [(MemoryError, "out of memory"), (RecursionError, "nested too deeply")])
def test_memory_and_recursion_errors_are_one_line_exit_1(tmp_path, monkeypatch, error, expect):
    import idflow.reconcile

    def explode(*_args, **_kwargs):
        raise error()

    monkeypatch.setattr(idflow.reconcile, "make_plan", explode)
    monkeypatch.setattr("idflow.cli.context.AppContext.remote", property(lambda _self: None))
    from idflow.cli import cli

    result = CliRunner().invoke(
        cli, ["plan"], env={"CONDUCTOR_SERVER_URL": "http://127.0.0.1:9/api", "IDFLOW_CONFIG": None},
        catch_exceptions=False,
    )  # fmt: skip
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and expect in lines[0], result.stderr


def test_calls_without_credentials_never_import_the_sdk(tmp_path):
    """A plan's reads and an apply's writes go through idflow's own client: the SDK's import stays off both
    (and a refused connection is still one mapped, retried error)."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from idflow.config import load_config\n"
        "from idflow.errors import ServerUnreachable\n"
        "from idflow.server.client import ConductorRemote\n"
        f"config = load_config(cwd=Path({str(tmp_path)!r}), environ={{'CONDUCTOR_SERVER_URL': 'http://127.0.0.1:9/api'}})\n"
        "remote = ConductorRemote(config, retries=1, sleep=lambda _s: None)\n"
        "try:\n"
        "    remote.list_workflow_defs()\n"
        "except ServerUnreachable as exc:\n"
        "    print('unreachable', remote.request_count, str(exc).split(':')[0])\n"
        "print('sdk after reads', any(m.split('.')[0] == 'conductor' for m in sys.modules))\n"
        "print('httpx after reads', 'httpx' in sys.modules)\n"
        "try:\n"
        "    remote.delete_task_def('x')\n"
        "except ServerUnreachable:\n"
        "    pass\n"
        "print('sdk after a write', 'conductor.client.http.api_client' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "unreachable 2 GET http",
        "sdk after reads False",
        "httpx after reads False",  # plain http: the standard library's client
        "sdk after a write False",
    ]


def _slow_accepts(answer, struct) -> bool:
    from idflow.server import answers

    try:
        answers._check_depth(answer)
        for index, item in enumerate(answer):
            answers._check_object(item, struct, f"[{index}]", named=True)
    except BadAnswer:
        return False
    return True


def _wrong_values():
    """Every modelled field of the real workflow and task, at any depth, set to a value of each wrong
    type (and to a container nested near and past the depth limit)."""
    import copy

    from idflow.kinds.normal import model_values

    deep: list = []
    for _ in range(answers_max_depth() + 2):
        deep = [deep]
    replacements = ["text", 7, True, 1.5, [], {}, [None], {"k": [1]}, deep]
    for struct, real in ((WORKFLOW_DEF, REAL_WORKFLOW), (TASK_DEF, REAL_TASK)):
        for path, _name, _value in list(model_values(struct, real)):
            for value in replacements:
                changed = copy.deepcopy(real)
                node = changed
                for part in path[:-1]:
                    node = node[part]
                node[path[-1]] = value
                yield struct, changed


def answers_max_depth() -> int:
    from idflow.server.answers import MAX_DEPTH

    return MAX_DEPTH


def test_the_fast_check_accepts_exactly_what_the_naming_check_accepts():
    from idflow.server.answers import _fits, _named

    cases = list(_wrong_values())
    assert len(cases) > 200
    refused = 0
    for struct, item in cases:
        fast = _named(item) and _fits(struct.name)(item, 2)
        assert fast == _slow_accepts([item], struct), item
        refused += not fast
    assert refused > 100  # most of the replacements are of a wrong type


def _tls_context(remote):
    """The TLS context of the httpx client the SDK is given (and the direct path over https)."""
    return remote._http_client()._transport._inner._pool._ssl_context


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_only_an_https_server_gets_the_system_s_certificates_and_both_verify(tmp_path, scheme):
    """Plain http never uses TLS: its client trusts no certificate at all (loading the system's costs a
    third of a small plan's start), so a TLS connection it should never make cannot be verified either."""
    import ssl

    context = _tls_context(remote_for(f"{scheme}://127.0.0.1:9/api", tmp_path))
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    loaded = context.cert_store_stats()["x509_ca"]
    assert (loaded > 0) if scheme == "https" else (loaded == 0)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_writes_without_credentials_send_json_and_their_error_answers_are_named(tmp_path, transport):
    """Apply's writes go through idflow's own client (no SDK): the body as JSON, and the server's error
    answers mapped as the SDK's were: a 400 with its field errors, 409 and the 500s that mean "exists" or
    "absent", a bulk answer naming a rejected workflow; a create is sent once."""
    from idflow.errors import Conflict, NotFound, ValidationRejected

    rejected = {
        "status": 400,
        "message": "Validation failed",
        "validationErrors": [{"path": "registerTaskDef.taskDefinitions[0].retryCount", "message": "bad"}],
    }
    with HostileServer() as server:
        server.answer("PUT", TASKDEFS, b"")
        server.answer("POST", TASKDEFS, json.dumps(rejected).encode(), status=400)
        server.answer("POST", "/api/metadata/workflow", b'{"message": "Workflow with w.1 already exists!"}', status=409)
        server.answer("DELETE", TASKDEFS + "/gone", b'{"message": "No such task definition"}', status=500)
        server.answer("PUT", "/api/metadata/workflow", b'{"bulkErrorResults": {"w": "bad task"}, '
                      b'"bulkSuccessfulResults": []}')  # fmt: skip
        remote = remote_for(server.api_url, tmp_path, transport)
        remote.update_task_def({"name": "caf\u00e9", "retryCount": 2})
        with pytest.raises(ValidationRejected) as bad:
            remote.create_task_defs([{"name": "x", "retryCount": -1}])
        with pytest.raises(Conflict):
            remote.create_workflow_def({"name": "w", "version": 1, "tasks": []})
        with pytest.raises(NotFound):
            remote.delete_task_def("gone")
        with pytest.raises(ValidationRejected, match="w: bad task"):
            remote.put_workflow_defs([{"name": "w", "version": 1, "tasks": []}])
    method, path, headers = server.requests[0]
    assert (method, path, headers["Content-Type"]) == ("PUT", TASKDEFS, "application/json")
    assert json.loads(server.bodies[0]) == {"name": "caf\u00e9", "retryCount": 2}
    assert json.loads(server.bodies[1]) == [{"name": "x", "retryCount": -1}]
    assert bad.value.field_errors == ["registerTaskDef.taskDefinitions[0].retryCount: bad"]
    assert [m for m, _p, _h in server.requests] == ["PUT", "POST", "POST", "DELETE", "PUT"], "each sent once"
