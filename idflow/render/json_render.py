"""JSON: the plan file's structure (secret-looking values masked), for bots and drift jobs.

Safe by construction for any name (JSON escapes what needs escaping); ``forced_deletes`` repeats, for
consumers that only scan the top level, which task deletes a plan made with ``--force`` executes
although workflows use them.
"""

from __future__ import annotations

import json

from idflow.plan.model import Plan
from idflow.render import forced_deletes, plan_view


def render_json(plan: Plan, *, literals: tuple[str, ...] = ()) -> str:
    view = plan_view(plan, literals)
    view["forced_deletes"] = forced_deletes(view)
    if view.get("environment"):  # named first, as every rendering does
        view = {"environment": view["environment"], **view}
    return json.dumps(view, indent=2, ensure_ascii=False) + "\n"
