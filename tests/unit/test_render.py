import json

from idflow.render.json_render import render_json
from idflow.render.markdown import render_markdown
from idflow.render.text import render_text
from tests.factories import actual, desired, plan_of, simple, workflow


def mixed_plan(**options):
    return plan_of(
        desired({"name": "a_new"}, {"name": "b_upd", "retryCount": 5, "inputTemplate": {"apiKey": "s3cr3t", "x": 1}}),
        actual(
            {"name": "b_upd", "inputTemplate": {"apiKey": "old-secret", "x": 1}},
            {"name": "c_old"},
            {"name": "d_used"},
            workflows=[workflow("wf", 2, [simple("d_used")])],
        ),
        **options,
    )


def test_text_glyphs_fields_blockers_and_summary():
    text = render_text(mixed_plan())
    assert "  + task a_new" in text
    assert "  ~ task b_upd" in text and "retryCount: 3 -> 5" in text
    assert "  - task c_old" in text
    assert "  ! task d_used" in text and "used by workflow wf v2 at" in text
    assert text.rstrip().endswith("Plan: 1 to create, 1 to update, 2 to delete (1 blocked).")
    assert "\x1b[" not in text


def test_text_colour_only_when_asked_and_forced_wording():
    assert "\x1b[" in render_text(mixed_plan(), color=True)
    forced = render_text(mixed_plan(force=True))
    assert "  - task d_used" in forced and "FORCED although in use" in forced and "used by workflow wf" in forced


def test_no_changes_line():
    assert render_text(plan_of(desired({"name": "a"}), actual({"name": "a"}))).strip() == (
        "No changes. The server matches the local definitions."
    )


def test_secrets_masked_in_every_renderer():
    plan = mixed_plan()
    outputs = [render_text(plan), render_json(plan), *render_markdown(plan)]
    for output in outputs:
        assert "s3cr3t" not in output and "old-secret" not in output
    assert '"apiKey": "***"' in render_json(plan)


def test_literal_secrets_masked_anywhere():
    plan = plan_of(desired({"name": "a", "description": "token is KEYVALUE123"}), actual())
    assert "KEYVALUE123" not in render_text(plan, literals=("KEYVALUE123",))
    assert "KEYVALUE123" not in render_json(plan, literals=("KEYVALUE123",))


def test_json_has_plan_file_shape():
    doc = json.loads(render_json(mixed_plan()))
    assert doc["summary"] == {"create": 1, "update": 1, "delete": 2, "no-op": 0, "blocked": 1}
    assert {c["action"] for c in doc["changes"]} == {"create", "update", "delete"}
    assert doc["format_version"] == "1.3" and "fingerprints" in doc and "usage_fingerprints" in doc
    assert doc["unmanaged_warnings"] == []


def test_markdown_single_part_has_summary_table_and_details():
    (part,) = render_markdown(mixed_plan())
    assert part.startswith("<!-- idflow-plan part 1 of 1 -->\n## idflow plan")
    assert part.index("Plan: 1 to create") < part.index("| | kind | name |") < part.index("<details>")
    assert part.count("<details>") == 4 and "**(blocked)**" in part


def test_markdown_split_of_2000_changes():
    tasks = [{"name": f"task_{i:04d}", "description": "x" * 200} for i in range(2000)]
    plan = plan_of(desired(*tasks), actual())
    parts = render_markdown(plan, max_chars=65_000)
    assert len(parts) > 1
    assert all(len(p) <= 65_000 for p in parts)
    assert "Plan: 2000 to create" in parts[0]
    assert parts[0].startswith(f"<!-- idflow-plan part 1 of {len(parts)} -->")
    whole = "".join(parts)
    for task in tasks:
        assert whole.count(f"<code>{task['name']}</code>") >= 1 and f"+ task {task['name']}</code>" in whole


def test_markdown_oversized_change_is_cut_visibly():
    plan = plan_of(desired({"name": "big", "description": "y" * 5000}), actual())
    parts = render_markdown(plan, max_chars=2000)
    assert all(len(p) <= 2000 for p in parts)
    assert "cut here" in "".join(parts)


def test_control_characters_in_names_are_escaped_in_text():
    plan = plan_of(desired(), actual({"name": "evil\x1b]0;pwned\x07name"}))
    text = render_text(plan, color=True)
    assert "\x07" not in text and "]0;pwned" in text and "\\x1b]0;pwned\\x07name" in text


def test_unmanaged_objects_are_one_line_unless_verbose():
    plan = plan_of(
        desired(),
        actual({"name": "x", "ownerEmail": "o@x.io"}, {"name": "y", "ownerEmail": "o@x.io"}),
        owner_email="me@x.io",
    )
    text = render_text(plan)
    assert "? 2 tasks on the server only, not managed here: left alone (-v lists them)" in text
    assert "? task x" not in text and "? task x" in render_text(plan, show_noop=True)
    (part,) = render_markdown(plan)
    assert "Left alone: 2 tasks on the server only" in part and "<code>task:y</code>" in part


def test_warnings_about_other_owners_are_one_line_unless_verbose():
    theirs = [workflow(f"theirs_{i}", 1, [simple(f"ghost_{i}")], ownerEmail="o@x.io") for i in range(4)]
    mine = workflow("mine", 1, [simple("ghost_mine")], ownerEmail="me@x.io")
    plan = plan_of(desired(), actual(workflows=[*theirs, mine]), owner_email="me@x.io")
    text = render_text(plan)
    assert "Warning: workflow mine v1 uses task 'ghost_mine'" in text
    assert "ghost_0" not in text
    assert "Note: 4 warnings about workflows not managed here (-v lists them)" in text
    verbose = render_text(plan, show_noop=True)
    assert all(f"Note (not managed here): workflow theirs_{i} v1 uses task 'ghost_{i}'" in verbose for i in range(4))
    (part,) = render_markdown(plan)
    assert "4 warnings about workflows not managed by this project</summary>" in part and "ghost_3" in part
    assert json.loads(render_json(plan))["unmanaged_warnings"] == list(plan.unmanaged_warnings)
    quiet = plan_of(desired(), actual(workflows=[mine]), owner_email="me@x.io")
    assert "not managed" not in render_text(quiet) and "not managed" not in render_markdown(quiet)[0]


def test_a_conflict_shows_both_diffs_against_the_last_apply_and_masks_secrets_in_them():
    from idflow.render.markdown import render_markdown
    from tests.factories import applied_record

    base = actual({"name": "a", "retryCount": 1, "inputTemplate": {"api_token": "OLD"}})
    now = actual({"name": "a", "retryCount": 5, "inputTemplate": {"api_token": "HANDEDIT"}})
    local = desired({"name": "a", "retryCount": 3, "inputTemplate": {"api_token": "OLD"}})
    plan = plan_of(local, now, owner_email="me@x.io", record=applied_record(base))
    text = render_text(plan)
    assert "(conflict)" in text
    assert "changed locally since the last apply:\n        retryCount: 1 -> 3" in text
    assert "changed on the server since the last apply:\n        inputTemplate.api_token:" in text
    assert "retryCount: 1 -> 5" in text and "HANDEDIT" not in text and "OLD" not in text
    markdown = "\n".join(render_markdown(plan))
    assert "**Changed locally since the last apply:**" in markdown and "HANDEDIT" not in markdown
