"""The task-file read cache (``idflow/repo/read_cache.py``): a warm run gives exactly what reading every file
gives, reads again what changed, and never lets a bad cache change a result."""

from __future__ import annotations

import ast
import json
import shutil
import sys
from pathlib import Path

import pytest

from idflow.repo import read_cache, task_files
from idflow.repo.read_cache import CACHE_NAME, READER_MODULES, ReadCache
from idflow.repo.task_files import discover_tasks_partial

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "reliability" / "hostile" / "tasks"
EXAMPLE = ROOT / "examples" / "docflow" / "idflow" / "tasks"
OWNER = "team@example.com"


def _project(tmp_path: Path) -> Path:
    """A tasks tree of every kind of file there is: the example's workers and every hostile task case
    (syntax errors, non-UTF-8 bytes, duplicates, values read from the environment, ...)."""
    tasks = tmp_path / "idflow" / "tasks"
    shutil.copytree(EXAMPLE, tasks, ignore=shutil.ignore_patterns("__pycache__"))
    for case in sorted(HOSTILE.iterdir()):
        if case.is_dir():
            for path in case.rglob("*"):
                if path.is_file():
                    target = tasks / path.relative_to(case)
                    target = target.with_name(target.name.removesuffix(".in"))
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(path.read_bytes())
        else:
            name = case.name.removesuffix(".py.in")
            (tasks / name).mkdir()
            (tasks / name / f"{name}.py").write_bytes(case.read_bytes())
    return tasks


def _discover(tasks: Path, cache: Path | None, owner: str = OWNER):
    return discover_tasks_partial(tasks, owner_email=owner, import_root=tasks.parent.parent, cache_dir=cache)


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    read: list[str] = []
    real = task_files.read_file

    def counted(path, data, owner_email):
        read.append(path)
        return real(path, data, owner_email)

    monkeypatch.setattr(task_files, "read_file", counted)
    return read


def test_a_warm_run_gives_what_reading_every_file_gives(tmp_path, monkeypatch):
    tasks = _project(tmp_path)
    uncached = _discover(tasks, None)
    assert len(uncached[0]) >= 5 and len(uncached[1]) >= 20, "the corpus has tasks and problems"
    cache = tmp_path / "state" / "cache"
    cold = _discover(tasks, cache)
    assert (cache / CACHE_NAME).is_file()
    not_kept = _not_kept(tasks)
    read = _counting(monkeypatch)
    warm = _discover(tasks, cache)
    assert warm == cold == uncached
    assert read == not_kept, "a file read again although unchanged"
    assert len(json.loads((cache / CACHE_NAME).read_text())["files"]) > 40


def _not_kept(tasks: Path) -> list[str]:
    """The files whose result is read every time: ``deep_expression`` parses into a RecursionError, which
    depends on the stack left, not on the file."""
    not_kept = [str(tasks / "deep_expression" / "deep_expression.py")]
    assert not task_files.read_file(not_kept[0], Path(not_kept[0]).read_bytes(), OWNER)[2]
    return not_kept


def test_a_changed_file_is_read_again_and_only_it(tmp_path, monkeypatch):
    tasks = _project(tmp_path)
    cache = tmp_path / "cache"
    _discover(tasks, cache)
    source = tasks / "classify" / "classify.py"
    text = source.read_text()
    assert "retry_count=1," in text
    source.write_text(text.replace("retry_count=1,", "retry_count=7,", 1))
    not_kept = _not_kept(tasks)
    read = _counting(monkeypatch)
    tasks_found, problems = _discover(tasks, cache)
    assert sorted(read) == sorted([str(source), *not_kept])
    assert next(t for t in tasks_found if t.name == "docflow_classify").definition["retryCount"] == 7
    assert (tasks_found, problems) == _discover(tasks, None)


