"""Property: any valid task definition, once applied, plans as no changes against the real server.

Definitions are generated over every settable field (``idflow.kinds.normal.TASKDEF_FIELDS`` but the name),
within the server's rules, and kept only when ``validate_definition`` accepts them. Each example plans
against the server, applies, and plans again: the second plan must be empty. The update test applies
one definition, then another for the same name, and plans again. Every example deletes what it made.

``inputSchema`` and ``outputSchema`` get a test of their own as well: conductor-oss 3.32 writes the
nested SchemaDef back with ``createTime``/``updateTime`` 0 and ``version`` 1 when unset, which the normal
form once kept (found by this property).
"""

from __future__ import annotations

import contextlib
import uuid
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from idflow.config import load_config
from idflow.errors import NotFound
from idflow.kinds.normal import RETRY_LOGICS, TASKDEF_FIELDS, TIMEOUT_POLICIES, normalise_taskdef
from idflow.plan.inputs import DesiredObject, DesiredState, read_actual
from idflow.plan.model import Action, Plan, PlanOptions
from idflow.plan.planner import build_plan
from idflow.reconcile import apply_saved_plan
from idflow.repo.task_files import validate_definition

pytestmark = pytest.mark.integration

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

counts = st.integers(min_value=0, max_value=INT32_MAX)
identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
short_text = st.text(max_size=30)
simple_json = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-INT64_MAX, max_value=INT64_MAX)
    | st.floats(allow_nan=False, allow_infinity=False)
    | short_text
)
schemas = st.fixed_dictionaries(
    {"name": identifiers, "type": st.sampled_from(["JSON", "AVRO", "PROTOBUF"])},
    optional={
        "version": st.integers(min_value=1, max_value=100),
        "data": st.dictionaries(identifiers, simple_json, max_size=3),
    },
)

# Every field but the name and the three timeouts (drawn together in ``definitions``, as they are related).
FIELD_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "retryCount": counts,
    "inputKeys": st.lists(identifiers, max_size=4),
    "outputKeys": st.lists(identifiers, max_size=4),
    "timeoutPolicy": st.sampled_from(TIMEOUT_POLICIES),
    "retryLogic": st.sampled_from(RETRY_LOGICS),
    "retryDelaySeconds": counts,
    "inputTemplate": st.dictionaries(st.text(max_size=10), simple_json, max_size=4),
    "rateLimitPerFrequency": counts,
    "rateLimitFrequencyInSeconds": counts,
    "backoffScaleFactor": st.integers(min_value=1, max_value=INT32_MAX),
    "maxRetryDelaySeconds": counts,
    "backoffJitterMs": counts,
    "enforceSchema": st.booleans(),
    "description": st.text(max_size=60),
    "ownerEmail": st.emails(),
    "concurrentExecLimit": counts,
    "pollTimeoutSeconds": counts,
    "isolationGroupId": short_text,
    "executionNameSpace": short_text,
    "inputSchema": schemas,
    "outputSchema": schemas,
    "baseType": short_text,
}
TIMEOUT_FIELDS = ("timeoutSeconds", "responseTimeoutSeconds", "totalTimeoutSeconds")


def test_the_strategies_cover_every_settable_field():
    assert set(FIELD_STRATEGIES) | set(TIMEOUT_FIELDS) == set(TASKDEF_FIELDS) - {"name"}


