"""``idflow plan --revert REPORT``: a plan that puts back what one apply changed.

Every apply report (``state/apply-*.json``) carries, per change that landed, the definition the server held
before (``before``: None for a create) and a hash of what apply wrote (``after_sha256``: None for a delete).
A revert recreates what the apply deleted, restores what it updated and deletes what it created, through the
planner like any plan (blockers, ownership, the stale check, confirmation). An object whose server state is
no longer what the apply left is refused, with the reason, and kept as it is.

Reports hold nothing secret: values under secret-looking keys and known secrets are masked in ``before``. A
masked value cannot be put back, so an object whose ``before`` holds one is refused and said so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idflow.errors import IdflowError
from idflow.kinds.normal import content_hash
from idflow.masking import MASK
from idflow.plan.model import Action, Change, Kind, thaw

if TYPE_CHECKING:
    from idflow.config import Config
    from idflow.plan.inputs import ActualState, DesiredState

REPORT_LIMIT = 256 * 1024 * 1024


def revert_fields(change: Change, literals: tuple[str, ...] | None = None) -> dict[str, Any]:
    """What an apply report keeps of one change so that it can be reverted (nothing secret). ``literals``:
    the secrets to mask, gathered once for a report's every change (default: gathered now).

    The frozen bodies are masked and hashed as they are: masking copies them anyway, and they hash as the
    plain JSON they hold."""
    from idflow.masking import all_secrets, mask_secrets

    before = change.before if change.action is not Action.CREATE else None
    after = change.after if change.action is not Action.DELETE else None
    if literals is None:
        literals = tuple(all_secrets())
    return {
        "before": mask_secrets(before, literals) if before is not None else None,
        "after_sha256": content_hash(after) if after is not None else None,
    }


@dataclass(frozen=True)
class Revert:
    desired: DesiredState
    targets: tuple[str, ...]
    refused: tuple[str, ...]
    count: int  # objects the revert puts back


def read_report(path: Path) -> dict[str, Any]:
    from idflow.repo import safefile

    try:
        report = json.loads(safefile.read_bytes(path, limit=REPORT_LIMIT))
    except (OSError, safefile.UnsafeFile) as exc:
        raise IdflowError(f"{path}: cannot read the apply report: {getattr(exc, 'strerror', None) or exc}") from None
    except ValueError as exc:
        raise IdflowError(f"{path}: not an apply report (not JSON: {exc})") from None
    if not isinstance(report, dict) or not isinstance(report.get("results"), list):
        raise IdflowError(f"{path}: not an apply report (no results)")
    return report


def plan_revert(config: Config, report_path: Path, actual: ActualState) -> Revert:
    """The desired state that undoes the report's apply, for the objects it changed, given the server now."""
    from idflow.masking import redact_urls
    from idflow.plan.inputs import DesiredObject, DesiredState

    report = read_report(report_path)
    if redact_urls(str(report.get("server_url", ""))).rstrip("/") != redact_urls(config.server_url).rstrip("/"):
        raise IdflowError(
            f"{report_path}: the apply was made against {report.get('server_url')}, but the configured server is "
            f"{redact_urls(config.server_url)}; revert it against that server"
        )
    landed = [r for r in report["results"] if isinstance(r, dict) and r.get("status") == "applied"]
    if not landed:
        raise IdflowError(f"{report_path}: no change of that apply landed; there is nothing to revert")
    if any("after_sha256" not in r for r in landed):
        raise IdflowError(
            f"{report_path}: the report was written by an idflow without revert support (it does not hold the "
            "state before the apply); restore from an export instead (idflow plan --from DIR)"
        )
    source = f"{config.relative(report_path)}:1"
    tasks: dict[str, DesiredObject] = {}
    workflows: dict[tuple[str, int], DesiredObject] = {}
    names: list[str] = []
    refused: list[str] = []
    count = 0
    for result in landed:
        kind, name = Kind(result["kind"]), str(result["name"])
        version = int(result["version"] or 1) if kind is Kind.WORKFLOW else None
        label = f"{kind.value} {name}" + (f" v{version}" if version is not None else "")
        now = actual.tasks.get(name) if kind is Kind.TASK else actual.workflows.get((name, version or 1))
        now_hash = content_hash(thaw(now.definition)) if now is not None else None
        names.append(name)
        before = result.get("before")
        problem = None
        if now_hash != result.get("after_sha256"):
            state = "deleted" if now is None else ("created again" if result.get("after_sha256") is None else "changed")
            problem = f"{label}: {state} on the server since that apply; left as it is"
        elif before is not None and _masked(before):
            problem = (
                f"{label}: the report masks a secret-looking value of its earlier definition ({_masked(before)}), "
                "which cannot be put back; left as it is (restore it from an export)"
            )
        if problem:
            refused.append(problem)
            if now is not None:
                _put(tasks, workflows, kind, name, version, DesiredObject(thaw(now.definition), source))
            continue
        count += 1
        if before is not None:
            _put(tasks, workflows, kind, name, version, DesiredObject(before, source))
    # The other versions of each named workflow stay as they are (in scope through the name).
    for (name, version), obj in actual.workflows.items():
        if name in names and (name, version) not in workflows and not _reverted_away(landed, name, version):
            workflows[(name, version)] = DesiredObject(thaw(obj.definition), source)
    for name, obj in actual.tasks.items():
        if name in names and name not in tasks and not _reverted_away(landed, name, None):
            tasks[name] = DesiredObject(thaw(obj.definition), source)
    from types import MappingProxyType

    desired = DesiredState(MappingProxyType(tasks), MappingProxyType(workflows), manages_workflows=True)
    return Revert(desired, tuple(dict.fromkeys(names)), tuple(refused), count)


def _put(tasks: dict, workflows: dict, kind: Kind, name: str, version: int | None, obj: Any) -> None:
    if kind is Kind.TASK:
        tasks[name] = obj
    else:
        workflows[(name, version or 1)] = obj


def _reverted_away(landed: list[dict[str, Any]], name: str, version: int | None) -> bool:
    """Whether the report created this object (the revert deletes it: it is not desired)."""
    return any(
        r["name"] == name and r.get("action") == "create"
        and (version is None if r["kind"] == "task" else int(r.get("version") or 1) == version)
        for r in landed
    )  # fmt: skip


def _masked(value: Any, path: str = "") -> str:
    """The path of the first masked value in ``value`` ('' when none)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _masked(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _masked(item, f"{path}[{index}]")
            if found:
                return found
    elif isinstance(value, str) and MASK in value:
        return path or "(the value)"
    return ""