def test_another_owner_or_reader_does_not_use_the_cache(tmp_path, monkeypatch):
    tasks = _project(tmp_path)
    cache = tmp_path / "cache"
    _discover(tasks, cache)
    read = _counting(monkeypatch)
    other = _discover(tasks, cache, owner="other@example.com")
    assert read, "a cache made for another owner was used"
    assert {t.definition.get("ownerEmail") for t in other[0]} == {"other@example.com"}
    read.clear()
    monkeypatch.setattr(read_cache, "FORMAT", read_cache.FORMAT + 1)  # as a changed reader would
    assert _discover(tasks, cache, owner="other@example.com") == other
    assert read, "a cache of another reader was used"


@pytest.mark.parametrize(
    "damage",
    [
        b"{not json",
        b"[]",
        b'{"reader": "x", "files": {}}',
        "files-malformed",
        "entries-wrong-types",
    ],
)
def test_a_damaged_cache_changes_no_result(tmp_path, damage):
    tasks = _project(tmp_path)
    cache = tmp_path / "cache"
    expected = _discover(tasks, cache)
    path = cache / CACHE_NAME
    if isinstance(damage, bytes):
        path.write_bytes(damage)
    else:
        data = json.loads(path.read_text())
        for name, (digest, _result) in data["files"].items():
            if damage == "files-malformed":
                data["files"][name] = [digest, "garbage"]
            else:
                data["files"][name] = [digest, [[[1, "line", 0, None]], [[None] * 10]]]
        path.write_text(json.dumps(data))
    assert _discover(tasks, cache) == expected
    assert _discover(tasks, cache) == expected


def test_a_link_planted_at_the_cache_is_not_followed(tmp_path):
    tasks = _project(tmp_path)
    cache = tmp_path / "cache"
    expected = _discover(tasks, cache)
    secret = tmp_path / "secret.json"
    secret.write_text((cache / CACHE_NAME).read_text())
    planted = secret.read_text()
    (cache / CACHE_NAME).unlink()
    (cache / CACHE_NAME).symlink_to(secret)
    assert _discover(tasks, cache) == expected
    assert not (cache / CACHE_NAME).is_symlink(), "the link was replaced by the cache, not written through"
    assert secret.read_text() == planted


def test_an_unwritable_cache_folder_is_only_slower(tmp_path):
    tasks = _project(tmp_path)
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    assert _discover(tasks, blocked / "cache") == _discover(tasks, None)


def test_only_values_json_gives_back_are_kept(tmp_path):
    cache = ReadCache(tmp_path, "r")
    cache.put("a.py", "d1", [[], [["t", {"x": float("nan")}]]])
    cache.put("b.py", "d2", [[], [["t", {"x": (1, 2)}]]])
    cache.put("c.py", "d3", [[], [["t", {1: "int key"}]]])
    cache.put("d.py", "d4", [[], [["t", {"x": [1, 2.0, True, None, "s"]}]]])
    cache.save()
    again = ReadCache(tmp_path, "r")
    assert [again.get(p, d) for p, d in (("a.py", "d1"), ("b.py", "d2"), ("c.py", "d3"))] == [None] * 3
    assert again.get("d.py", "d4") == [[], [["t", {"x": [1, 2.0, True, None, "s"]}]]]
    assert again.get("d.py", "other digest") is None


def _idflow_imports(module: str) -> set[str]:
    """The idflow modules ``module``'s source imports (at any depth of its code)."""
    path = ROOT / (module.replace(".", "/") + ".py")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("idflow"):
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if (ROOT / (name.replace(".", "/") + ".py")).is_file() else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("idflow"))
    return {m for m in found if (ROOT / (m.replace(".", "/") + ".py")).is_file()}


def test_the_reader_fingerprint_covers_every_module_the_reader_uses():
    closure, todo = set(), ["idflow.repo.task_files"]
    while todo:
        module = todo.pop()
        if module not in closure:
            closure.add(module)
            todo.extend(_idflow_imports(module))
    closure.discard("idflow.repo.read_cache")  # the cache itself, not the reading
    assert closure == set(READER_MODULES)
    assert all(name in sys.modules for name in READER_MODULES)
