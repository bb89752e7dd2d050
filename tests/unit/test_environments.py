"""Environments without a server: choosing one, what it overrides, plan files, refusals, renderings."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from idflow.config import load_config
from idflow.errors import ConfigError, PlanFileError
from idflow.plan.compare import Environment, Side, compare
from idflow.plan.file import read_plan, write_plan
from idflow.plan.overrides import apply_overrides
from idflow.reconcile import check_plan_file, check_protected
from idflow.render.compare import render_comparison_json, render_comparison_text
from idflow.render.json_render import render_json
from idflow.render.markdown import render_markdown, render_markdown_environments
from idflow.render.text import render_text
from tests.factories import actual, desired, plan_of

CONFIG = """\
owner_email: team@x.test
vars: {region: eu, tier: small}
default_environment: dev
environments:
  dev:
    server_url: http://dev.test:8080
  prod:
    server_url: http://prod.test/api
    api_key_env_var: PROD_KEY
    api_secret_env_var: PROD_SECRET
    owner_email: prod-team@x.test
    vars: {tier: large}
    protected: true
    overrides:
      tasks:
        "*":
          concurrent_exec_limit: 10
        "img_*":
          rateLimitPerFrequency: 5
          concurrent_exec_limit: 2
      workflows:
        "order*":
          timeout_seconds: 3600
