"""GitHub Actions annotations: escaping, repository-relative paths, plan warnings at their files."""

from __future__ import annotations

from dataclasses import replace

from idflow.cli.annotate import find_repo_root
from idflow.errors import Problem
from idflow.render.github import (
    annotation,
    escape_data,
    escape_property,
    render_plan_warnings,
    render_problems,
    repo_path,
)
from tests.factories import actual, desired, plan_of, taskdef


def test_escaping_follows_the_runner_rules():
    assert escape_data("50% done\r\nnext: a, b") == "50%25 done%0D%0Anext: a, b"
    assert escape_property("dir,x/a:b%.yml") == "dir%2Cx/a%3Ab%25.yml"
    # other control characters cannot drive the terminal that shows the log
    assert escape_data("name\x1b[31m") == "name\\x1b[31m"


def test_annotation_properties():
    assert annotation("error", "bad", file="a.py", line=3, col=5) == "::error file=a.py,line=3,col=5::bad"
    assert annotation("error", "bad", file="a.py", line=0, col=0) == "::error file=a.py::bad"  # the whole file
    assert annotation("warning", "look\nhere") == "::warning::look%0Ahere"
    assert annotation("error", "m", file="x:y,z.py", line=1) == "::error file=x%3Ay%2Cz.py,line=1::m"


def test_problems_become_one_annotation_each_and_paths_relative_to_the_repository_root(tmp_path):
    problems = [
        Problem("idflow/tasks/a/a.py", 4, 12, "retry_count must be a whole number"),
        Problem("idflow/config.yml", 0, 0, "the whole file"),
        Problem("", 0, 0, "no file at all"),
    ]
    assert render_problems(problems).splitlines() == [
        "::error file=idflow/tasks/a/a.py,line=4,col=12::retry_count must be a whole number",
        "::error file=idflow/config.yml::the whole file",
        "::error::no file at all",
    ]
    repo, project = tmp_path, tmp_path / "deploy" / "proj"
    assert repo_path(str(project / "a.py"), base=project, repo_root=repo) == "deploy/proj/a.py"
    assert repo_path("idflow/w.yaml", base=project, repo_root=repo) == "deploy/proj/idflow/w.yaml"
    assert repo_path("../other/x.yml", base=project, repo_root=repo) == "deploy/other/x.yml"
    assert repo_path("/elsewhere/c.yml", base=project, repo_root=repo) == "/elsewhere/c.yml"


def test_plan_warnings_of_a_change_point_at_its_source_and_the_plan_ones_have_no_file(tmp_path):
    plan = plan_of(desired(taskdef("a")), actual(), targets=("a", "nothing"))
    (change,) = plan.changes
    plan = replace(plan, changes=(replace(change, warnings=("may be used at run time, 100%",)),))
    out = render_plan_warnings(plan, base=tmp_path / "proj", repo_root=tmp_path).splitlines()
    assert out == [
        "::warning file=proj/tasks/a.py,line=1::task a: may be used at run time, 100%25",
        "::warning::--target nothing: no task, workflow, event or schedule of that name, locally or on the server",
    ]


def test_find_repo_root(tmp_path):
    (tmp_path / "repo" / "sub" / "project").mkdir(parents=True)
    (tmp_path / "repo" / ".git").write_text("gitdir: /somewhere\n")  # a git worktree's .git is a file
    start = tmp_path / "repo" / "sub" / "project"
    assert find_repo_root(start, environ={}) == (tmp_path / "repo").resolve()
    assert (
        find_repo_root(start, environ={"GITHUB_WORKSPACE": str(tmp_path / "repo" / "sub")})
        == (tmp_path / "repo" / "sub").resolve()
    )
    assert find_repo_root(start, environ={"GITHUB_WORKSPACE": "/not/above"}) == (tmp_path / "repo").resolve()
