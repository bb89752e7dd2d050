"""The safe reader and the bounds on what small inputs may expand to (issue 13, items 1, 6, 7, 15)."""

from __future__ import annotations

import ast
import itertools
import os
from pathlib import Path

import pytest

from idflow.config import find_config_file, load_config
from idflow.errors import ConfigError
from idflow.masking import environment_secrets, mask_text
from idflow.repo import safefile, templates, yamlfile
from idflow.repo.static import MAX_VALUE_SIZE, ModuleScope, NotStatic, evaluate

# -- safefile ---------------------------------------------------------------------------------------


def test_reads_a_regular_file_inside_the_project(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"hello")
    os.symlink("a.txt", tmp_path / "link.txt")
    assert safefile.read_bytes(tmp_path / "a.txt", limit=10, within=[tmp_path]) == b"hello"
    assert safefile.read_bytes(tmp_path / "link.txt", limit=10, within=[tmp_path]) == b"hello"


def test_refuses_a_link_out_of_the_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "secret").write_text("PRIVATE KEY")
    os.symlink(tmp_path / "secret", project / "requirements.txt")
    with pytest.raises(safefile.UnsafeFile) as caught:
        safefile.read_bytes(project / "requirements.txt", limit=1000, within=[project])
    assert str(caught.value) == "is a symbolic link to a place outside the project; not read"
    assert "PRIVATE" not in str(caught.value)
    os.symlink("/proc/self/environ", project / "environ")
    with pytest.raises(safefile.UnsafeFile, match="outside the project"):
        safefile.read_bytes(project / "environ", limit=1000, within=[project])


def test_a_sibling_folder_with_the_same_prefix_is_outside(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    (tmp_path / "project-evil").mkdir()
    (tmp_path / "project-evil" / "x").write_text("x")
    os.symlink(tmp_path / "project-evil" / "x", tmp_path / "project" / "x")
    with pytest.raises(safefile.UnsafeFile):
        safefile.read_bytes(tmp_path / "project" / "x", limit=10, within=[tmp_path / "project"])


def test_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(safefile.UnsafeFile, match="is a FIFO, not a regular file; not read"):
        safefile.read_bytes(tmp_path / "pipe", limit=10, within=[tmp_path])


def test_refuses_a_device_even_where_links_may_lead_anywhere() -> None:
    with pytest.raises(safefile.UnsafeFile, match="is a device, not a regular file"):
        safefile.read_bytes("/dev/zero", limit=10)


def test_reads_at_most_the_limit(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 101)
    (tmp_path / "fits").write_bytes(b"x" * 100)
    assert len(safefile.read_bytes(tmp_path / "fits", limit=100)) == 100
    with pytest.raises(safefile.UnsafeFile, match="is larger than 100 bytes; not read"):
        safefile.read_bytes(tmp_path / "big", limit=100)
    assert safefile.size_text(5 * safefile.MB) == "5 MB"


def test_a_folder_is_the_usual_error(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        safefile.read_bytes(tmp_path, limit=10)


def test_excerpt_escapes_and_shortens() -> None:
    assert safefile.excerpt("abc") == "'abc'"
    assert safefile.excerpt("a\x1b[2J\nb") == "'a\\x1b[2J\\nb'"
    long = safefile.excerpt("PATH=/usr/bin\x00HOME=/root\x00" + "SECRET=x" * 50)
    assert len(long) <= safefile.EXCERPT_CHARS + 2 and long.endswith("...'")
    assert "\x00" not in long


def test_an_invalid_requirement_is_quoted_as_an_excerpt(tmp_path: Path) -> None:
    from idflow.repo.task_files import parse_requirements

    data = ("A=" + "1" * 500 + " !!\x1b]0;x\x07 ~~\n").encode()
    _, problems = parse_requirements(tmp_path / "requirements.txt", data)
    assert len(problems) == 1
    message = problems[0].message
    assert message.startswith("invalid requirement 'A=111") and len(message) < 320, message
    assert "\x1b" not in message and "\x07" not in message and "1" * 100 not in message


# -- YAML aliases --------------------------------------------------------------------------------------


def _bomb(levels: int) -> str:
    text = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    names = "abcdefghijklmnop"
    for previous, name in itertools.pairwise(names[:levels]):
        text += f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    return text


def test_an_alias_bomb_is_refused_before_it_expands() -> None:
    text = _bomb(9)
    assert len(text) < 600
    with pytest.raises(yamlfile.YamlProblem, match=r"its aliases expand it to [\d,]+ values \(more than 1,000,000\)"):
        yamlfile.load(text)


def test_normal_anchors_still_work() -> None:
    data = yamlfile.load("base: &base {type: HTTP, retry: 1}\none: {name: one, with: *base}\ntwo: *base\n" + _bomb(4))
    assert data["one"] == {"with": {"type": "HTTP", "retry": 1}, "name": "one"}
    assert data["two"] == data["base"]
    assert len(data["d"]) == 9


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(yamlfile.YamlProblem, match="refers to the node it is in"):
        yamlfile.load("a: &a [1, *a]\n")


def test_a_yaml_problem_quotes_content_briefly() -> None:
    with pytest.raises(yamlfile.YamlProblem) as caught:
        yamlfile.load(f"!{'x' * 5000} 1\n")
    assert len(caught.value.message) < 260


# -- templates ---------------------------------------------------------------------------------------


def _render(source: str) -> str:
    env = templates.BoundedSandbox()
    return env.render(env.from_string(source), {})


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ 'A' * 2000000000 }}", "a value longer than"),
        ("{{ 2000000000 * 'A' }}", "a value longer than"),
        ("{{ [1] * 2000000000 }}", "a value longer than"),
        ("{% set ns = namespace(a='x') %}{% for i in range(64) %}{% set ns.a = ns.a ~ ns.a %}{% endfor %}",
         "a string longer than"),
        ("{% set ns = namespace(a='x') %}{% for i in range(64) %}{% set ns.a = ns.a + ns.a %}{% endfor %}",
         "a value longer than"),
        ("{{ 10 ** 100000000 }}", "a power too large"),
        ("{% for i in range(1000000) %}{% endfor %}", "range() of more than 100,000 items"),
    ],
)  # fmt: skip
def test_operators_and_range_are_bounded(source: str, message: str) -> None:
    with pytest.raises(templates.TemplateLimit, match=message.replace("(", r"\(").replace(")", r"\)")):
        _render(source)


