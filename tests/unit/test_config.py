from pathlib import Path

import pytest

from idflow.config import DEFAULT_SERVER_URL, load_config, normalise_server_url
from idflow.errors import ConfigError


def write(root: Path, text: str) -> Path:
    (root / "config").mkdir(exist_ok=True)
    path = root / "config" / "idflow.yml"
    path.write_text(text)
    return path


def test_no_config_file_gives_defaults(tmp_path):
    config = load_config(cwd=tmp_path, environ={})
    assert config.source is None and config.root == tmp_path.resolve()
    assert config.server_url == DEFAULT_SERVER_URL
    assert config.tasks_dir == tmp_path.resolve() / "idflow" / "tasks"
    assert config.workflows_dir == tmp_path.resolve() / "idflow" / "workflows"
    assert config.credentials is None


def test_found_by_walking_up_and_paths_relative_to_root(tmp_path):
    write(tmp_path, "conductor_server_url: http://h:1/\ntasks_dir: src/tasks\nowner_email: a@b.c\n")
    deep = tmp_path / "x" / "y"
    deep.mkdir(parents=True)
    config = load_config(cwd=deep, environ={})
    assert config.root == tmp_path.resolve()
    assert config.server_url == "http://h:1/api"
    assert config.tasks_dir == tmp_path.resolve() / "src" / "tasks"
    assert config.owner_email == "a@b.c"


@pytest.mark.parametrize("url", ["http://h:8080", "http://h:8080/", "http://h:8080/api", "http://h:8080/api/"])
def test_url_normalised(url):
    assert normalise_server_url(url) == "http://h:8080/api"


def test_nested_block_and_env_overrides(tmp_path):
    write(tmp_path, "conductor:\n  server_url: http://file:1\n  api_key_env_var: MY_KEY\n  timeout_seconds: 3\n")
    config = load_config(
        cwd=tmp_path,
        environ={"CONDUCTOR_SERVER_URL": "http://env:2/api/", "MY_KEY": "kid", "CONDUCTOR_AUTH_SECRET": "shh"},
    )
    assert config.server_url == "http://env:2/api"
    assert config.credentials is not None and config.secrets == ("kid", "shh")
    assert "kid" not in repr(config) and "shh" not in repr(config)
    assert config.timeout_seconds == 3


def test_explicit_and_env_config_path(tmp_path):
    other = tmp_path / "elsewhere.yml"
    other.write_text("tasks_dir: t\n")
    assert load_config(str(other), cwd=tmp_path, environ={}).tasks_dir == tmp_path.resolve() / "t"
    assert load_config(cwd=tmp_path, environ={"IDFLOW_CONFIG": str(other)}).source == other


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tasks_dir: [1\n", r"idflow.yml:2:1: invalid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("colour: blue\n", r"idflow.yml:1: unknown key 'colour'"),
        ("tasks_dir: 5\n", r"idflow.yml:1: 'tasks_dir' must be a path, not int"),
        ("tasks_dir: x\nconductor:\n  retries: many\n", r"idflow.yml:3: 'conductor.retries' must be a whole number"),
        ("conductor:\n  nope: 1\n", r"idflow.yml:2: unknown key 'conductor.nope'"),
        ("ignore: tmp_*\n", "'ignore' must be a list"),
        ("conductor_server_url: ftp://x\n", "must start with http"),
        ("owner_email: nobody\n", "not an email address"),
        ("conductor:\n  timeout_seconds: 0\n", "must be > 0"),
        ("vars: true\n", "'vars' must be a mapping, not bool"),
        ("tasks_dir: a\ntasks_dir: b\n", r"idflow.yml:2:1: invalid YAML: duplicate key 'tasks_dir'"),
        ("conductor:\n  retries: 1000\n", "'conductor.retries' must be from 0 to 10"),
    ],
)
def test_config_errors_name_file_and_key(tmp_path, text, message):
    write(tmp_path, text)
    with pytest.raises(ConfigError, match=message):
        load_config(cwd=tmp_path, environ={})


def test_missing_explicit_and_not_utf8(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config("nope.yml", cwd=tmp_path, environ={})
    path = write(tmp_path, "")
    path.write_bytes(b"tasks_dir: \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(cwd=tmp_path, environ={})


def test_half_credentials_refused(tmp_path):
    with pytest.raises(ConfigError, match="set both or neither"):
        load_config(cwd=tmp_path, environ={"CONDUCTOR_AUTH_KEY": "k"})
