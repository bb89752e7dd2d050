"""Is a plan file self-consistent? Checked on every read, before anything is rendered or sent.

The checksum only shows that a file was not cut or edited by accident: anyone can recompute it. A plan
that idflow made always holds together; an edited one may not, and then the renderings (which name
``change.name`` and show ``change.diff``) would not say what apply sends (``change.after``). So every
change must agree with itself, and a plan that does not is refused as a whole:

* the action matches which of before/after are present (the table in ``idflow.plan.model``);
* the bodies' ``name`` (and, for workflows, ``version``) are the change's own;
* the diff is exactly what ``idflow.plan.diffing`` finds between before and after (none for create/delete);
* blockers only on deletes of kinds others use; every change apply executes has its fingerprint (and such
  a delete its usage fingerprint), a create's being "absent"; no object appears twice.
"""

from __future__ import annotations

from idflow.kinds.normal import canonical_json
from idflow.kinds.registry import users_of_kind
from idflow.plan.diffing import field_diffs
from idflow.plan.model import Action, Change, Plan

_PRESENCE = {  # action -> (before present, after present)
    Action.CREATE: (False, True),
    Action.UPDATE: (True, True),
    Action.DELETE: (True, False),
    Action.NOOP: (True, True),
}


def plan_problems(plan: Plan) -> list[str]:
    """Every inconsistency, one sentence each (empty: the plan holds together)."""
    problems: list[str] = []
    seen: set[str] = set()
    for index, change in enumerate(plan.changes):
        where = f"change {index + 1} ({change.kind.value} {change.name!r})"
        problems.extend(f"{where}: {p}" for p in change_problems(change))
        if change.key in seen:
            problems.append(f"{where}: {change.key} appears more than once")
        seen.add(change.key)
        if change.action is Action.NOOP:
            continue
        if change.key not in plan.fingerprints:
            problems.append(f"{where}: no fingerprint for {change.key} (apply could not tell whether it is stale)")
        elif change.action is Action.CREATE and plan.fingerprints[change.key] is not None:
            problems.append(f"{where}: a create whose fingerprint says the object exists")
        if _used(change) and change.action is Action.DELETE and change.key not in plan.usage_fingerprints:
            problems.append(f"{where}: no usage fingerprint for {change.key}, a delete of a used {change.kind.value}")
    return problems


def change_problems(change: Change) -> list[str]:
    problems: list[str] = []
    if not change.name:
        problems.append("an empty name")
    want_before, want_after = _PRESENCE[change.action]
    if (change.before is not None) != want_before or (change.after is not None) != want_after:
        problems.append(
            f"action {change.action.value} needs before {'set' if want_before else 'absent'} and after "
            f"{'set' if want_after else 'absent'}"
        )
        return problems
    versioned = change.kind.versioned
    if versioned and (not isinstance(change.version, int) or isinstance(change.version, bool)):
        problems.append(f"a {change.kind.value} change without a version")
    if not versioned and change.version is not None:
        problems.append(f"a {change.kind.value} change with a version")
    for side, body in (("before", change.before), ("after", change.after)):
        if body is None:
            continue
        if body.get("name") != change.name:
            problems.append(f"{side}.name is {body.get('name')!r}, not the change's name")
        if versioned and body.get("version") != change.version:
            problems.append(f"{side}.version is {body.get('version')!r}, not the change's version {change.version}")
    if change.blockers and not (_used(change) and change.action is Action.DELETE):
        problems.append("blockers on a change that is not a delete of an object others use")
    if change.before is not None and change.after is not None:
        expected = field_diffs(change.before, change.after)
    else:
        expected = ()
    if change.action is Action.NOOP and expected:
        problems.append("a no-op whose before and after differ")
    elif _diff_json(change.diff) != _diff_json(expected):
        problems.append("the diff does not follow from before and after")
    return problems


def _used(change: Change) -> bool:
    return bool(users_of_kind(change.kind))


def _diff_json(diffs: tuple) -> str:  # type: ignore[type-arg]
    return canonical_json([d.to_dict() for d in diffs])
