"""What conductor-oss keeps of the definitions it is sent: the server's model, as data.

Conductor accepts any JSON field and silently drops the ones it does not model (a workflow task's
``callbackFromWorker``, a ``version`` on a task definition, task-definition settings written at a
workflow's top level). For every structure this module says which fields survive a write and a read,
what type they hold, and what the server writes back when one is not set. The normal forms
(``idflow.kinds.normal``, ``idflow.kinds.workflow_normal``) follow it, so a field the server drops is reported and
never compared; a JSON-schema generator and further kinds read it too.

It is the model of conductor-oss 3.32.3, the server idflow pins. ``tests/integration/test_server_model.py``
checks it against the real server (sends every field it lists, every field conductor-python's models
know, and unknown ones; reads back; compares), so it cannot go stale silently.

Types: ``string``, ``integer``, ``boolean``, ``object`` (a free JSON map, kept exactly), ``any`` (any
JSON value), a structure's name below, or ``list[T]`` / ``map[T]`` of those.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: A field with no default: absent (null) unless it is set.
UNSET: Any = _Unset()

#: What the server sets itself on every audited object (``Auditable``): never part of a definition.
AUDIT_FIELDS = frozenset({"createTime", "updateTime", "createdBy", "updatedBy", "ownerApp"})


@dataclass(frozen=True)
class Field:
    """``required``: the server refuses the structure without it (null, or an empty string or list);
    ``alternatives``: other types the field may hold (a ``${...}`` expression instead of a structure)."""

    type: str
    default: Any = UNSET
    choices: tuple[str, ...] = ()
    required: bool = False
    alternatives: tuple[str, ...] = ()

    @property
    def has_default(self) -> bool:
        return self.default is not UNSET


@dataclass(frozen=True)
class Struct:
    """One structure of the server's model: its fields, and those the server owns (set it itself)."""

    name: str
    fields: Mapping[str, Field]
    server_owned: frozenset[str] = field(default_factory=frozenset)

    def defaults(self) -> dict[str, Any]:
        return {k: f.default for k, f in self.fields.items() if f.has_default}


def _struct(struct_name: str, server_owned: frozenset[str] = frozenset(), /, **fields: Field) -> Struct:
    return Struct(struct_name, MappingProxyType(fields), server_owned)


S, INT, B, OBJ = "string", "integer", "boolean", "object"
TIMEOUT_POLICIES = ("RETRY", "TIME_OUT_WF", "ALERT_ONLY")
RETRY_LOGICS = ("FIXED", "EXPONENTIAL_BACKOFF", "LINEAR_BACKOFF")

SCHEMA_DEF = _struct(
    "SchemaDef",
    AUDIT_FIELDS,
    name=Field(S),
    version=Field(INT, 1),
    type=Field(S, choices=("JSON", "AVRO", "PROTOBUF")),
    data=Field(OBJ),
    externalRef=Field(S),
)

TASK_DEF = _struct(
    "TaskDef",
    AUDIT_FIELDS,
    name=Field(S),
    description=Field(S),
    retryCount=Field(INT, 3),
    timeoutSeconds=Field(INT, 0),
    inputKeys=Field("list[string]", []),
    outputKeys=Field("list[string]", []),
    runtimeMetadata=Field("list[string]", []),
    timeoutPolicy=Field(S, "TIME_OUT_WF", TIMEOUT_POLICIES),
    retryLogic=Field(S, "FIXED", RETRY_LOGICS),
    retryDelaySeconds=Field(INT, 60),
    responseTimeoutSeconds=Field(INT, 3600),
    concurrentExecLimit=Field(INT),
    inputTemplate=Field(OBJ, {}),
    rateLimitPerFrequency=Field(INT, 0),
    rateLimitFrequencyInSeconds=Field(INT, 1),
    isolationGroupId=Field(S),
    executionNameSpace=Field(S),
    ownerEmail=Field(S),
    pollTimeoutSeconds=Field(INT),
    backoffScaleFactor=Field(INT, 1),
    maxRetryDelaySeconds=Field(INT, 0),
    backoffJitterMs=Field(INT, 0),
    baseType=Field(S),
    totalTimeoutSeconds=Field(INT, 0),
    taskStatusListenerEnabled=Field(B, True),
    inputSchema=Field("SchemaDef"),
    outputSchema=Field("SchemaDef"),
    enforceSchema=Field(B, False),
)