@st.composite
def definitions(draw: st.DrawFn, leave_out: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A task definition (without its name) that the server accepts: any subset of the fields."""
    optional = {field: strategy for field, strategy in FIELD_STRATEGIES.items() if field not in leave_out}
    fields = draw(st.fixed_dictionaries({}, optional=optional))
    timeout = draw(st.none() | st.just(0) | st.integers(min_value=1, max_value=INT32_MAX))
    total = draw(st.none() | st.just(0) | st.integers(min_value=1, max_value=INT32_MAX))
    if timeout and total and timeout > total:
        timeout, total = total, timeout
    if timeout:  # responseTimeoutSeconds (default 3600) must not exceed timeoutSeconds
        response = draw((st.none() if timeout >= 3600 else st.nothing()) | st.integers(1, timeout))
    else:
        response = draw(st.none() | st.integers(min_value=1, max_value=INT32_MAX))
    for field, value in zip(TIMEOUT_FIELDS, (timeout, response, total), strict=True):
        if value is not None:
            fields[field] = value
    return fields


def desired_of(named: dict[str, dict[str, Any]]) -> DesiredState:
    return DesiredState(
        tasks=MappingProxyType(
            {
                name: DesiredObject(normalise_taskdef({**fields, "name": name}), f"generated/{name}.py:1")
                for name, fields in named.items()
            }
        )
    )


def plan(config, remote, wanted: DesiredState) -> Plan:
    return build_plan(
        wanted, read_actual(remote), PlanOptions(targets=tuple(wanted.tasks)), server_url=config.server_url
    )


def changes(the_plan: Plan) -> list[tuple[str, str, list[tuple[str, Any, Any]]]]:
    return [
        (c.name, c.action.value, [(d.path, d.before, d.after) for d in c.diff])
        for c in the_plan.changes
        if c.action is not Action.NOOP
    ]


def apply(config, remote, the_plan: Plan) -> None:
    outcome = apply_saved_plan(config, remote, the_plan, None)
    assert not outcome.failed, [(r.change.name, r.detail, r.field_errors) for r in outcome.failed]


def assume_valid(fields: dict[str, Any]) -> None:
    assume(not validate_definition({**fields, "name": "generated"}))


def delete_all(remote, names) -> None:
    for name in names:
        with contextlib.suppress(NotFound):  # never created: its apply failed
            remote.delete_task_def(name)


SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(defs=st.lists(definitions(), min_size=1, max_size=5))
def test_applied_definitions_plan_as_no_changes(defs, conductor_url, remote, tmp_path):
    for fields in defs:
        assume_valid(fields)
    config = load_config(cwd=tmp_path, environ={"CONDUCTOR_SERVER_URL": conductor_url})
    prefix = "p" + uuid.uuid4().hex[:10]
    wanted = desired_of({f"{prefix}_{index}": fields for index, fields in enumerate(defs)})
    try:
        first = plan(config, remote, wanted)
        assert [c.action for c in first.changes] == [Action.CREATE] * len(defs)
        apply(config, remote, first)
        assert changes(plan(config, remote, wanted)) == []
    finally:
        delete_all(remote, wanted.tasks)


@SETTINGS
@given(before=definitions(), after=definitions())
def test_updated_definition_plans_as_no_changes(before, after, conductor_url, remote, tmp_path):
    assume_valid(before)
    assume_valid(after)
    config = load_config(cwd=tmp_path, environ={"CONDUCTOR_SERVER_URL": conductor_url})
    name = "p" + uuid.uuid4().hex[:10]
    try:
        apply(config, remote, plan(config, remote, desired_of({name: before})))
        assert changes(plan(config, remote, desired_of({name: before}))) == []
        second = plan(config, remote, desired_of({name: after}))
        assert all(c.action in (Action.UPDATE, Action.NOOP) for c in second.changes), changes(second)
        apply(config, remote, second)
        assert changes(plan(config, remote, desired_of({name: after}))) == []
    finally:
        delete_all(remote, [name])


@settings(SETTINGS, max_examples=10, phases=[Phase.generate])
@given(
    defs=st.lists(
        st.tuples(definitions(leave_out=frozenset()), st.sampled_from(["inputSchema", "outputSchema"]), schemas).map(
            lambda d: {**d[0], d[1]: d[2]}
        ),
        min_size=1,
        max_size=3,
    )
)
def test_schema_fields_converge(defs, conductor_url, remote, tmp_path):
    test_applied_definitions_plan_as_no_changes.hypothesis.inner_test(defs, conductor_url, remote, tmp_path)
