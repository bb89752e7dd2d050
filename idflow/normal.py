"""The canonical form of definitions: what plans compare.

Local definitions and the server's answers both go through the same function, so a definition the
server stored and returned compares equal to the one it was made from. Server-owned fields are
dropped, the defaults the server writes back are filled in, and fields this version of idflow does
not know are left out of the comparison.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any

SERVER_OWNED_FIELDS = frozenset({"createTime", "updateTime", "createdBy", "updatedBy", "ownerApp"})

# What conductor-oss 3.32 writes back for a task def field that was not set.
TASKDEF_DEFAULTS: dict[str, Any] = {
    "retryCount": 3,
    "timeoutSeconds": 0,
    "inputKeys": [],
    "outputKeys": [],
    "timeoutPolicy": "TIME_OUT_WF",
    "retryLogic": "FIXED",
    "retryDelaySeconds": 60,
    "responseTimeoutSeconds": 3600,
    "inputTemplate": {},
    "rateLimitPerFrequency": 0,
    "rateLimitFrequencyInSeconds": 1,
    "backoffScaleFactor": 1,
    "maxRetryDelaySeconds": 0,
    "backoffJitterMs": 0,
    "totalTimeoutSeconds": 0,
    "enforceSchema": False,
}
# Fields that are absent (null) unless set.
TASKDEF_OPTIONAL_FIELDS = (
    "description",
    "ownerEmail",
    "concurrentExecLimit",
    "pollTimeoutSeconds",
    "isolationGroupId",
    "executionNameSpace",
    "inputSchema",
    "outputSchema",
    "baseType",
)
TASKDEF_FIELDS = ("name", *TASKDEF_DEFAULTS, *TASKDEF_OPTIONAL_FIELDS)

# A task def's inputSchema/outputSchema (SchemaDef): the server drops other keys and adds its own.
SCHEMA_FIELDS = ("name", "version", "type", "data", "externalRef")
SCHEMA_TYPES = ("JSON", "AVRO", "PROTOBUF")

TIMEOUT_POLICIES = ("RETRY", "TIME_OUT_WF", "ALERT_ONLY")
RETRY_LOGICS = ("FIXED", "EXPONENTIAL_BACKOFF", "LINEAR_BACKOFF")


def snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


# The decorator keywords that set task definition fields: snake_case of every field but the name.
TASKDEF_KEYWORDS: dict[str, str] = {camel_to_snake(f): f for f in TASKDEF_FIELDS if f != "name"}


def normalise_taskdef(definition: dict[str, Any]) -> dict[str, Any]:
    """Return the canonical form of one task definition (server JSON shape, camelCase)."""
    result: dict[str, Any] = {"name": definition.get("name")}
    for key, default in TASKDEF_DEFAULTS.items():
        value = definition.get(key)
        result[key] = copy.deepcopy(default) if value is None else copy.deepcopy(value)
    for key in TASKDEF_OPTIONAL_FIELDS:
        value = definition.get(key)
        if value is not None and value != "":
            result[key] = normalise_schema(value) if key in ("inputSchema", "outputSchema") else copy.deepcopy(value)
    return result


def normalise_schema(schema: Any) -> Any:
    """A SchemaDef as the server stores it: its own fields only, version 1 when unset."""
    if not isinstance(schema, dict):
        return copy.deepcopy(schema)
    result = {k: copy.deepcopy(schema[k]) for k in SCHEMA_FIELDS if schema.get(k) is not None}
    result.setdefault("version", 1)
    return result


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(value: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