CACHE_CONFIG = _struct("CacheConfig", key=Field(S), ttlInSecond=Field(INT, 0))

RATE_LIMIT_CONFIG = _struct(
    "RateLimitConfig",
    rateLimitKey=Field(S),
    concurrentExecLimit=Field(INT, 0),
    policy=Field(S, "QUEUE", ("QUEUE", "REJECT")),
)

STATE_CHANGE_EVENT = _struct("StateChangeEvent", type=Field(S), payload=Field(OBJ))

SUB_WORKFLOW_PARAMS = _struct(
    "SubWorkflowParams",
    name=Field(S),
    version=Field(INT),
    taskToDomain=Field("map[string]"),
    # A workflow definition, or a ${...} expression naming one at run time.
    workflowDefinition=Field("WorkflowDef", alternatives=(S,)),
    idempotencyKey=Field(S),
    idempotencyStrategy=Field(S, choices=("FAIL", "RETURN_EXISTING", "FAIL_ON_RUNNING")),
    priority=Field("any"),
)

WORKFLOW_TASK = _struct(
    "WorkflowTask",
    AUDIT_FIELDS,
    name=Field(S, required=True),
    taskReferenceName=Field(S, required=True),
    description=Field(S),
    inputParameters=Field(OBJ, {}),
    type=Field(S, "SIMPLE"),
    dynamicTaskNameParam=Field(S),
    caseValueParam=Field(S),
    caseExpression=Field(S),
    scriptExpression=Field(S),
    decisionCases=Field("map[list[WorkflowTask]]", {}),
    dynamicForkTasksParam=Field(S),
    dynamicForkJoinTasksParam=Field(S),  # deprecated spelling, still kept
    dynamicForkTasksInputParamName=Field(S),
    defaultCase=Field("list[WorkflowTask]", []),
    forkTasks=Field("list[list[WorkflowTask]]", []),
    startDelay=Field(INT, 0),
    subWorkflowParam=Field("SubWorkflowParams"),
    joinOn=Field("list[string]", []),
    sink=Field(S),
    optional=Field(B, False),
    taskDefinition=Field("TaskDef"),
    rateLimited=Field(B),
    defaultExclusiveJoinTask=Field("list[string]", []),
    asyncComplete=Field(B, False),
    loopCondition=Field(S),
    loopOver=Field("list[WorkflowTask]", []),
    items=Field(S),
    retryCount=Field(INT),
    evaluatorType=Field(S),
    expression=Field(S),
    joinStatus=Field(S),
    cacheConfig=Field("CacheConfig"),
    permissive=Field(B, False),
    joinMode=Field(S, choices=("SYNC", "ASYNC")),
    metadata=Field(OBJ, {}),
    onStateChange=Field("map[list[StateChangeEvent]]", {}),
)

WORKFLOW_DEF = _struct(
    "WorkflowDef",
    AUDIT_FIELDS,
    name=Field(S),
    description=Field(S),
    version=Field(INT, 1),
    tasks=Field("list[WorkflowTask]", required=True),
    inputParameters=Field("list[string]", []),
    outputParameters=Field(OBJ, {}),
    failureWorkflow=Field(S),
    schemaVersion=Field(INT, 2),
    restartable=Field(B, True),
    workflowStatusListenerEnabled=Field(B, False),
    ownerEmail=Field(S),
    timeoutPolicy=Field(S, "ALERT_ONLY", ("TIME_OUT_WF", "ALERT_ONLY")),
    timeoutSeconds=Field(INT, 0),
    variables=Field(OBJ, {}),
    inputTemplate=Field(OBJ, {}),
    failureWorkflowVersion=Field(INT),
    workflowStatusListenerSink=Field(S),
    rateLimitConfig=Field("RateLimitConfig"),
    inputSchema=Field("SchemaDef"),
    outputSchema=Field("SchemaDef"),
    enforceSchema=Field(B, True),
    metadata=Field(OBJ, {}),
    cacheConfig=Field("CacheConfig"),
    maskedFields=Field("list[string]", []),
)