"""


def project(tmp_path: Path, text: str = CONFIG) -> Path:
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "idflow.yml").write_text(text)
    return tmp_path


def test_the_default_environment_and_what_each_one_sets(tmp_path):
    root = project(tmp_path)
    generic = {"CONDUCTOR_AUTH_KEY": "k", "CONDUCTOR_AUTH_SECRET": "s", "CONDUCTOR_SERVER_URL": "http://other/api"}
    dev = load_config(cwd=root, environ=generic)
    assert (dev.environment, dev.server_url, dev.owner_email) == ("dev", "http://dev.test:8080/api", "team@x.test")
    assert dev.state_dir == root.resolve() / "state" / "dev" and dev.vars == {"region": "eu", "tier": "small"}
    assert dev.credentials is not None and not dev.protected and dev.overrides == ()
    assert dev.environment_origin.startswith("default_environment (")
    prod = load_config(cwd=root, environ=generic, environment="prod")
    assert (prod.server_url, prod.owner_email, prod.protected) == ("http://prod.test/api", "prod-team@x.test", True)
    assert prod.state_dir == root.resolve() / "state" / "prod" and prod.vars == {"region": "eu", "tier": "large"}
    assert prod.credentials is None  # prod names its own variables: the generic ones are not sent there
    with_keys = load_config(cwd=root, environ={"PROD_KEY": "pk", "PROD_SECRET": "ps"}, environment="prod")
    assert with_keys.credentials is not None and "pk" in with_keys.secrets
    assert [(o.kind, o.pattern, dict(o.fields)) for o in prod.overrides] == [
        ("task", "*", {"concurrentExecLimit": 10}),
        ("task", "img_*", {"rateLimitPerFrequency": 5, "concurrentExecLimit": 2}),
        ("workflow", "order*", {"timeoutSeconds": 3600}),
    ]
    assert prod.overrides[0].origin == "config/idflow.yml:16"
    assert load_config(cwd=root, environ={"IDFLOW_ENV": "prod"}).environment == "prod"
    assert load_config(cwd=root, environ={"IDFLOW_ENV": "prod"}, environment="dev").environment == "dev"


def test_a_project_without_environments_is_as_before(tmp_path):
    root = project(tmp_path, "owner_email: a@b.test\n")
    config = load_config(cwd=root, environ={})
    assert config.environment is None and config.state_dir == root.resolve() / "state"
    assert render_text(plan_of(desired({"name": "a"}), actual())).startswith("  + task a")
    assert "environment" not in render_markdown(plan_of(desired({"name": "a"}), actual()))[0].lower()
    with pytest.raises(ConfigError, match="defines no environments"):
        load_config(cwd=root, environ={}, environment="prod")
    with pytest.raises(ConfigError, match=r"IDFLOW_ENV prod: .* defines no environments"):
        load_config(cwd=root, environ={"IDFLOW_ENV": "prod"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("environments: {dev: {server_url: http://d}}\n", r"idflow.yml:1: .*no default_environment: choose one"),
        ("default_environment: qa\nenvironments: {dev: {}}\n", r"idflow.yml:1: default_environment 'qa' is not"),
        ("environments:\n  dev:\n    colour: blue\n", r"idflow.yml:3: unknown key 'environments.dev.colour'"),
        ("environments:\n  dev:\n    server_url: ftp://x\n", r"idflow.yml:3: server URL 'ftp://x' must start"),
        ("environments:\n  dev:\n    protected: yes please\n", r"idflow.yml:3: 'environments.dev.protected' must be"),
        ("environments:\n  ../up: {}\n", r"idflow.yml:2: environment name '../up' must be"),
        (
            "default_environment: dev\nenvironments:\n  dev:\n    overrides:\n      tasks:\n        '*':\n"
            "          retry_count: many\n",
            r"idflow.yml:7: 'retry_count' must be a whole number, not str",
        ),
        (
            "default_environment: dev\nenvironments:\n  dev:\n    overrides:\n      tasks:\n        '*':\n"
            "          owner_email: x@y\n",
            r"idflow.yml:7: 'owner_email' is not a TaskDef field an environment can override",
        ),
        (
            "default_environment: dev\nenvironments:\n  dev:\n    overrides:\n      tasks:\n        '*':\n"
            "          timeout_policy: SOMETIMES\n",
            r"idflow.yml:7: 'timeout_policy' must be one of RETRY, TIME_OUT_WF, ALERT_ONLY",
        ),
        (
            "default_environment: dev\nenvironments:\n  dev:\n    overrides:\n      schedules: {}\n",
            r"idflow.yml:5: unknown key 'environments.dev.overrides.schedules'",
        ),
    ],
)
def test_bad_environment_settings_name_file_and_line(tmp_path, text, message):
    root = project(tmp_path, text)
    with pytest.raises(ConfigError, match=message):
        load_config(cwd=root, environ={})


def test_an_unknown_environment_names_those_defined(tmp_path):
    with pytest.raises(ConfigError, match=r"--env qa: no such environment .* \(defined: dev, prod\)"):
        load_config(cwd=project(tmp_path), environ={}, environment="qa")


def test_overrides_later_entries_win_and_each_field_names_its_entry(tmp_path):
    prod = load_config(cwd=project(tmp_path), environ={}, environment="prod")
    state = desired({"name": "img_resize", "rateLimitPerFrequency": 1}, {"name": "mail"},
                    workflows=[{"name": "order", "version": 1, "tasks": [], "timeoutSeconds": 60}])  # fmt: skip
    over, origins = apply_overrides(state, prod.overrides)
    assert over.tasks["img_resize"].definition["concurrentExecLimit"] == 2
    assert over.tasks["img_resize"].definition["rateLimitPerFrequency"] == 5
    assert over.tasks["mail"].definition["concurrentExecLimit"] == 10
    assert over.workflows[("order", 1)].definition["timeoutSeconds"] == 3600
    assert dict(origins["task:img_resize"]) == {
        "concurrentExecLimit": "config/idflow.yml:18", "rateLimitPerFrequency": "config/idflow.yml:18",
    }  # fmt: skip
    assert dict(origins["task:mail"]) == {"concurrentExecLimit": "config/idflow.yml:16"}
    assert state.tasks["mail"].definition.get("concurrentExecLimit") in (None, 0)  # the input is left as it was
    assert apply_overrides(state, ())[0] is state


def env_plan(name: str | None, url: str = "http://dev.test:8080/api", **plan_fields):
    plan = plan_of(desired({"name": "a", "retryCount": 1}, {"name": "b"}), actual({"name": "b", "retryCount": 5}))
    return replace(plan, environment=name, server_url=url, **plan_fields)


def test_plan_file_round_trip_keeps_environment_commit_and_overrides(tmp_path):
    plan = env_plan("prod", commit="abc123", dirty=True)
    plan = replace(plan, changes=tuple(replace(c, overrides={"retryCount": "config/idflow.yml:9"}) if c.name == "a"
                                       else c for c in plan.changes))  # fmt: skip
    read, _applied = read_plan(write_plan(plan, tmp_path / "plan.json"))
    assert read.to_dict() == plan.to_dict()
    assert (read.environment, read.commit, read.dirty) == ("prod", "abc123", True)
    assert dict(read.changes[0].overrides) == {"retryCount": "config/idflow.yml:9"}
    assert read.format_version == "1.4"


def test_a_plan_for_another_environment_is_refused(tmp_path):
    root = project(tmp_path, CONFIG.replace("owner_email: team@x.test\n", ""))
    dev = load_config(cwd=root, environ={})
    path = tmp_path / "plan.json"
    with pytest.raises(PlanFileError, match="made for environment prod, but this is environment dev"):
        check_plan_file(env_plan("prod", "http://dev.test:8080/api"), None, dev, path)
    with pytest.raises(PlanFileError, match="made for a project without environments, but this is environment dev"):
        check_plan_file(env_plan(None), None, dev, path)
    with pytest.raises(PlanFileError, match="the plan was made against http://elsewhere/api"):
        check_plan_file(env_plan("dev", "http://elsewhere/api"), None, dev, path)
    check_plan_file(env_plan("dev"), None, dev, path)  # its own plan passes


def test_protected_needs_the_flag_a_plan_file_and_a_clean_plan_of_this_commit(tmp_path):
    prod = load_config(cwd=project(tmp_path), environ={}, environment="prod")
    plan = env_plan("prod", "http://prod.test/api")
    path = tmp_path / "plan.json"
    with pytest.raises(PlanFileError, match="name it with --env prod"):
        check_protected(prod, plan, path, env_from_flag=False)
    with pytest.raises(PlanFileError, match="takes only a saved plan file"):
        check_protected(prod, None, None, env_from_flag=True)
    with pytest.raises(PlanFileError, match="records no git commit"):
        check_protected(prod, plan, path, env_from_flag=True)  # tmp_path is no git checkout
    with pytest.raises(PlanFileError, match="uncommitted changes"):
        check_protected(prod, replace(plan, commit="c0ffee", dirty=True), path, env_from_flag=True)
    with pytest.raises(PlanFileError, match="made at commit c0ffee, but this checkout is at no commit"):
        check_protected(prod, replace(plan, commit="c0ffee"), path, env_from_flag=True)


def test_every_rendering_names_the_environment_first():
    plan = env_plan("staging")
    assert render_text(plan).splitlines()[0] == "Environment: staging (http://dev.test:8080/api)"
    assert next(iter(json.loads(render_json(plan)))) == "environment"
    part = render_markdown(plan)[0]
    assert part.splitlines()[1] == "## idflow plan · environment <code>staging</code>"
    assert "Environment: **staging** · Server:" in part


def test_an_override_is_shown_as_coming_from_the_config():
    plan = env_plan("prod")
    plan = replace(plan, changes=tuple(replace(c, overrides={"retryCount": "config/idflow.yml:9"})
                                       for c in plan.changes))  # fmt: skip
    text = render_text(plan)
    assert "retryCount = 1  (set by environment prod: config/idflow.yml:9)" in text  # the create
    assert "retryCount: 5 -> 3  (set by environment prod: config/idflow.yml:9)" in text  # the update
    markdown = "".join(render_markdown(plan))
    assert "Set by environment <code>prod</code> in the config, not in the file: <code>retryCount</code>" in markdown


def many_changes_plan(name: str, count: int):
    tasks = [{"name": f"{name}_task{i}", "description": "d" * 200} for i in range(count)]
    return replace(plan_of(desired(*tasks), actual()), environment=name, server_url=f"http://{name}.test/api")


def test_multi_environment_markdown_summary_first_then_sections_split_under_the_limit():
    plans = [many_changes_plan("dev", 12), many_changes_plan("prod", 0), many_changes_plan("qa", 12)]
    parts = render_markdown_environments(plans, max_chars=2000)
    assert len(parts) > 3 and all(len(p) <= 2000 for p in parts)
    assert all(p.startswith(f"<!-- idflow-plan part {i} of {len(parts)} -->") for i, p in enumerate(parts, 1))
    first = parts[0]
    assert "## idflow plan · 3 environments" in first and "**Changes in 2 of 3 environments.**" in first
    table = first[: first.index("### Environment")]
    cells = r"\| <code>(\w+)</code> \| <code>http://\w+\.test/api</code> \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|"
    assert re.findall(cells, table) == [
        ("dev", "12", "0", "0", "0"), ("prod", "0", "0", "0", "0"), ("qa", "12", "0", "0", "0"),
    ]  # fmt: skip
    whole = "".join(parts)
    starts = [whole.index(f"### Environment <code>{n}</code>\n") for n in ("dev", "prod", "qa")]
    assert starts == sorted(starts)
    assert "No changes. The server matches the local definitions." in whole[starts[1] : starts[2]]
    for i in range(12):
        assert whole.count(f"dev_task{i}</code>") == 2 and whole.count(f"qa_task{i}</code>") == 2  # row, block
    continued = [p for p in parts[1:] if "(continued)" in p.split("\n", 3)[-1][:80]]
    assert continued, "some part starts inside an environment's section"
    for part in parts[1:]:
        body = re.sub(r"^<!--.*?-->\n\*\*Part \d+ of \d+\*\*\n\n", "", part)
        assert body.startswith("### Environment <code>")


def test_compare_two_servers_by_managed_objects_field_by_field():
    dev = Environment("dev", "http://dev/api", "dev@x")
    prod = Environment("prod", "http://prod/api", "prod@x")
    a = actual({"name": "same", "ownerEmail": "dev@x"}, {"name": "edited", "ownerEmail": "dev@x"},
               {"name": "dev_only", "ownerEmail": "dev@x"}, {"name": "theirs", "ownerEmail": "other@x"})  # fmt: skip
    b = actual({"name": "same", "ownerEmail": "prod@x"}, {"name": "edited", "ownerEmail": "prod@x", "retryCount": 9},
               {"name": "prod_only", "ownerEmail": "prod@x"}, {"name": "theirs", "ownerEmail": "other@x",
               "retryCount": 1})  # fmt: skip
    result = compare(dev, a, prod, b)
    assert [(d.name, d.side) for d in result.differences] == [
        ("dev_only", Side.ONLY_A), ("edited", Side.DIFFERS), ("prod_only", Side.ONLY_B),
    ]  # fmt: skip
    edited = result.differences[1]
    assert [(f.path, f.before, f.after) for f in edited.diff] == [("retryCount", 3, 9)]  # ownerEmail left out
    assert result.counts() == {"only-in-a": 1, "only-in-b": 1, "differs": 1, "same": 1}
    view = json.loads(render_comparison_json(result))
    assert view["objects"][1]["diff"] == [{"path": "retryCount", "dev": 3, "prod": 9, "set_by": None}]
    text = render_comparison_text(result)
    assert "  < task dev_only  (only in dev)" in text and "  > task prod_only  (only in prod)" in text
    assert "retryCount: dev 3 | prod 9" in text and "theirs" not in text
    assert text.rstrip().endswith("3 difference(s): 1 only in dev, 1 only in prod, 1 held differently; 1 the same.")


def test_compare_marks_a_field_an_override_sets_and_masks_secrets(tmp_path):
    prod_config = load_config(cwd=project(tmp_path), environ={}, environment="prod")
    dev = Environment("dev", "http://dev/api", None, (), frozenset({"task:img_x"}))
    prod = Environment("prod", "http://prod/api", None, prod_config.overrides, frozenset({"task:img_x"}))
    a = actual({"name": "img_x", "inputTemplate": {"apiKey": "old"}})
    b = actual({"name": "img_x", "concurrentExecLimit": 2, "inputTemplate": {"apiKey": "new"}})
    result = compare(dev, a, prod, b)
    view = json.loads(render_comparison_json(result))
    by_path = {d["path"]: d for d in view["objects"][0]["diff"]}
    assert by_path["concurrentExecLimit"]["set_by"] == "prod: config/idflow.yml:18"
    assert by_path["inputTemplate.apiKey"]["dev"] == by_path["inputTemplate.apiKey"]["prod"] != "new"


def test_two_environments_hold_their_checkout_locks_at_once(tmp_path):
    from idflow.apply.applier import StateLock
    from idflow.errors import LockError

    root = project(tmp_path)
    dev = load_config(cwd=root, environ={})
    prod = load_config(cwd=root, environ={}, environment="prod")
    with StateLock(dev.state_dir, "dev apply"), StateLock(prod.state_dir, "prod apply"):
        assert (dev.state_dir / ".lock").is_file() and (prod.state_dir / ".lock").is_file()
        with pytest.raises(LockError), StateLock(dev.state_dir, "a second dev apply"):
            pass
