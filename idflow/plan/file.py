"""Plan files: versioned, checksummed JSON, written atomically with mode 0600.

The document is the plan's own dict plus ``applied`` (null until apply marks it) and ``checksum``, a
sha256 over the canonical JSON of everything else. Later format versions only add fields; a reader
accepts any ``1.x`` and refuses another major version.

Since format 1.3 a no-op change stores its body once: ``after`` is left out (null) and
``after_is_before`` is true, as a no-op's after is its before by definition. Since 1.4 that body is also
short where it can be: ``before_is_minimal`` true, ``before`` without the fields equal to the defaults the
server writes back (``idflow.adopt.minimal``), stored so only when normalising it gives the body back
(the normal forms fill those defaults in). The reader puts the full body back before anything else looks
at the change; either flag on any other action is a malformed file. The
document is written as one line of JSON (the C encoder: an indented dump is several times slower and
larger); ``python -m json.tool`` shows it indented.

The checksum catches accidents, not intent: anyone can recompute it. So every plan read is also checked
for consistency (``idflow.plan.integrity``), and with a key in ``IDFLOW_PLAN_KEY`` plans are signed:
``signature`` is an HMAC-SHA256 over the canonical JSON of the document without ``checksum``,
``signature`` and ``applied`` (so marking a plan applied keeps its signature), and a reader with the key
refuses a plan that is unsigned or signed with another key. Without the key, unsigned plans are read as
before (and a signature cannot be checked, so it is ignored).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from idflow.errors import FileWriteError, PlanFileError
from idflow.kinds.key import ObjectKey
from idflow.kinds.normal import canonical_json
from idflow.plan.frozen import canonical
from idflow.plan.model import FORMAT_VERSION, Action, Plan
from idflow.repo import safefile

SUPPORTED_MAJOR = FORMAT_VERSION.split(".")[0]
KEY_ENV_VAR = "IDFLOW_PLAN_KEY"
_FROM_ENV: Any = object()  # the default key: read IDFLOW_PLAN_KEY


def signing_key(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The plan-signing key from ``IDFLOW_PLAN_KEY`` (None when unset or empty). It is a secret: never
    printed, logged or written anywhere."""
    value = (os.environ if environ is None else environ).get(KEY_ENV_VAR, "")
    return value.encode("utf-8") if value else None


def _key(key: Any) -> bytes | None:
    return signing_key() if key is _FROM_ENV else key


def checksum(document: dict[str, Any]) -> str:
    body = {k: v for k, v in document.items() if k != "checksum"}
    return "sha256:" + hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def signature(document: dict[str, Any], key: bytes) -> str:
    body = {k: v for k, v in document.items() if k not in ("checksum", "signature", "applied")}
    return "hmac-sha256:" + hmac.new(key, canonical_json(body).encode("utf-8"), hashlib.sha256).hexdigest()


SAME_BODY = "after_is_before"
SHORT_BODY = "before_is_minimal"


def _stored(plan: Plan, cache_dir: Path | None = None) -> dict[str, Any]:
    """The plan's dict as the file stores it: a no-op's body once, and short (see the module's docstring).
    With ``cache_dir``, short forms made for earlier plans are taken from there (``_cached_short_body``)."""
    doc = plan.to_dict(thawed=False)  # frozen bodies are JSON-ready: no copy of every body to write it
    cache = None  # opened at the first no-op: a plan without one neither reads nor rewrites it
    for change in doc["changes"]:
        if change["action"] == Action.NOOP.value and change["after"] is not None:
            change["after"] = None
            change[SAME_BODY] = True
            kind, body = change["kind"], change["before"]
            if cache_dir is None:
                short = _short_body(kind, body)
            else:
                if cache is None:
                    from idflow.repo.read_cache import SHORT_BODIES, ReadCache

                    cache = ReadCache(cache_dir, SHORT_BODIES, None)
                short = _cached_short_body(cache, f"{kind}:{change['name']}:{change['version']}", kind, body)
            if short is not None:
                change["before"] = short
                change[SHORT_BODY] = True
    if cache is not None:
        cache.save()
    return doc


#: The short forms of the no-op bodies of the plan read last, by the body's identity (with the body, so the
#: identity cannot be reused): a plan file's short form normalises to its body by construction, so
#: marking that plan applied writes it again without shortening and checking every body a second time.
_read_shorts: dict[int, tuple[Any, Any]] = {}


