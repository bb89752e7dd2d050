"""The task-file read cache (``idflow/repo/read_cache.py``): a warm run gives exactly what reading every file
gives, reads again what changed, and never lets a bad cache change a result."""

from __future__ import annotations

import ast
import json
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from idflow.repo import read_cache, task_files
from idflow.repo.read_cache import TASK_FILES, WORKFLOW_FILES, ReadCache
from idflow.repo.task_files import discover_tasks_partial

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "reliability" / "hostile" / "tasks"
EXAMPLE = ROOT / "examples" / "docflow" / "idflow" / "tasks"
OWNER = "team@example.com"


def _project(tmp_path: Path) -> Path:
    """A tasks tree of every kind of file there is: the example's workers and every hostile task case
    (syntax errors, non-UTF-8 bytes, duplicates, values read from the environment, ...)."""
    from tests.reliability.test_hostile import place_task_case

    tasks = tmp_path / "idflow" / "tasks"
    shutil.copytree(EXAMPLE, tasks, ignore=shutil.ignore_patterns("__pycache__"))
    for case in sorted(HOSTILE.iterdir()):
        place_task_case(SimpleNamespace(root=tmp_path), case.name.removesuffix(".py.in"))  # type: ignore[arg-type]
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
    assert (cache / TASK_FILES.cache_name).is_file()
    not_kept = _not_kept(tasks)
    read = _counting(monkeypatch)
    warm = _discover(tasks, cache)
    assert warm == cold == uncached
    assert read == not_kept, "a file read again although unchanged"
    assert len(json.loads((cache / TASK_FILES.cache_name).read_text())["files"]) > 40


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
    path = cache / TASK_FILES.cache_name
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
    secret.write_text((cache / TASK_FILES.cache_name).read_text())
    planted = secret.read_text()
    (cache / TASK_FILES.cache_name).unlink()
    (cache / TASK_FILES.cache_name).symlink_to(secret)
    assert _discover(tasks, cache) == expected
    assert not (cache / TASK_FILES.cache_name).is_symlink(), "the link was replaced by the cache, not written through"
    assert secret.read_text() == planted


def test_an_unwritable_cache_folder_is_only_slower(tmp_path):
    tasks = _project(tmp_path)
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    assert _discover(tasks, blocked / "cache") == _discover(tasks, None)


def test_only_values_json_gives_back_are_kept(tmp_path):
    cache = ReadCache(tmp_path, TASK_FILES, None)
    cache.put("a.py", "d1", [[], [["t", {"x": float("nan")}]]])
    cache.put("b.py", "d2", [[], [["t", {"x": (1, 2)}]]])
    cache.put("c.py", "d3", [[], [["t", {1: "int key"}]]])
    cache.put("d.py", "d4", [[], [["t", {"x": [1, 2.0, True, None, "s"]}]]])
    cache.save()
    again = ReadCache(tmp_path, TASK_FILES, None)
    assert [again.get(p, d) for p, d in (("a.py", "d1"), ("b.py", "d2"), ("c.py", "d3"))] == [None] * 3
    assert again.get("d.py", "d4") == [[], [["t", {"x": [1, 2.0, True, None, "s"]}]]]
    assert again.get("d.py", "other digest") is None


def _idflow_imports(module: str) -> set[str]:
    """The idflow modules ``module`` imports when it is imported (its module-level imports: a function's
    own import, such as ``kinds.key``'s of the registry, is for what that function does, not the reading)."""
    path = ROOT / (module.replace(".", "/") + ".py")
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("idflow"):
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if (ROOT / (name.replace(".", "/") + ".py")).is_file() else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("idflow"))
    return {m for m in found if (ROOT / (m.replace(".", "/") + ".py")).is_file()}


@pytest.mark.parametrize(
    ("reader", "top"), [(TASK_FILES, "idflow.repo.task_files"), (WORKFLOW_FILES, "idflow.repo.workflow_files")]
)
def test_the_reader_fingerprint_covers_every_module_the_reader_uses(reader, top):
    closure, todo = set(), [top]
    while todo:
        module = todo.pop()
        if module not in closure:
            closure.add(module)
            todo.extend(_idflow_imports(module))
    closure.discard("idflow.repo.read_cache")  # the cache itself, not the reading
    assert closure == set(reader.modules)
    __import__(top)
    assert all(name in sys.modules for name in (*reader.modules, *reader.libraries))


def test_a_new_parser_version_is_another_reader(monkeypatch):
    import yaml

    from idflow.repo.read_cache import reader_fingerprint

    before = reader_fingerprint(WORKFLOW_FILES, OWNER)
    monkeypatch.setattr(yaml, "__version__", "99.0")
    assert reader_fingerprint(WORKFLOW_FILES, OWNER) != before
    assert reader_fingerprint(WORKFLOW_FILES, OWNER) != reader_fingerprint(WORKFLOW_FILES, "other@example.com")


def test_workflow_files_are_read_once_and_templates_every_time(tmp_path, monkeypatch):
    from idflow.errors import DefinitionError
    from idflow.repo import workflow_files
    from idflow.repo.workflow_files import read_workflow_tree

    folder = tmp_path / "workflows"
    folder.mkdir()
    shutil.copy(ROOT / "examples" / "docflow" / "idflow" / "workflows" / "ingest.yaml.j2", folder)
    task = {"name": "t", "taskReferenceName": "t"}
    (folder / "plain.json").write_text(json.dumps({"name": "plain", "tasks": [task], "extra": 1}))
    (folder / "other.yaml").write_text("name: other\nversion: 2\ntasks:\n  - name: t\n    taskReferenceName: t\n")
    (folder / "broken.json").write_text('{"name": "broken", "tasks": [')
    variables = {"workflow_version": 1, "top_words": 3, "default_currency": "EUR"}
    cache = tmp_path / "cache"

    def read():
        try:
            return read_workflow_tree(folder, variables=variables, owner_email=OWNER, cache_dir=cache)
        except DefinitionError as exc:
            return exc.problems

    def uncached():
        try:
            return read_workflow_tree(folder, variables=variables, owner_email=OWNER)
        except DefinitionError as exc:
            return exc.problems

    expected = uncached()
    assert len(expected) == 1 and "broken.json" in expected[0].path
    assert read() == expected
    parsed: list[str] = []
    real = workflow_files._read_text
    monkeypatch.setattr(workflow_files, "_read_text", lambda path, *a: parsed.append(path.name) or real(path, *a))
    assert read() == expected
    assert parsed == ["ingest.yaml.j2"], "only the template is rendered again"
    (folder / "broken.json").write_text(json.dumps({"name": "broken", "tasks": [task]}))
    parsed.clear()
    tree = read()
    assert sorted(parsed) == ["broken.json", "ingest.yaml.j2"]
    assert {w.name for w in tree.workflows} >= {"plain", "other", "broken"}
    assert next(w for w in tree.workflows if w.name == "plain").notes, "the ignored field's note is kept"
    assert tree == uncached()


def test_a_cache_too_large_to_read_back_is_not_written(tmp_path, monkeypatch):
    monkeypatch.setattr(read_cache, "CACHE_LIMIT", 200)
    cache = ReadCache(tmp_path, TASK_FILES, None)
    cache.put("a.py", "d1", [[], [["t", {"description": "x" * 300}]]])
    cache.save()
    assert not (tmp_path / TASK_FILES.cache_name).exists()
    small = ReadCache(tmp_path, TASK_FILES, None)
    small.put("a.py", "d1", [[], []])
    small.save()
    assert ReadCache(tmp_path, TASK_FILES, None).get("a.py", "d1") == [[], []]
