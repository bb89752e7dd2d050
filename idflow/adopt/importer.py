"""``idflow import``: the project files for objects on the server, read back to check they mean exactly
what the server holds (so the next plan shows no change for them)."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idflow.adopt.kinds import KINDS, AdoptKind, starts_only_owners
from idflow.adopt.safewrite import check_inside, write_new
from idflow.adopt.types import Imported, Refused, WriteContext
from idflow.errors import DefinitionError, FileWriteError, IdflowError
from idflow.kinds.ownership import ForeignOwner, owner_to_write
from idflow.plan.model import Kind, object_key

if TYPE_CHECKING:
    from idflow.config import Config
    from idflow.server.client import Remote


@dataclass
class ImportOutcome:
    written: list[Imported] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why an object was not imported, one line each
    named_skipped: bool = False  # an object named on the command line was among them
    readback: list[str] = field(default_factory=list)  # imported files that do not read back the same

    @property
    def notes(self) -> list[str]:
        return [note for item in self.written for note in item.notes]


def import_objects(
    config: Config,
    remote: Remote,
    names: tuple[str, ...] = (),
    *,
    kind: str | None = None,
    everything: bool = False,
    force: bool = False,
    fmt: str = "yaml",
) -> ImportOutcome:
    if not names and not everything:
        raise IdflowError("name the objects to import (idflow import NAME...), or give --all")
    for folder in _folders(config):
        check_inside(config.root, folder / "x")
    kinds = [KINDS[kind]] if kind else list(KINDS.values())
    selected = _select(config, remote, kinds, names, everything)
    ctx = WriteContext(config, fmt, _existing(config))
    for index, folder in enumerate(_folders(config)):
        entries = _entries(folder)
        if index >= 2:  # one file per handler or schedule: a file's stem is a name taken ("a.yaml.j2": "a")
            entries |= {Path(e).stem for e in entries} | {Path(Path(e).stem).stem for e in entries}
        ctx.taken(folder).update(entries)
    outcome = ImportOutcome()
    planned: list[tuple[Imported, dict[str, Any]]] = []
    for spec, raw in selected:
        try:
            item = spec.write(raw, ctx)
        except Refused as why:
            _skip(outcome, str(why), spec.name(raw) in names)
            continue
        if os.path.lexists(item.path) and not force:
            _skip(outcome, f"{spec.label(raw)}: {config.relative(item.path)} exists; --force replaces it",
                  spec.name(raw) in names)  # fmt: skip
            continue
        planned.append((item, raw))
    for item, raw in planned:
        try:
            write_new(config.root, item.path, item.text, replace=force)
        except FileWriteError as exc:
            _skip(outcome, f"{item.kind} {item.label}: {exc}", KINDS[item.kind].name(raw) in names)
            continue
        outcome.written.append(item)
    outcome.readback = _read_back(config, [(item, raw) for item, raw in planned if item in outcome.written])
    return outcome


def _folders(config: Config) -> tuple[Path, ...]:
    from idflow.adopt.event_writer import events_dir
    from idflow.adopt.schedule_writer import schedules_dir

    return (config.tasks_dir, config.workflows_dir, events_dir(config), schedules_dir(config))


def _skip(outcome: ImportOutcome, why: str, named: bool) -> None:
    outcome.skipped.append(why)
    outcome.named_skipped = outcome.named_skipped or named


def _select(
    config: Config, remote: Remote, kinds: list[AdoptKind], names: tuple[str, ...], everything: bool
) -> list[tuple[AdoptKind, dict[str, Any]]]:
    """The server's objects to import, sorted: those named, or with ``--all`` every one this project
    would manage (its owner_email, when set) and does not ignore."""
    found: list[tuple[AdoptKind, dict[str, Any]]] = []
    owners: dict[tuple[str, int], Any] = {}
    for spec in kinds:
        for raw in spec.fetch(remote):
            name = spec.name(raw)
            if name in names:
                found.append((spec, raw))
            elif everything and not names:
                if config.owner_email and not _this_owners(config.owner_email, spec, raw, remote, owners):
                    continue
                if any(fnmatch.fnmatchcase(name, pattern) for pattern in config.ignore):
                    continue
                found.append((spec, raw))
    missing = [n for n in names if not any(spec.name(raw) == n for spec, raw in found)]
    if missing:
        what = " or ".join(spec.kind for spec in kinds)
        raise IdflowError(f"no {what} named {', '.join(map(repr, missing))} on the server; nothing was written")
    return sorted(found, key=lambda item: (list(KINDS).index(item[0].kind), item[0].name(item[1]),
                                           item[0].version(item[1]) or 0))  # fmt: skip


def _this_owners(
    configured: str, spec: AdoptKind, raw: dict[str, Any], remote: Remote, owners: dict[tuple[str, int], Any]
) -> bool:
    """Whether ``--all`` takes the object for a project with owner_email (``starts_only_owners``)."""
    if spec.kind in (Kind.TASK.value, Kind.WORKFLOW.value):
        return raw.get("ownerEmail") == configured
    if not owners:
        owners.update({(str(w.get("name")), int(w.get("version") or 1)): w.get("ownerEmail")
                       for w in remote.list_workflow_defs()})  # fmt: skip
        owners.setdefault(("", 0), None)  # read once, even from a server without workflows
    return starts_only_owners(spec.kind, spec.normalise(raw), owners, configured)


def _existing(config: Config) -> dict[str, Path]:
    """Where the project defines each object now (an import rewrites that file in place with ``--force``)."""
    from idflow.repo.task_files import discover_tasks_partial
    from idflow.repo.workflow_files import read_workflow_tree

    found: dict[str, Path] = {}
    if config.tasks_dir.is_dir():
        tasks, _problems = discover_tasks_partial(
            config.tasks_dir, owner_email=config.owner_email, import_root=config.root
        )
        found.update({object_key(Kind.TASK, t.name): t.path for t in tasks})
    try:
        tree = read_workflow_tree(config.workflows_dir, variables=config.vars, owner_email=config.owner_email,
                                  root=config.root)  # fmt: skip
    except DefinitionError:
        return found  # a broken file: import writes new files beside it, never over it (exists: refused)
    found.update({object_key(Kind.WORKFLOW, w.name, w.version): w.path for w in tree.workflows})
    local, _problems = _local_others(config, tree)
    found.update({key: path for key, (_definition, path) in local.items()})
    return found


def _local_others(config: Config, tree: Any) -> tuple[dict[str, tuple[Any, Path]], list[Any]]:
    """The project's handlers and schedules (``key -> (definition, file)``), and the problems of their files."""
    from idflow.adopt.event_writer import events_dir
    from idflow.adopt.schedule_writer import schedules_dir
    from idflow.repo.event_files import read_event_handlers
    from idflow.repo.schedule_files import read_schedules

    found: dict[str, tuple[Any, Path]] = {}
    problems: list[Any] = []
    lists = [f.path for f in tree.event_handler_files] if tree is not None else []
    try:
        handlers = read_event_handlers(events_dir(config), handler_lists=lists, variables=config.vars,
                                       workflows_dir=config.workflows_dir, root=config.root)  # fmt: skip
        found.update({object_key("event", h.name): (h.definition, h.path) for h in handlers})
    except DefinitionError as exc:
        problems += exc.problems
    try:
        schedules = read_schedules(schedules_dir(config), variables=config.vars, root=config.root)
        found.update({object_key("schedule", s.name): (s.definition, s.path) for s in schedules})
    except DefinitionError as exc:
        problems += exc.problems
    return found, problems


