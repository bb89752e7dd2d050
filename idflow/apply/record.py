"""The apply record: what idflow last wrote to a server, kept on that server.

Every checkout and CI job that plans against a server must see what the last apply wrote, whatever
machine it ran on, so the record lives where the apply lock does: on the server, as a workflow definition
with a reserved name (``idflow_apply_record``) whose ``description`` holds the record as JSON (the
server keeps a description verbatim, at any length; ``idflow_apply_lock`` relies on the same). A local
file would be lost with every fresh CI checkout; a git commit would need write access to the repository.

One record per project and environment: its version number is derived from both (``record_version``),
and the JSON names them again, so projects sharing a server never read each other's record. The project
is the config's ``project``, else ``owner_email``, else the git ``origin`` URL (what every clone shares),
else the project folder's absolute path (never just its name: another team's folder may be named alike,
and its record would make their objects look like ours); the environment is ``default`` until
environments exist.

Bounded: one entry per object this project has applied (the fingerprint of what it wrote, the hash of
what the server then held, and that normalised body, so a conflict can be shown against it), and the
metadata of the last ``HISTORY`` applies. Bodies over ``MAX_BODY_CHARS`` in all are dropped oldest first
(the hashes stay: drift is still detected, a conflict is then shown with the server's diff only).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from idflow.kinds.normal import content_hash
from idflow.plan.model import thaw

RECORD_WORKFLOW = "idflow_apply_record"
RECORD_FORMAT = 1
DEFAULT_ENVIRONMENT = "default"
HISTORY = 20
MAX_BODY_CHARS = 2_000_000
#: CI variables that identify a job (never a secret), first match wins.
CI_JOB_VARS = ("GITHUB_RUN_ID", "CI_JOB_ID", "BUILD_ID", "BUILDKITE_BUILD_ID", "CIRCLE_WORKFLOW_JOB_ID")


@dataclass(frozen=True)
class Entry:
    """What one apply wrote for one object: ``written`` and ``held`` are content hashes of normalised
    bodies; ``body`` is the server's normalised body after the write (None when dropped for size)."""

    written: str
    held: str
    body: Mapping[str, Any] | None = None
    at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"written": self.written, "held": self.held, "body": self.body, "at": self.at}


@dataclass(frozen=True)
class ApplyRecord:
    project: str
    environment: str
    objects: Mapping[str, Entry] = field(default_factory=lambda: MappingProxyType({}))
    history: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": RECORD_FORMAT,
                "project": self.project,
                "environment": self.environment,
                "objects": {k: e.to_dict() for k, e in sorted(self.objects.items())},
                "history": list(self.history),
            },
            sort_keys=True,
            separators=(",", ":"),
        )


def record_version(project: str, environment: str) -> int:
    """A positive 31-bit version number for this project's record (Conductor versions are ints)."""
    return zlib.crc32(f"{project}\n{environment}".encode()) & 0x7FFFFFFF or 1


def project_key(config: Any) -> str:
    """Who this record belongs to (see the module docstring)."""
    explicit = getattr(config, "project", None) or getattr(config, "owner_email", None)
    if explicit:
        return str(explicit)
    origin = _git(config.root, "config", "--get", "remote.origin.url")
    if origin:
        return "git:" + _strip_userinfo(origin)
    return "folder:" + str(Path(config.root).resolve())  # the whole path: a same-named folder is not us


def _strip_userinfo(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def git_commit(root: Path) -> str | None:
    return _git(root, "rev-parse", "HEAD")


def who_applied(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    for var in CI_JOB_VARS:
        if env.get(var):
            return f"ci:{var}={env[var]}"
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def is_record(definition: Mapping[str, Any]) -> bool:
    return definition.get("name") == RECORD_WORKFLOW


def parse_record(raw: Mapping[str, Any] | None, project: str, environment: str) -> tuple[ApplyRecord | None, str]:
    """The record in a server definition, or None and why (a note for the plan, never an error)."""
    if raw is None:
        return None, "no apply record on the server for this project"
    try:
        doc = json.loads(raw.get("description") or "")
        if doc.get("format") != RECORD_FORMAT or doc.get("project") != project or doc.get("environment") != environment:
            return None, "the apply record on the server is not this project's or has an unknown format"
        objects = {
            str(k): Entry(str(v["written"]), str(v["held"]), v.get("body"), str(v.get("at") or ""))
            for k, v in dict(doc.get("objects") or {}).items()
        }
        history = tuple(dict(h) for h in doc.get("history") or ())
    except (ValueError, TypeError, KeyError, AttributeError):
        return None, "the apply record on the server cannot be read"
    return ApplyRecord(project, environment, MappingProxyType(objects), history), ""


def body_hash(body: Mapping[str, Any]) -> str:
    return content_hash(body)


def record_definition(record: ApplyRecord) -> dict[str, Any]:
    return {
        "name": RECORD_WORKFLOW,
        "version": record_version(record.project, record.environment),
        "schemaVersion": 2,
        "description": record.to_json(),
        "tasks": [{"name": "idflow_record", "taskReferenceName": "idflow_record", "type": "WAIT"}],
    }


def updated(
    previous: ApplyRecord | None,
    project: str,
    environment: str,
    written: Mapping[str, Mapping[str, Any] | None],
    held: Mapping[str, Mapping[str, Any] | None],
    meta: Mapping[str, Any],
) -> ApplyRecord:
    """The record after an apply. ``written`` maps each key that apply changed to the body it wrote (None:
    deleted); ``held`` maps keys to the server's normalised body after the apply (None: absent)."""
    objects = dict(previous.objects) if previous else {}
    at = str(meta.get("at") or "")
    for key, body in written.items():
        now = held.get(key)
        if body is None or now is None:
            objects.pop(key, None)  # deleted (or gone): nothing of ours to track any more
            continue
        objects[key] = Entry(body_hash(body), body_hash(now), thaw(now), at)
    objects = _bounded(objects)
    history = ((*(previous.history if previous else ()), dict(meta)))[-HISTORY:]
    return ApplyRecord(project, environment, MappingProxyType(objects), tuple(history))


def _bounded(objects: dict[str, Entry]) -> dict[str, Entry]:
    total = sum(len(json.dumps(e.body)) for e in objects.values() if e.body is not None)
    for key in sorted(objects, key=lambda k: objects[k].at):
        if total <= MAX_BODY_CHARS:
            break
        entry = objects[key]
        if entry.body is not None:
            total -= len(json.dumps(entry.body))
            objects[key] = Entry(entry.written, entry.held, None, entry.at)
    return objects


def apply_meta(
    root: Path, idflow_version: str, counts: Mapping[str, int], now: datetime | None = None
) -> dict[str, Any]:
    return {
        "at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "by": who_applied(),
        "idflow_version": idflow_version,
        "commit": git_commit(root),
        "counts": dict(counts),
    }
