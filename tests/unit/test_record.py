"""The apply record: its key, what an apply adds, its bounds, and reading a bad one without failing."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from idflow.apply import record
from idflow.apply.record import (
    DEFAULT_ENVIRONMENT,
    ApplyRecord,
    parse_record,
    project_key,
    record_definition,
    record_version,
    updated,
    who_applied,
)


def meta(at: str = "2026-01-01T00:00:00+00:00") -> dict:
    return {"at": at, "by": "me@host", "idflow_version": "0", "commit": None, "counts": {"applied": 1}}


def test_an_apply_adds_what_it_wrote_and_drops_what_it_deleted():
    first = updated(None, "p", DEFAULT_ENVIRONMENT, {"task:a": {"name": "a"}, "task:b": {"name": "b"}},
                    {"task:a": {"name": "a", "x": 1}, "task:b": {"name": "b"}}, meta())  # fmt: skip
    assert first.objects["task:a"].written != first.objects["task:a"].held
    assert first.objects["task:a"].body == {"name": "a", "x": 1}
    second = updated(first, "p", DEFAULT_ENVIRONMENT, {"task:b": None}, {"task:b": None}, meta())
    assert sorted(second.objects) == ["task:a"] and len(second.history) == 2


def test_history_and_bodies_are_bounded(monkeypatch):
    monkeypatch.setattr(record, "MAX_BODY_CHARS", 60)
    current = None
    for n in range(record.HISTORY + 5):
        body = {"name": f"t{n}", "description": "x" * 20}
        wrote = {f"task:t{n}": body}
        current = updated(current, "p", "default", wrote, wrote, meta(f"2026-01-{n + 1:02d}"))
    assert len(current.history) == record.HISTORY and current.history[-1]["at"] == "2026-01-25"
    kept = [k for k, e in current.objects.items() if e.body is not None]
    assert kept == ["task:t24"] and len(current.objects) == record.HISTORY + 5  # hashes stay for every object


def test_a_written_record_reads_back_and_a_bad_or_foreign_one_is_a_note():
    rec = updated(None, "p", "default", {"task:a": {"name": "a"}}, {"task:a": {"name": "a"}}, meta())
    raw = record_definition(rec)
    assert raw["version"] == record_version("p", "default") and raw["name"] == "idflow_apply_record"
    back, note = parse_record(raw, "p", "default")
    assert note == "" and back == ApplyRecord("p", "default", back.objects, rec.history)
    assert back.objects["task:a"] == rec.objects["task:a"]
    assert parse_record(raw, "q", "default")[0] is None
    unreadable = (None, "the apply record on the server cannot be read")
    assert parse_record({**raw, "description": "{{"}, "p", "default") == unreadable
    bad_entry = {"format": 1, "project": "p", "environment": "default", "objects": {"x": 1}}
    assert parse_record({**raw, "description": json.dumps(bad_entry)}, "p", "default") == unreadable
    assert parse_record(None, "p", "default")[1].startswith("no apply record")


def test_record_versions_differ_per_project_and_environment():
    versions = {record_version(p, e) for p in ("a", "b", "team@x.io") for e in ("default", "prod")}
    assert len(versions) == 6 and all(0 < v < 2**31 for v in versions)


def test_project_key_prefers_the_config_then_owner_then_git_origin_without_credentials(tmp_path: Path, monkeypatch):
    assert project_key(SimpleNamespace(project="docflow", owner_email="t@x.io", root=tmp_path)) == "docflow"
    assert project_key(SimpleNamespace(project=None, owner_email="t@x.io", root=tmp_path)) == "t@x.io"
    monkeypatch.setattr(record, "_git", lambda root, *a: "https://user:SECRET@git.example.com/team/repo.git")
    assert project_key(SimpleNamespace(project=None, owner_email=None, root=tmp_path)) == (
        "git:https://git.example.com/team/repo.git"
    )
    monkeypatch.setattr(record, "_git", lambda root, *a: None)
    folder = project_key(SimpleNamespace(project=None, owner_email=None, root=tmp_path / "myproj"))
    assert folder == f"folder:{(tmp_path / 'myproj').resolve()}"


def test_who_applied_names_the_ci_job_or_user_at_host():
    assert who_applied({"GITHUB_RUN_ID": "77", "GITHUB_TOKEN": "secret"}) == "ci:GITHUB_RUN_ID=77"
    assert who_applied({"CI_JOB_ID": "9"}) == "ci:CI_JOB_ID=9"
    assert "@" in who_applied({})
