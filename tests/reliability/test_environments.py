"""Environments: a plan, a variable or a forged file must never reach the wrong server. "prod" here is a
TCP port that counts connections and answers none, so "before any request" is observed, not assumed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from idflow.plan.file import checksum
from tests.conftest import Cli
from tests.integration.test_environments import CountingListener, git, write_config

pytestmark = pytest.mark.integration


@pytest.fixture
def listener():
    counting = CountingListener()
    yield counting
    counting.close()


@pytest.fixture
def envs(tmp_path: Path, conductor_url: str, listener: CountingListener, unique: str) -> Cli:
    project = tmp_path / "project"
    (project / "config").mkdir(parents=True)
    (project / "idflow" / "tasks").mkdir(parents=True)
    (project / ".gitignore").write_text("state/\n")
    write_config(project, f"{unique}@test.idflow", conductor_url, listener.url)
    git(project, "init", "-q")
    cli = Cli(project, {"NO_COLOR": "1"})
    cli.write_task(f"{unique}_limited")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "tasks")
    return cli


def test_a_dev_plan_applied_with_env_prod_sends_nothing(envs, listener, scenario):
    obs = scenario(
        "`idflow plan` (default environment dev), then `idflow apply --env prod state/dev/plan.json -y`",
        "refused with one line naming both environments, exit 1; prod's server receives no connection",
    )
    assert envs("plan").exit_code == 0
    result = envs("apply", "--env", "prod", str(envs.root / "state" / "dev" / "plan.json"), "-y")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "made for environment dev, but this is environment prod" in result.stderr
    assert listener.connections == 0
    obs.observed = f"exit 1: {result.stderr.strip()[:90]}...; {listener.connections} connections to prod"


def test_a_plan_file_forged_to_say_prod_is_still_refused_before_any_request(envs, listener, scenario):
    obs = scenario(
        "a dev plan file whose `environment` is rewritten to prod and its checksum recomputed, applied with "
        "`--env prod`",
        "refused: it was made against dev's server (the server check stands on its own); no connection to prod",
    )
    assert envs("plan").exit_code == 0
    path = envs.root / "state" / "dev" / "plan.json"
    doc = json.loads(path.read_text())
    doc["environment"] = "prod"
    doc["commit"] = git(envs.root, "rev-parse", "HEAD")
    doc["checksum"] = checksum(doc)
    path.write_text(json.dumps(doc))
    result = envs("apply", "--env", "prod", str(path), "-y")
    assert result.exit_code == 1 and "the plan was made against" in result.stderr
    assert listener.connections == 0
    obs.observed = f"exit 1 ({result.stderr.strip()[7:70]}...); {listener.connections} connections to prod"


def test_idflow_env_left_set_in_a_shell_never_writes_to_a_protected_environment(envs, listener, scenario):
    obs = scenario(
        "`IDFLOW_ENV=prod` exported, then `idflow apply -y PLAN`, `idflow apply --plan-now -y` and "
        "`idflow tasks upload --all -y` (prod is protected)",
        "each refused with exit 1 before any request: a protected environment must be named with --env",
    )
    env = {"IDFLOW_ENV": "prod"}
    assert envs("plan").exit_code == 0  # a plan for prod, as one made there would be: dev's, moved over
    doc = json.loads((envs.root / "state" / "dev" / "plan.json").read_text())
    doc.update(environment="prod", server_url=listener.url, commit=git(envs.root, "rev-parse", "HEAD"))
    doc["checksum"] = checksum(doc)
    prod_plan = envs.root / "state" / "prod" / "plan.json"
    prod_plan.parent.mkdir(parents=True)
    prod_plan.write_text(json.dumps(doc))
    runs = [
        envs("apply", str(prod_plan), "-y", env=env),
        envs("apply", "--plan-now", "-y", env=env),
        envs("tasks", "upload", "--all", "-y", env=env),
    ]
    assert [r.exit_code for r in runs] == [1, 1, 1]
    assert "name it with --env prod" in runs[0].stderr and "name it with --env prod" in runs[1].stderr
    assert "protected: it takes only a saved plan file" in runs[2].stderr
    obs.observed = f"exits {[r.exit_code for r in runs]}; {listener.connections} connection(s) to prod"
    assert listener.connections == 0


def test_conductor_server_url_does_not_redirect_an_environment(envs, listener, conductor_url, unique, scenario):
    obs = scenario(
        "`CONDUCTOR_SERVER_URL` set to dev's server while planning `--env prod` (a variable left from dev work)",
        "the plan goes to prod's own server_url (here: nothing answers, so it fails), never to dev's",
    )
    result = envs("plan", "--env", "prod", env={"CONDUCTOR_SERVER_URL": conductor_url})
    assert result.exit_code == 1 and listener.connections >= 1
    assert not (envs.root / "state" / "prod" / "plan.json").exists()
    obs.observed = f"exit 1; {listener.connections} connection(s) to prod's server, no plan file for prod"


def test_dev_credentials_are_not_sent_to_an_environment_that_names_its_own(tmp_path, scenario):
    obs = scenario(
        "CONDUCTOR_AUTH_KEY/SECRET exported (dev's), prod names PROD_KEY/PROD_SECRET, which are unset",
        "prod's config has no credentials: the generic variables are not read for it",
    )
    from idflow.config import load_config

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "idflow.yml").write_text(
        "default_environment: dev\nenvironments:\n  dev: {server_url: http://dev.test}\n"
        "  prod: {server_url: http://prod.test, api_key_env_var: PROD_KEY, api_secret_env_var: PROD_SECRET}\n"
    )
    generic = {"CONDUCTOR_AUTH_KEY": "dev-key", "CONDUCTOR_AUTH_SECRET": "dev-secret"}
    prod = load_config(cwd=tmp_path, environ=generic, environment="prod")
    dev = load_config(cwd=tmp_path, environ=generic)
    assert prod.credentials is None and "dev-key" not in prod.secrets
    assert dev.credentials is not None
    obs.observed = "prod: no credentials; dev: the generic ones"
