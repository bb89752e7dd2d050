"""``idflow diff`` output: pure functions of a ``Comparison`` (text and JSON), secrets masked."""

from __future__ import annotations

import json
from typing import Any

from idflow.masking import MASK, mask_secrets, redact_urls
from idflow.plan.compare import Comparison, Side
from idflow.render import _path_is_secret, one_line


def comparison_view(comparison: Comparison, literals: tuple[str, ...] = ()) -> dict[str, Any]:
    a, b = comparison.a, comparison.b

    def value(path: str, raw: Any) -> Any:
        if raw is None:
            return None
        return MASK if _path_is_secret(path) else mask_secrets(raw, literals)

    return {
        "environments": [
            {"name": env.name, "server_url": redact_urls(env.server_url), "owner_email": env.owner_email}
            for env in (a, b)
        ],
        "summary": comparison.counts(),
        "objects": [
            {
                "kind": d.kind.value,
                "name": d.name,
                "version": d.version,
                "status": {Side.ONLY_A: f"only in {a.name}", Side.ONLY_B: f"only in {b.name}"}.get(d.side, "differs"),
                "diff": [
                    {
                        "path": f.path,
                        a.name: value(f.path, f.before),
                        b.name: value(f.path, f.after),
                        "set_by": (d.set_by or {}).get(f.path),
                    }
                    for f in d.diff
                ],
            }
            for d in comparison.differences
        ],
    }


def render_comparison_json(comparison: Comparison, *, literals: tuple[str, ...] = ()) -> str:
    return json.dumps(comparison_view(comparison, literals), indent=2, ensure_ascii=False) + "\n"


def render_comparison_text(comparison: Comparison, *, literals: tuple[str, ...] = ()) -> str:
    from idflow.render.text import change_texts

    view = comparison_view(comparison, literals)
    first, second = view["environments"]
    a, b = first["name"], second["name"]
    lines = [
        one_line(f"Environment {a} ({first['server_url']}) compared with {b} ({second['server_url']}):"),
        "  managed objects of either, as the servers hold them (local files not read)",
    ]
    glyphs = {f"only in {a}": "<", f"only in {b}": ">", "differs": "~"}
    for item in view["objects"]:
        label = item["name"] + (f" v{item['version']}" if item["version"] is not None else "")
        lines.append(one_line(f"  {glyphs[item['status']]} {item['kind']} {label}  ({item['status']})"))
        for field in item["diff"]:
            left, right = change_texts(field[a], field[b])
            by = f"  (override of {field['set_by']})" if field["set_by"] else ""
            lines.append(one_line(f"      {field['path']}: {a} {left} | {b} {right}{by}"))
    counts = view["summary"]
    if view["objects"]:
        lines.append(
            f"{len(view['objects'])} difference(s): {counts['only-in-a']} only in {a}, {counts['only-in-b']} only "
            f"in {b}, {counts['differs']} held differently; {counts['same']} the same."
        )
    else:
        lines.append(f"No differences: {counts['same']} managed object(s), the same on both servers.")
    return "\n".join(lines) + "\n"
