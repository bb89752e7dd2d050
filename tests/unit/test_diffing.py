"""field_diffs compares the top level key by key and hands only differing nested values to DeepDiff:
it must find exactly what one DeepDiff of the whole definitions finds."""

import random

import pytest
from deepdiff import DeepDiff
from deepdiff.helper import NotPresent

from idflow.kinds.normal import canonical_json
from idflow.plan.diffing import _sort_key, field_diffs, format_path
from idflow.plan.frozen import freeze
from idflow.plan.model import FieldDiff


def whole_deepdiff(before, after):  # type: ignore[no-untyped-def]
    """The reference: one DeepDiff over both definitions (what field_diffs did before)."""
    if canonical_json(before) == canonical_json(after):
        return ()
    found = []
    for levels in DeepDiff(before, after, view="tree", verbose_level=2).values():
        for level in levels:
            old = None if isinstance(level.t1, NotPresent) else level.t1
            new = None if isinstance(level.t2, NotPresent) else level.t2
            found.append(FieldDiff(format_path(level.path(output_format="list"), after, before), old, new))
    return tuple(sorted(found, key=lambda d: _sort_key(d.path)))


TASK = {
    "name": "t",
    "retryCount": 3,
    "timeoutSeconds": 0,
    "inputKeys": ["a", "b"],
    "inputTemplate": {"x": {"y": [1, 2]}},
    "description": None,
}
FORKED = {"name": "b", "taskReferenceName": "rb"}
WORKFLOW = {
    "name": "w",
    "version": 1,
    "tasks": [
        {"name": "a", "taskReferenceName": "ra", "type": "SIMPLE", "inputParameters": {"k": 1}},
        {"name": "f", "taskReferenceName": "rf", "type": "FORK_JOIN", "forkTasks": [[FORKED]]},
    ],
    "outputParameters": {},
}  # fmt: skip

CASES = [
    ("equal", TASK, dict(TASK)),
    ("scalar", TASK, {**TASK, "retryCount": 4}),
    ("int_float", TASK, {**TASK, "retryCount": 3.0}),
    ("int_bool", {**TASK, "retryCount": 1}, {**TASK, "retryCount": True}),
    ("added", TASK, {**TASK, "ownerEmail": "a@b"}),
    ("added_nested", TASK, {**TASK, "inputSchema": {"type": "x", "v": [1]}}),
    ("removed", TASK, {k: v for k, v in TASK.items() if k != "inputKeys"}),
    ("none_removed", TASK, {k: v for k, v in TASK.items() if k != "description"}),
    ("list_item", TASK, {**TASK, "inputKeys": ["a", "c"]}),
    ("list_longer", TASK, {**TASK, "inputKeys": ["a", "b", "c"]}),
    ("deep", TASK, {**TASK, "inputTemplate": {"x": {"y": [1, 3]}, "z": 1}}),
    ("deep_float", TASK, {**TASK, "inputTemplate": {"x": {"y": [1, 2.0]}}}),
    ("dict_to_list", TASK, {**TASK, "inputTemplate": [1]}),
    ("scalar_to_dict", TASK, {**TASK, "timeoutSeconds": {"a": 1}}),
    ("workflow_nested", WORKFLOW, {**WORKFLOW, "tasks": [WORKFLOW["tasks"][0], {**WORKFLOW["tasks"][1],
                                   "forkTasks": [[{**FORKED, "name": "c"}]]}]}),
    ("workflow_and_scalar", WORKFLOW, {**WORKFLOW, "version": 2, "tasks": WORKFLOW["tasks"][:1]}),
]  # fmt: skip


@pytest.mark.parametrize(("before", "after"), [pytest.param(b, a, id=i) for i, b, a in CASES])
def test_the_same_diffs_as_one_deepdiff_of_the_whole(before, after):
    expected = whole_deepdiff(before, after)
    assert field_diffs(freeze(before), freeze(after)) == expected
    assert field_diffs(before, after) == expected


def test_random_edits_agree_with_one_deepdiff():
    rng = random.Random(19)
    values = [0, 1, 1.0, True, None, "s", [], [1, 2], {"a": 1}, {"a": [1, {"b": 2}]}]
    differing = 0
    for _ in range(300):
        # Normalised definitions carry (nearly) the same keys on both sides. Where they share few, one
        # DeepDiff reports the whole root as changed (threshold_to_diff_deeper); field_diffs names the keys.
        before = {"name": "t", **{f"k{i}": rng.choice(values) for i in range(6)}}
        after = dict(before)
        after.pop(f"k{rng.randint(0, 9)}", None)
        for _edit in range(rng.randint(0, 3)):
            after[f"k{rng.randint(0, 6)}"] = rng.choice(values)
        expected = whole_deepdiff(before, after)
        differing += bool(expected)
        assert field_diffs(freeze(before), freeze(after)) == expected, (before, after)
    assert differing > 100  # the edits made real differences, not only equal pairs


def test_definitions_sharing_few_keys_get_a_diff_per_key_not_one_root_change():
    found = field_diffs({"name": "t"}, {"name": "t", "retryCount": 1, "inputKeys": ["a"]})
    assert found == (FieldDiff("inputKeys", None, ["a"]), FieldDiff("retryCount", None, 1))