# -- event handlers (``/api/event``) ------------------------------------------------------------------
# No audit fields at all: the server keeps nothing of its own on a handler (no createTime, no owner).

#: The evaluators a handler's ``condition`` may name (conductor-oss' ``Evaluator`` components). Without
#: one, the condition runs as JavaScript; an unknown name is stored and then silently run as JavaScript.
EVALUATOR_TYPES = ("javascript", "graaljs", "python", "value-param")
#: The ``type`` of ``event: "type:queue"`` that conductor-oss has providers for (core: ``conductor``; the
#: others when their module is configured). The server stores any other type, but nothing delivers to it.
EVENT_QUEUE_TYPES = ("conductor", "sqs", "amqp_queue", "amqp_exchange", "kafka", "nats", "nats_stream", "jsm")
#: Every action type the server's model knows (``EventHandler.Action.Type``; anything else is a 500).
ACTION_TYPES = (
    "start_workflow",
    "complete_task",
    "fail_task",
    "terminate_workflow",
    "update_workflow_variables",
    "start_agent",
)

EVENT_START_WORKFLOW = _struct(
    "EventStartWorkflow",
    name=Field(S),
    version=Field(INT),
    correlationId=Field(S),
    input=Field(OBJ, {}),
    taskToDomain=Field("map[string]"),
)

EVENT_TASK_DETAILS = _struct(
    "EventTaskDetails",
    workflowId=Field(S),
    taskRefName=Field(S),
    output=Field(OBJ, {}),
    taskId=Field(S),
    reasonForIncompletion=Field(S),
)

EVENT_TERMINATE_WORKFLOW = _struct("EventTerminateWorkflow", workflowId=Field(S), terminationReason=Field(S))

EVENT_UPDATE_VARIABLES = _struct(
    "EventUpdateWorkflowVariables", workflowId=Field(S), variables=Field(OBJ), appendArray=Field(B)
)

EVENT_START_AGENT = _struct(
    "EventStartAgent",
    name=Field(S),
    version=Field(INT),
    prompt=Field(S),
    sessionId=Field(S),
    media=Field("list[string]"),
    context=Field(OBJ),
    idempotencyKey=Field(S),
)

EVENT_ACTION = _struct(
    "EventHandlerAction",
    action=Field(S, choices=ACTION_TYPES, required=True),
    start_workflow=Field("EventStartWorkflow"),
    complete_task=Field("EventTaskDetails"),
    fail_task=Field("EventTaskDetails"),
    expandInlineJSON=Field(B, False),
    terminate_workflow=Field("EventTerminateWorkflow"),
    update_workflow_variables=Field("EventUpdateWorkflowVariables"),
    start_agent=Field("EventStartAgent"),
)

EVENT_HANDLER = _struct(
    "EventHandler",
    name=Field(S, required=True),
    event=Field(S, required=True),
    condition=Field(S),
    actions=Field("list[EventHandlerAction]", required=True),
    active=Field(B, False),
    evaluatorType=Field(S, choices=EVALUATOR_TYPES),
)

# -- schedules (``/api/scheduler/schedules``) ----------------------------------------------------------

#: What the server sets on a schedule itself. ``nextRunTime`` is kept as sent but means nothing there
#: (the scheduler keeps its next run elsewhere); ``createTime``/``createdBy`` are the first save's.
SCHEDULE_OWNED = frozenset({"createTime", "updatedTime", "createdBy", "updatedBy", "nextRunTime"})