def _entries(folder: Path) -> set[str]:
    try:
        return {entry.lower() for entry in os.listdir(folder)}
    except OSError:
        return set()


def _read_back(config: Config, written: list[tuple[Imported, dict[str, Any]]]) -> list[str]:
    """Read the imported files as plan does and compare with the server: any difference is said."""
    from idflow.plan.diffing import field_diffs
    from idflow.repo.task_files import discover_tasks_partial
    from idflow.repo.workflow_files import read_workflow_tree

    if not written:
        return []
    local: dict[str, Any] = {}
    problems: list[str] = []
    tasks, task_problems = discover_tasks_partial(
        config.tasks_dir, owner_email=config.owner_email, import_root=config.root
    )
    local.update({object_key(Kind.TASK, t.name): t.definition for t in tasks})
    paths = {item.path for item, _raw in written}
    problems += [str(p) for p in task_problems if Path(p.path) in paths]
    tree = None
    try:
        tree = read_workflow_tree(config.workflows_dir, variables=config.vars, owner_email=config.owner_email,
                                  root=config.root)  # fmt: skip
        local.update({object_key(Kind.WORKFLOW, w.name, w.version): w.definition for w in tree.workflows})
    except DefinitionError as exc:
        problems += [str(p) for p in exc.problems if Path(p.path) in paths]
    if any(item.kind not in (Kind.TASK.value, Kind.WORKFLOW.value) for item, _raw in written):
        others, other_problems = _local_others(config, tree)
        local.update({key: definition for key, (definition, _path) in others.items()})
        problems += [str(p) for p in other_problems if Path(p.path) in paths]
    for item, raw in written:
        expected = KINDS[item.kind].normalise(raw)
        try:
            owner = owner_to_write(config.owner_email, expected.get("ownerEmail"))
        except ForeignOwner:
            owner = expected.get("ownerEmail")
        if owner is not None and item.kind in (Kind.TASK.value, Kind.WORKFLOW.value):  # the others have none
            expected["ownerEmail"] = owner
        got = local.get(item.key)
        if got is None:
            if not any(config.relative(item.path) in p or str(item.path) in p for p in problems):
                problems.append(f"{config.relative(item.path)}: {item.kind} {item.label} is not read back")
            continue
        diffs = field_diffs(expected, got)
        if diffs:
            shown = ", ".join(d.path for d in diffs[:5])
            problems.append(f"{config.relative(item.path)}: {item.kind} {item.label} reads back differently ({shown})")
    return problems