def test_the_output_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "MAX_OUTPUT_CHARS", 2 * 1024 * 1024)
    with pytest.raises(templates.TemplateLimit, match="the rendered template is larger than 2 MB"):
        _render("{% for a in range(100000) %}{{ 'x' * 100 }}{% endfor %}")


def test_a_loop_without_calls_or_output_meets_the_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "TIME_BUDGET_SECONDS", 0.2)
    with pytest.raises(templates.TemplateLimit, match=r"longer than 0\.2 s"):
        _render("{% set r = range(100000) | list %}{% for a in r %}{% for b in r %}{% endfor %}{% endfor %}")


def test_normal_templates_render_and_include_reads_nothing(tmp_path: Path) -> None:
    assert _render("{% for i in range(3) %}{{ i ~ '-' }}{% endfor %}{{ 'ab' * 2 }}{{ 2 ** 10 }}") == "0-1-2-abab1024"
    with pytest.raises(TypeError, match="no loader"):
        _render("{% include '/etc/passwd' %}")


# -- static values -----------------------------------------------------------------------------------


def _value(source: str, name: str) -> object:
    tree = ast.parse(source)
    use = ast.parse(f"{name}", mode="eval").body
    use.lineno, use.col_offset = 10_000, 0
    return ModuleScope(tree).lookup(name, use)


def test_a_chain_of_doubling_strings_is_not_computed() -> None:
    start = 'A = "AAAAAAAAAAAAAAAA"\nB0 = A + A\n'
    assert _value(start, "B0") == "A" * 32
    chain = start + "".join(f"B{i} = B{i - 1} + B{i - 1}\n" for i in range(1, 40))
    with pytest.raises(NotStatic, match=f"B39 is not a static value: a value larger than {MAX_VALUE_SIZE:,}"):
        _value(chain, "B39")
    links = "".join(f'B{i} = f"{{B{i - 1}}}{{B{i - 1}}}"\n' for i in range(1, 40))
    fstrings = 'A = "AAAAAAAAAAAAAAAA"\nB0 = f"{A}{A}"\n' + links
    with pytest.raises(NotStatic, match="a value larger than"):
        _value(fstrings, "B39")


def test_a_chain_of_doubling_lists_is_not_computed() -> None:
    chain = "L0 = [1, 2]\n" + "".join(f"L{i} = [L{i - 1}, L{i - 1}]\n" for i in range(1, 64))
    with pytest.raises(NotStatic, match="a value larger than"):
        _value(chain, "L63")
    assert _value("L0 = [1, 2]\nL1 = [L0, L0]\n", "L1") == [[1, 2], [1, 2]]


def test_many_large_values_in_one_file_are_bounded() -> None:
    big = "x" * 400_000
    names = [f"B{i}" for i in range(60)]
    source = f'A = "{big}"\n' + "".join(f"{n} = A + A\n" for n in names) + f"C = [{', '.join(names)}]\n"
    with pytest.raises(NotStatic, match="characters and items"):
        _value(source, "C")


def test_an_unknown_evaluate_node_is_still_not_static() -> None:
    with pytest.raises(NotStatic):
        evaluate(ast.parse("f()", mode="eval").body, ModuleScope(ast.parse("")))


# -- config discovery (item 6) and the tasks folder (item 3) -----------------------------------------


def test_discovery_skips_a_config_another_user_owns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "idflow.yml").write_text("{}\n")
    start = tmp_path / "a" / "b"
    start.mkdir(parents=True)
    assert find_config_file(start) == tmp_path / "config" / "idflow.yml"
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(tmp_path).st_uid + 1)
    assert find_config_file(start) is None
    assert f"ignoring {tmp_path / 'config' / 'idflow.yml'}: it is owned by another user" in capsys.readouterr().err
    # chosen explicitly, it is trusted
    assert load_config(tmp_path / "config" / "idflow.yml", cwd=start, environ={}).source is not None