def _remember_shorts(plan: Plan, doc: dict[str, Any]) -> None:
    global _read_shorts
    shorts: dict[int, tuple[Any, Any]] = {}
    for change, stored in zip(plan.changes, doc.get("changes") or (), strict=True):
        if change.action is Action.NOOP and stored.get(SHORT_BODY) is True and change.before is not None:
            shorts[id(change.before)] = (change.before, stored["before"])
    _read_shorts = shorts


def _cached_short_body(cache: Any, entry: str, kind: str, body: Any) -> Any:
    """``_short_body(kind, body)``, kept in ``cache`` under the object (``entry``) and the hash of the body's
    canonical JSON: a body that did not change since the last plan gets the short form checked then
    (making and checking 1,200 of them was most of writing an in-sync plan file)."""

    def made() -> tuple[Any, Any]:
        short = _short_body(kind, body)
        return short, [] if short is None else [short]

    return cache.result(entry, canonical(body).encode("utf-8"), made, _kept_short)


def _kept_short(payload: Any) -> Any:
    """The short form a cache entry holds (None: the body has none); TypeError for any other entry."""
    if type(payload) is not list or len(payload) > 1 or (payload and type(payload[0]) is not dict):
        raise TypeError("not a short form")
    return payload[0] if payload else None


def _short_body(kind: str, body: Any) -> Any:
    """``body`` without the fields equal to the server's defaults, if normalising it gives ``body`` back."""
    known = _read_shorts.get(id(body))
    if known is not None and known[0] is body:
        return known[1]
    from idflow.adopt.minimal import minimal
    from idflow.kinds.registry import spec
    from idflow.kinds.server_model import TASK_DEF, WORKFLOW_DEF

    struct = {"task": TASK_DEF, "workflow": WORKFLOW_DEF}.get(kind)
    if struct is None or not isinstance(body, dict):
        return None
    short = minimal(struct, body)  # plain containers down to every nested structure: normalise needs no copy
    return short if canonical_json(spec(kind).normalise(short)) == canonical(body) else None


def _restored(doc: dict[str, Any]) -> dict[str, Any]:
    """The stored document with every no-op's ``after`` put back; ValueError where the flag is misused."""
    changes = doc.get("changes")
    if not isinstance(changes, list):
        return doc
    restored = []
    for change in changes:
        if isinstance(change, dict) and SHORT_BODY in change and SAME_BODY not in change:
            raise ValueError(f"{SHORT_BODY!r} is only for a no-op's body stored once ({SAME_BODY!r})")
        if isinstance(change, dict) and SAME_BODY in change:
            if change[SAME_BODY] is not True or change.get("action") != Action.NOOP.value:
                raise ValueError(f"{SAME_BODY!r} is only for no-op changes (and only true)")
            if change.get("after") is not None:
                raise ValueError(f"a change with {SAME_BODY!r} stores no 'after'")
            if SHORT_BODY in change:
                if change[SHORT_BODY] is not True or not isinstance(change.get("before"), dict):
                    raise ValueError(f"{SHORT_BODY!r} is only true, for a no-op's body")
                from idflow.kinds.registry import spec

                change = {**change, "before": spec(str(change.get("kind"))).normalise(change["before"])}
            change = {k: v for k, v in change.items() if k not in (SAME_BODY, SHORT_BODY)}
            change["after"] = change.get("before")
        restored.append(change)
    return {**doc, "changes": restored}


def document(
    plan: Plan, applied: dict[str, Any] | None = None, *, key: Any = _FROM_ENV, cache_dir: Path | None = None
) -> dict[str, Any]:
    doc = _stored(plan, cache_dir)
    doc["applied"] = applied
    secret = _key(key)
    if secret is not None:
        doc["signature"] = signature(doc, secret)
    doc["checksum"] = checksum(doc)
    return doc


