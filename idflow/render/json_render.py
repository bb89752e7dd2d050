"""JSON: the plan file's structure (secret-looking values masked), for bots and drift jobs."""

from __future__ import annotations

import json

from idflow.plan import Plan
from idflow.render import plan_view


def render_json(plan: Plan, *, literals: tuple[str, ...] = ()) -> str:
    return json.dumps(plan_view(plan, literals), indent=2, ensure_ascii=False) + "\n"