START_WORKFLOW_REQUEST = _struct(
    "StartWorkflowRequest",
    # ``createdBy`` is kept as sent, but each run gets the schedule's own creator instead
    frozenset({"createdBy"}),
    name=Field(S, required=True),
    version=Field(INT),
    correlationId=Field(S),
    input=Field(OBJ, {}),
    taskToDomain=Field("map[string]", {}),
    workflowDef=Field("WorkflowDef"),
    externalInputPayloadStoragePath=Field(S),
    priority=Field(INT, 0),
    idempotencyKey=Field(S),
    idempotencyStrategy=Field(S, choices=("FAIL", "RETURN_EXISTING", "FAIL_ON_RUNNING")),
)

CRON_SCHEDULE = _struct("CronSchedule", cronExpression=Field(S), zoneId=Field(S, "UTC"))

WORKFLOW_SCHEDULE = _struct(
    "WorkflowSchedule",
    SCHEDULE_OWNED,
    name=Field(S, required=True),
    cronExpression=Field(S),
    runCatchupScheduleInstances=Field(B, False),
    paused=Field(B, False),
    pausedReason=Field(S),
    startWorkflowRequest=Field("StartWorkflowRequest", required=True),
    zoneId=Field(S, "UTC"),
    # more than one expression, each with its own zone; when set, it wins over cronExpression/zoneId
    cronSchedules=Field("list[CronSchedule]", []),
    scheduleStartTime=Field(INT),
    scheduleEndTime=Field(INT),
    description=Field(S),
)

#: Fields that real definition files carry and the server drops, beyond those of another structure
#: (``tests/integration/test_server_model.py`` sends them and checks they are gone). The readers report
#: every field a structure does not model; the JSON schemas (``idflow schema``) list these as deprecated.
DROPPED: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "WorkflowDef": ("retryCount", "retryLogic", "retryDelaySeconds", "responseTimeoutSeconds", "onStateChange"),
        "WorkflowTask": ("callbackFromWorker",),
        "TaskDef": ("version",),
        "EventHandler": ("description",),  # the original idflow's event_handlers.json carry one
    }
)

#: Every structure by name (the names the types above refer to).
MODEL: Mapping[str, Struct] = MappingProxyType(
    {
        s.name: s
        for s in (
            WORKFLOW_DEF,
            WORKFLOW_TASK,
            TASK_DEF,
            SUB_WORKFLOW_PARAMS,
            RATE_LIMIT_CONFIG,
            CACHE_CONFIG,
            SCHEMA_DEF,
            STATE_CHANGE_EVENT,
            EVENT_HANDLER,
            EVENT_ACTION,
            EVENT_START_WORKFLOW,
            EVENT_TASK_DETAILS,
            EVENT_TERMINATE_WORKFLOW,
            EVENT_UPDATE_VARIABLES,
            EVENT_START_AGENT,
            WORKFLOW_SCHEDULE,
            START_WORKFLOW_REQUEST,
            CRON_SCHEDULE,
        )
    }
)


def reachable(root: Struct) -> frozenset[str]:
    """The names of the structures a ``root`` structure holds, at any depth, itself included (the
    workflow file's schema and its server check cover these, not the other kinds' structures)."""
    seen: set[str] = set()
    todo = [root.name]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for f in MODEL[name].fields.values():
            for type_ in (f.type, *f.alternatives):
                inner = element_type(type_)
                while inner is not None:
                    type_ = inner[1]
                    inner = element_type(type_)
                if type_ in MODEL:
                    todo.append(type_)
    return frozenset(seen)


@cache
def element_type(type_: str) -> tuple[str, str] | None:
    """``("list", "T")`` for ``list[T]``, ``("map", "T")`` for ``map[T]``, None for anything else."""
    for container in ("list", "map"):
        if type_.startswith(container + "[") and type_.endswith("]"):
            return container, type_[len(container) + 1 : -1]
    return None