def write_json_atomic(path: Path, data: Any, *, indent: int | None = 2) -> Path:
    """Write JSON to ``path`` through a temp file and a rename, readable by the owner only."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise FileWriteError(f"{path}: cannot write the file: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(data, indent=indent, sort_keys=False, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # a full disk (ENOSPC), a quota, a read-only file system: one line, exit 1
        Path(tmp).unlink(missing_ok=True)
        raise FileWriteError(f"{path}: cannot write the file: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_plan(
    plan: Plan,
    path: Path,
    applied: dict[str, Any] | None = None,
    *,
    key: Any = _FROM_ENV,
    cache_dir: Path | None = None,
) -> Path:
    """``cache_dir``: where the short forms of no-op bodies are kept between plans (none: made every time)."""
    return write_json_atomic(path, document(plan, applied, key=key, cache_dir=cache_dir), indent=None)


def read_document(path: Path, *, key: Any = _FROM_ENV) -> dict[str, Any]:
    try:
        raw = safefile.read_bytes(path, limit=safefile.PLAN_FILE_LIMIT)  # named by the user: may be anywhere
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no plan file here; run `idflow plan` first") from None
    except safefile.UnsafeFile as exc:
        raise PlanFileError(f"{path}: the plan file {exc}") from None
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot read plan file: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise PlanFileError(f"{path}: not a plan file (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{path}:{exc.lineno}:{exc.colno}: not a plan file (invalid JSON: {exc.msg})") from None
    except RecursionError:
        raise PlanFileError(f"{path}: not a plan file (JSON nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer longer than Python's int-to-string limit
        raise PlanFileError(f"{path}: not a plan file ({str(exc).split(';')[0]})") from None
    if not isinstance(doc, dict) or "format_version" not in doc:
        raise PlanFileError(f"{path}: not an idflow plan file (no format_version)")
    version = str(doc.get("format_version"))
    if version.split(".")[0] != SUPPORTED_MAJOR:
        raise PlanFileError(
            f"{path}: plan format {version} is not supported by this idflow (reads {SUPPORTED_MAJOR}.x); "
            "make the plan again with this version"
        )
    try:
        expected = checksum(doc)
    except UnicodeEncodeError:  # a lone surrogate escape ("\ud800"): not text idflow ever writes
        raise PlanFileError(f"{path}: not a plan file (invalid Unicode escape in the JSON)") from None
    if doc.get("checksum") != expected:
        raise PlanFileError(
            f"{path}: checksum mismatch: the plan file was edited or truncated; run `idflow plan` again"
        )
    secret = _key(key)
    if secret is not None:
        found = doc.get("signature")
        if not isinstance(found, str) or not found:
            raise PlanFileError(
                f"{path}: the plan file is not signed, and {KEY_ENV_VAR} is set: only plans made with the key "
                "are accepted; run `idflow plan` with it"
            )
        if not hmac.compare_digest(found, signature(doc, secret)):
            raise PlanFileError(
                f"{path}: the plan file's signature does not match (made with another key, or edited after "
                "signing); run `idflow plan` again"
            )
    return doc


def read_plan(path: Path, *, key: Any = _FROM_ENV) -> tuple[Plan, dict[str, Any] | None]:
    """The plan and its ``applied`` record (None if never applied); refused unless self-consistent."""
    from idflow.plan.integrity import plan_problems

    doc = read_document(path, key=key)
    try:
        plan = Plan.from_dict(_restored(doc))
        _check_shape(plan, doc.get("applied"))
        problems = plan_problems(plan)
        _remember_shorts(plan, doc)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise PlanFileError(f"{path}: malformed plan file ({type(exc).__name__}: {exc})") from None
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PlanFileError(
            f"{path}: the plan file does not hold together, so what it shows is not what apply would send: "
            f"{problems[0]}{more}; nothing was sent. Run `idflow plan` again"
        )
    return plan, doc.get("applied")


def _check_shape(plan: Plan, applied: Any) -> None:
    """What apply relies on beyond ``Plan.from_dict``: raise ValueError where a (checksummed) file breaks it."""
    if applied is not None and not isinstance(applied, dict):
        raise ValueError(f"'applied' must be null or an object, not {type(applied).__name__}")
    for name in ("environment", "commit"):
        if getattr(plan, name) is not None and not isinstance(getattr(plan, name), str):
            raise ValueError(f"{name!r} must be null or a string")
    for change in plan.changes:
        if change.version is not None and (not isinstance(change.version, int) or isinstance(change.version, bool)):
            raise ValueError(f"change {change.name!r}: version {change.version!r} is not a whole number")
    for fingerprints in (plan.fingerprints, plan.usage_fingerprints):
        for key, value in fingerprints.items():
            if not ObjectKey.parse(str(key)).name or not (value is None or isinstance(value, str)):
                raise ValueError(f"bad fingerprint {key!r}: {value!r}")


def mark_applied(path: Path, plan: Plan, applied: dict[str, Any]) -> None:
    """Rewrite the plan file with its ``applied`` record; a signature stays valid (it does not cover it)."""
    doc = _stored(plan)
    doc["applied"] = applied
    try:
        kept = json.loads(path.read_text("utf-8")).get("signature")
    except (OSError, ValueError, AttributeError):
        kept = None
    if isinstance(kept, str) and kept:
        doc["signature"] = kept
    doc["checksum"] = checksum(doc)
    write_json_atomic(path, doc, indent=None)
