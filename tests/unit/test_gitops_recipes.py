"""The CI recipes in examples/ci (GitHub Actions) and examples/ci/gitlab (GitLab CI): valid YAML, and every
`idflow ...` command in them exists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

from idflow.cli import cli

CI = Path(__file__).resolve().parents[2] / "examples" / "ci"
RECIPES = sorted(CI.glob("*.yml"))
GITLAB_RECIPES = sorted((CI / "gitlab").glob("*.gitlab-ci.yml"))
# Top-level keys of a .gitlab-ci.yml that are not jobs.
GITLAB_KEYWORDS = {"stages", "variables", "default", "workflow", "include", "image", "services", "cache"}


def load(path: Path) -> dict:
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    if True in data:
        data["on"] = data.pop(True)
    return data


def run_scripts(workflow: dict) -> list[str]:
    return [step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]


def idflow_commands(script: str) -> list[list[str]]:
    """Every `idflow ...` command line of a shell script (continuations joined, comments dropped)."""
    joined = re.sub(r"\\\n\s*", " ", script)
    commands = []
    for line in joined.splitlines():
        for piece in re.split(r"&&|\|\||;|\|", line):
            if not re.match(r"\s*idflow(\s|$)", piece):
                continue  # not an idflow command (and perhaps not shell at all: a heredoc's body)
            words = shlex.split(piece, comments=True)
            if words and words[0] == "idflow":
                commands.append(_until_redirect(words[1:]))
    return commands


def _until_redirect(words: list[str]) -> list[str]:
    for index, word in enumerate(words):
        if word.startswith((">", "<", "2>")):
            return words[:index]
    return words


def check_command(args: list[str]) -> click.Command:
    """Parse ``idflow ARGS`` through the click tree: unknown commands/options and bad values raise."""
    command: click.Command = cli
    ctx = command.make_context("idflow", list(args))
    while isinstance(command, click.Group):
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        assert rest, f"`idflow {' '.join(args)}` names no command under {ctx.command_path}"
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None, f"no command {name!r} in `idflow {' '.join(args)}`"
        ctx = sub.make_context(name, rest, parent=ctx)
        command = sub
    return command


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_recipe_is_a_workflow_with_idflow_commands_that_exist(path):
    workflow = load(path)
    assert {"name", "on", "jobs"} <= set(workflow)
    commands = [c for script in run_scripts(workflow) for c in idflow_commands(script)]
    assert commands, f"{path.name} runs no idflow command"
    # Commands in comments count too: `idflow ...` in backticks, and commented-out `run: idflow ...` steps.
    comments = [line.split("#", 1)[1] for line in path.read_text().splitlines() if line.lstrip().startswith("#")]
    quoted = [q for c in comments for q in re.findall(r"`idflow ([^`]+)`", c)]
    quoted += [m.group(1) for c in comments if (m := re.match(r"\s*run:\s*idflow (.+)$", c))]
    for args in commands + [shlex.split(q) for q in quoted]:
        check_command(args)


def test_the_recipes_are_the_documented_ones():
    assert [p.name for p in RECIPES] == [
        "idflow-apply-on-merge.yml", "idflow-drift.yml", "idflow-environments.yml", "idflow-plan-comment.yml",
    ]  # fmt: skip
    docs = (CI.parents[1] / "docs" / "gitops.md").read_text()
    for path in RECIPES:
        assert path.name in docs


def test_the_plan_recipe_posts_markdown_parts_and_finds_its_comments_by_marker():
    workflow = load(CI / "idflow-plan-comment.yml")
    commands = [c for s in run_scripts(workflow) for c in idflow_commands(s)]
    plan = next(c for c in commands if c[0] == "plan")
    out = plan[plan.index("--out") + 1]
    show = next(c for c in commands if c[0] == "show")
    assert show[1] == out and "--parts-dir" in show and show[show.index("--format") + 1] == "markdown"
    assert plan[plan.index("--format") + 1] == "github"  # problems as annotations on the pull request
    validate = next(c for c in commands if c[0] == "validate")
    assert validate[validate.index("--format") + 1] == "github"
    script = next(
        s["with"]["script"] for s in workflow["jobs"]["plan"]["steps"] if "github-script" in s.get("uses", "")
    )
    assert "<!-- idflow-plan part" in script and "updateComment" in script and "plan-part-" in script


def test_the_environments_recipe_plans_every_environment_and_applies_prod_only_by_name():
    workflow = load(CI / "idflow-environments.yml")
    commands = {job: [c for s in run_scripts({"jobs": {job: j}}) for c in idflow_commands(s)]
                for job, j in workflow["jobs"].items()}  # fmt: skip
    plan = next(c for c in commands["plan"] if c[0] == "plan")
    assert "--all-envs" in plan and "--detailed-exitcode" in plan and plan[plan.index("--format") + 1] == "markdown"
    assert ["apply", "--env", "dev", "state/dev/plan.json", "--auto-approve"] in commands["apply-dev"]
    assert commands["plan-prod"] == [["plan", "--env", "prod"]]
    assert commands["apply-prod"] == [["apply", "--env", "prod", "plan-in/plan.json", "--auto-approve"]]
    assert workflow["jobs"]["apply-prod"]["environment"] and workflow["jobs"]["apply-prod"]["needs"] == "plan-prod"


def test_the_drift_recipe_uses_the_detailed_exit_code_and_json():
    workflow = load(CI / "idflow-drift.yml")
    commands = [c for s in run_scripts(workflow) for c in idflow_commands(s)]
    plan = next(c for c in commands if c[0] == "plan")
    assert "--drift" in plan and "--detailed-exitcode" in plan and plan[plan.index("--format") + 1] == "json"
    assert "schedule" in workflow["on"]


def test_the_checker_rejects_what_does_not_exist():
    with pytest.raises(click.NoSuchOption):
        check_command(["plan", "--no-such-option"])
    with pytest.raises(click.BadParameter):
        check_command(["plan", "--format", "yaml"])
    with pytest.raises(click.UsageError):
        check_command(["no-such-command"])
    with pytest.raises(click.UsageError):
        check_command(["server", "start", "extra-argument"])
    assert check_command(["--log-format", "json", "apply", "plan.json", "-y"]).name == "apply"
    assert idflow_commands("set +e\nidflow plan \\\n  --detailed-exitcode > x.json # note\necho idflow") == [
        ["plan", "--detailed-exitcode"]
    ]


def gitlab_scripts(pipeline: dict) -> dict[str, list[str]]:
    """Job name -> its script lines (before_script, script, after_script), hidden templates included."""
    scripts = {}
    for name, job in pipeline.items():
        if name in GITLAB_KEYWORDS or not isinstance(job, dict):
            continue
        lines = [line for key in ("before_script", "script", "after_script") for line in job.get(key) or []]
        scripts[name] = [line for line in lines if isinstance(line, str)]
    return scripts


def commented_commands(path: Path) -> list[list[str]]:
    """`idflow ...` in backticks in comments, and commented-out `- idflow ...` / `run: idflow ...` lines."""
    comments = [line.split("#", 1)[1] for line in path.read_text().splitlines() if line.lstrip().startswith("#")]
    quoted = [q for c in comments for q in re.findall(r"`idflow ([^`]+)`", c)]
    quoted += [m.group(1) for c in comments if (m := re.match(r"\s*(?:run:|-)\s*idflow (.+)$", c))]
    return [shlex.split(q) for q in quoted]


def test_the_gitlab_recipes_are_the_same_three():
    # The environments recipe is GitHub's only for now (docs/gitops.md says so).
    mirrored = [p.stem for p in RECIPES if p.name != "idflow-environments.yml"]
    assert [p.name.removesuffix(".gitlab-ci.yml") for p in GITLAB_RECIPES] == mirrored
    docs = (CI.parents[1] / "docs" / "gitops.md").read_text()
    for path in GITLAB_RECIPES:
        assert f"gitlab/{path.name}" in docs


@pytest.mark.parametrize("path", GITLAB_RECIPES, ids=lambda p: p.name)
def test_gitlab_recipe_is_a_pipeline_with_idflow_commands_that_exist(path):
    pipeline = yaml.safe_load(path.read_text())
    assert isinstance(pipeline, dict) and pipeline["stages"] == ["validate", "plan", "apply", "drift"]
    scripts = gitlab_scripts(pipeline)
    jobs = {name: job for name, job in pipeline.items() if name in scripts and not name.startswith(".")}
    assert jobs, f"{path.name} has no jobs"
    for name, job in jobs.items():
        assert job.get("stage") in pipeline["stages"], f"{name}: stage {job.get('stage')!r}"
        template = pipeline.get(job.get("extends", ""), {})
        assert job.get("rules") or template.get("rules"), f"{name} runs on every pipeline"
        for need in job.get("needs") or []:
            assert need in jobs, f"{name} needs {need!r}, which is not a job here"
    commands = [c for lines in scripts.values() for line in lines for c in idflow_commands(line)]
    assert commands, f"{path.name} runs no idflow command"
    for args in commands + commented_commands(path):
        check_command(args)


def test_the_gitlab_recipes_do_what_the_github_ones_do():
    def commands(name: str) -> list[list[str]]:
        pipeline = yaml.safe_load((CI / "gitlab" / name).read_text())
        return [c for lines in gitlab_scripts(pipeline).values() for line in lines for c in idflow_commands(line)]

    plan_mr = commands("idflow-plan-comment.gitlab-ci.yml")
    assert [c[0] for c in plan_mr] == ["validate", "plan", "show"]
    assert "--parts-dir" in plan_mr[2] and plan_mr[2][plan_mr[2].index("--format") + 1] == "markdown"
    apply = commands("idflow-apply-on-merge.gitlab-ci.yml")
    saved = next(c for c in apply if c[0] == "plan")
    assert ["apply", saved[saved.index("--out") + 1], "--auto-approve"] in apply  # exactly the saved plan
    drift = commands("idflow-drift.gitlab-ci.yml")
    plan = next(c for c in drift if c[0] == "plan")
    assert "--drift" in plan and "--detailed-exitcode" in plan and plan[plan.index("--format") + 1] == "json"
    pipeline = yaml.safe_load((CI / "gitlab" / "idflow-apply-on-merge.gitlab-ci.yml").read_text())
    assert pipeline["idflow-apply"]["rules"][0]["when"] == "manual"


# -- every use of --detailed-exitcode treats codes other than 0 and 2 as a failure ----------------------

STUB_IDFLOW = '#!/bin/sh\nif [ "$1" = plan ]; then exit "$STUB_PLAN_EXIT"; fi\nexit 0\n'
STUB_PYTHON = "#!/bin/sh\ncat > /dev/null\nexit 0\n"  # the GitLab recipe's issue-writing heredoc


def detailed_exitcode_scripts() -> list[tuple[str, str]]:
    """(where, shell script) for every script in the recipes and docs/gitops.md using --detailed-exitcode."""
    found = []
    for path in RECIPES:
        for job_name, job in load(path)["jobs"].items():
            for step in job["steps"]:
                if "--detailed-exitcode" in step.get("run", ""):
                    found.append((f"{path.name}:{job_name}", step["run"]))
    for path in GITLAB_RECIPES:
        for job_name, lines in gitlab_scripts(yaml.safe_load(path.read_text())).items():
            script = "\n".join(lines)
            if "--detailed-exitcode" in script:
                found.append((f"gitlab/{path.name}:{job_name}", script))
    docs = (CI.parents[1] / "docs" / "gitops.md").read_text()
    for number, block in enumerate(re.findall(r"```(?:sh|bash)\n(.*?)```", docs, re.DOTALL)):
        if "--detailed-exitcode" in block:
            found.append((f"gitops.md block {number}", block))
    return found


def run_with_plan_exit(script: str, code: int, tmp_path: Path) -> int:
    import os
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("idflow", STUB_IDFLOW), ("python", STUB_PYTHON)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "STUB_PLAN_EXIT": str(code),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "HOME": str(tmp_path),
    }
    # GitHub runs `bash -e`; GitLab runs its script lines in one shell with `set -eo pipefail`.
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script], cwd=tmp_path, env={**env, "LANG": os.environ.get("LANG", "C")},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return done.returncode


def test_there_are_scripts_using_the_detailed_exit_code():
    wheres = [where for where, _s in detailed_exitcode_scripts()]
    assert any(w.startswith("idflow-drift.yml") for w in wheres), wheres
    assert any(w.startswith("gitlab/idflow-drift") for w in wheres), wheres
    assert any(w.startswith("gitops.md") for w in wheres), wheres


@pytest.mark.processes
@pytest.mark.parametrize("where_script", detailed_exitcode_scripts(), ids=lambda ws: ws[0])
@pytest.mark.parametrize("code", [1, 3, 4, 130, 141])
def test_every_detailed_exitcode_use_fails_on_codes_other_than_0_and_2(where_script, code, tmp_path):
    """An internal error (3) or an interrupted run (130) is no "no drift": the script must fail."""
    where, script = where_script
    assert run_with_plan_exit(script, code, tmp_path) != 0, f"{where}: `idflow plan` exiting {code} passes"


@pytest.mark.processes
@pytest.mark.parametrize("where_script", detailed_exitcode_scripts(), ids=lambda ws: ws[0])
def test_every_detailed_exitcode_use_passes_on_0(where_script, tmp_path):
    where, script = where_script
    assert run_with_plan_exit(script, 0, tmp_path) == 0, f"{where}: `idflow plan` exiting 0 fails"
