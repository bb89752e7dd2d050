"""The GitHub Actions recipes in examples/ci: valid YAML, and every `idflow ...` command in them exists."""

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


def test_the_recipes_are_the_three_documented_ones():
    assert [p.name for p in RECIPES] == ["idflow-apply-on-merge.yml", "idflow-drift.yml", "idflow-plan-comment.yml"]
    docs = (CI.parents[1] / "docs" / "gitops.md").read_text()
    for path in RECIPES:
        assert path.name in docs


def test_the_plan_recipe_posts_markdown_parts_and_finds_its_comments_by_marker():
    workflow = load(CI / "idflow-plan-comment.yml")
    commands = [c for s in run_scripts(workflow) for c in idflow_commands(s)]
    plan = next(c for c in commands if c[0] == "plan")
    assert "--parts-dir" in plan and plan[plan.index("--format") + 1] == "markdown"
    script = next(
        s["with"]["script"] for s in workflow["jobs"]["plan"]["steps"] if "github-script" in s.get("uses", "")
    )
    assert "<!-- idflow-plan part" in script and "updateComment" in script and "plan-part-" in script


def test_the_drift_recipe_uses_the_detailed_exit_code_and_json():
    workflow = load(CI / "idflow-drift.yml")
    commands = [c for s in run_scripts(workflow) for c in idflow_commands(s)]
    plan = next(c for c in commands if c[0] == "plan")
    assert "--detailed-exitcode" in plan and plan[plan.index("--format") + 1] == "json"
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