def test_discovery_stops_at_the_repository_root(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "idflow.yml").write_text("{}\n")
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    assert find_config_file(repo / "src") == tmp_path / "config" / "idflow.yml"
    (repo / ".git").write_text("gitdir: elsewhere\n")  # a worktree's .git is a file
    assert find_config_file(repo / "src") is None
    (repo / "config").mkdir()
    (repo / "config" / "idflow.yml").write_text("{}\n")
    assert find_config_file(repo / "src") == repo / "config" / "idflow.yml"


def test_a_missing_tasks_folder_is_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    config_file = tmp_path / "config" / "idflow.yml"
    config_file.write_text("owner_email: a@b.c\ntasks_dir: idflow/taks\n")
    with pytest.raises(ConfigError, match=rf"{config_file}:2: tasks_dir 'idflow/taks' does not exist"):
        load_config(cwd=tmp_path, environ={}).require_tasks_dir()
    config_file.write_text("owner_email: a@b.c\n")
    with pytest.raises(ConfigError, match="the tasks folder does not exist \\(the default tasks_dir"):
        load_config(cwd=tmp_path, environ={}).require_tasks_dir()
    config_file.unlink()
    with pytest.raises(ConfigError, match=r"no tasks folder, and no config/idflow\.yml here or above"):
        load_config(cwd=tmp_path, environ={}).require_tasks_dir()
    (tmp_path / "idflow" / "tasks").mkdir(parents=True)
    assert load_config(cwd=tmp_path, environ={}).require_tasks_dir() == (tmp_path / "idflow" / "tasks").resolve()


def test_a_config_file_over_the_limit_is_one_error(tmp_path: Path) -> None:
    big = tmp_path / "idflow.yml"
    big.write_text("# x\n" * (safefile.CONFIG_FILE_LIMIT // 4 + 1))
    with pytest.raises(ConfigError, match=rf"{big}:1:1: the config file is larger than 1 MB; not read"):
        load_config(big, environ={})


# -- masking error lines -----------------------------------------------------------------------------


def test_error_lines_are_masked_with_secrets_from_the_environment() -> None:
    env = {"CONDUCTOR_AUTH_SECRET": "s3cr3t-value", "GITHUB_TOKEN": "ghp_abcdef123", "SHORT_TOKEN": "ab",
           "HOME": "/root"}  # fmt: skip
    assert set(environment_secrets(env)) == {"s3cr3t-value", "ghp_abcdef123"}
    assert mask_text("x s3cr3t-value ghp_abcdef123 ab /root", environ=env) == "x *** *** ab /root"


def test_the_cli_masks_its_error_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from idflow.cli import cli

    secret = "very-secret-value-42"
    result = CliRunner().invoke(
        cli, ["--config", str(tmp_path / secret / "idflow.yml"), "plan"],
        env={"CONDUCTOR_AUTH_KEY": "key-id-1234", "CONDUCTOR_AUTH_SECRET": secret},
    )  # fmt: skip
    assert result.exit_code == 1
    assert secret not in result.output and "***" in result.output, result.output


def test_the_fast_path_for_walked_folders_still_checks_links(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "a.py").write_text("a")
    (tmp_path / "secret").write_text("s")
    os.symlink("a.py", project / "inside.py")
    os.symlink(tmp_path / "secret", project / "outside.py")
    os.mkfifo(project / "pipe.py")
    read = {"limit": 10, "within": [project], "parents_checked": True}
    assert safefile.read_bytes(project / "a.py", **read) == b"a"
    assert safefile.read_bytes(project / "inside.py", **read) == b"a"
    with pytest.raises(safefile.UnsafeFile, match="outside the project"):
        safefile.read_bytes(project / "outside.py", **read)
    with pytest.raises(safefile.UnsafeFile, match="FIFO"):
        safefile.read_bytes(project / "pipe.py", **read)


def test_a_secret_variable_set_while_running_is_masked_from_then_on(monkeypatch):
    """environment_secrets reads os.environ anew on every call (only the name check is cached)."""
    from idflow.masking import environment_secrets, mask_text

    monkeypatch.delenv("LATE_DEPLOY_TOKEN", raising=False)
    assert "late-secret-value" not in environment_secrets()
    monkeypatch.setenv("LATE_DEPLOY_TOKEN", "late-secret-value")
    monkeypatch.setenv("HARMLESS_SETTING", "not-a-secret-value")
    assert "late-secret-value" in environment_secrets()
    assert "not-a-secret-value" not in environment_secrets()
    assert mask_text("got late-secret-value") == "got ***"
    monkeypatch.setenv("LATE_DEPLOY_TOKEN", "rotated-secret")
    assert mask_text("late-secret-value rotated-secret") == "late-secret-value ***"
    assert environment_secrets({"SOME_PASSWORD": "from-a-mapping"}) == ["from-a-mapping"]
