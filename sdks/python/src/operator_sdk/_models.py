"""Typed models of the API's JSON, snake_case in Python, camelCase on the wire.

Each model names the OpenAPI schema it mirrors in ``openapi``: a component name
(``"InstanceView"``) or, for responses the document describes inline, the operation and
status (``"POST /api/instances/{id}/exec 200"``) or ``request`` (its JSON body), optionally
followed by a path into the schema (``sessions[]``, ``|type=exact`` for a tagged union's
variant, ``?items`` for the variant of an untagged one that has that property), with
``openapi_fallback`` locators tried next. ``tests/test_openapi_drift.py`` checks every model's
fields, and which of them are required, against that schema, so the models cannot drift from
the API.

Unknown fields sent by a newer server are kept (``model_extra``), never rejected.
"""

from __future__ import annotations

import base64
import datetime as _dt
from typing import Any, ClassVar, Dict, List, Optional, Tuple, Union

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel

try:  # Python 3.8+: typing.Literal
    from typing import Literal
except ImportError:  # pragma: no cover
    from typing_extensions import Literal  # type: ignore

__all__ = [
    "InstanceStatus",
    "InstanceKind",
    "RunStatus",
    "DeliveryStatus",
    "PlanSlug",
    "Model",
    "Health",
    "WhoAmI",
    "Instance",
    "ExecResult",
    "MessageReply",
    "PageInfo",
    "DirEntry",
    "DirectoryListing",
    "FileContent",
    "FileWritten",
    "SessionMeta",
    "SelectedSession",
    "Activity",
    "CronSchedule",
    "CronJob",
    "Secret",
    "Automation",
    "AutomationRun",
    "NextRuns",
    "Webhook",
    "Delivery",
    "TriggerAccepted",
    "ApiKey",
    "CreatedKey",
    "Plan",
    "Capacity",
    "InstanceUsage",
    "Usage",
    "Billing",
    "Chat",
    "ChatMessage",
    "ChatThread",
    "ChatReply",
    "ScorerMetric",
    "ExactScorer",
    "ContainsScorer",
    "NumericScorer",
    "JsonFieldScorer",
    "LlmJudgeScorer",
    "Scorer",
    "DatasetItem",
    "DatasetFile",
    "InlineDataset",
    "FileDataset",
    "UrlDataset",
    "Dataset",
    "ExperimentProgress",
    "LeaderboardEntry",
    "Experiment",
    "ExperimentResult",
    "VariantRef",
    "EvolvedExperiment",
    "ErrorDetail",
]

InstanceStatus = Literal["provisioning", "active", "restarting", "inactive", "suspended", "failed"]
InstanceKind = Literal["prebuilt", "blank", "openclaw"]
RunStatus = Literal["queued", "running", "succeeded", "failed"]
DeliveryStatus = Literal["queued", "running", "succeeded", "failed"]
PlanSlug = Literal["basic", "pro", "max", "enterprise"]
#: How a ``numeric`` scorer aggregates item errors: mean absolute or root mean squared error.
ScorerMetric = Literal["mae", "rmse"]

#: Literal aliases and the OpenAPI enum schema each one mirrors, a component or a locator (see
#: the module doc), checked by the drift test.
ENUMS: Dict[str, Tuple[Any, str]] = {
    "InstanceStatus": (InstanceStatus, "InstanceStatus"),
    "InstanceKind": (InstanceKind, "InstanceKind"),
    "RunStatus": (RunStatus, "RunStatus"),
    "DeliveryStatus": (DeliveryStatus, "DeliveryStatus"),
    "PlanSlug": (PlanSlug, "PlanSlug"),
    "ScorerMetric": (ScorerMetric, "POST /api/experiments request scorer |type=numeric metric"),
}


class Model(BaseModel):
    """Base of every model: camelCase aliases, snake_case attributes, unknown fields kept."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        frozen=False,
    )

    #: The OpenAPI schema this model mirrors (see the module doc).
    openapi: ClassVar[str] = ""
    #: Locators to try when ``openapi`` names an operation the document gives no schema.
    openapi_fallback: ClassVar[Tuple[str, ...]] = ()

    def to_dict(self) -> Dict[str, Any]:
        """The model as the API's JSON (camelCase keys)."""
        return self.model_dump(by_alias=True, mode="json")


# --- health ---------------------------------------------------------------------------


class Health(Model):
    openapi = "HealthBody"
    ok: bool
    version: str


class WhoAmI(Model):
    """``GET /api/cli/health``: who the API key belongs to."""

    openapi = "CliHealthBody"
    authenticated: bool
    user_id: str
    account_id: str
    plan_slug: str
    has_plan: bool
    token_limit: int


# --- instances ------------------------------------------------------------------------


class Instance(Model):
    openapi = "InstanceView"
    id: str
    name: str
    kind: str
    status: str
    image_tag: str
    env: Dict[str, str]
    config: Dict[str, Any]
    created_at: _dt.datetime
    updated_at: _dt.datetime
    avatar_url: Optional[str] = None
    checkpoint_repo: Optional[str] = None
    deleted_at: Optional[_dt.datetime] = None
    fqdn: Optional[str] = None
    status_reason: Optional[str] = None


class ExecResult(Model):
    openapi = "POST /api/instances/{id}/exec 200"
    openapi_fallback = ("ExecResult", "ExecView")
    #: ``None`` when the command was killed (timeout).
    exit_code: Optional[int] = None
    stdout: str
    stderr: str
    timed_out: bool
    truncated: bool
    duration_ms: int


class MessageReply(Model):
    openapi = "POST /api/instances/{id}/messages 200"
    openapi_fallback = ("MessageReply", "MessageReplyView")
    text: str
    session_id: str


class PageInfo(Model):
    openapi = "POST /api/instances/{id}/browser/open 200"
    openapi_fallback = ("PageInfo", "PageView")
    url: str
    title: str
    text: str


class DirEntry(Model):
    openapi = "GET /api/instances/{id}/files 200 |type=directory entries[]"
    openapi_fallback = ("DirEntry", "FileNode |type=directory entries[]")
    name: str
    type: str
    size: int
    modified_at: Optional[str] = None


class DirectoryListing(Model):
    """``GET /files`` on a directory."""

    openapi = "GET /api/instances/{id}/files 200 |type=directory"
    openapi_fallback = ("FileNode |type=directory", "DirectoryListing")
    path: str
    type: Literal["directory"]
    entries: List[DirEntry]


class FileContent(Model):
    """``GET /files`` on a file; ``content`` is text (``utf-8``) or ``base64``."""

    openapi = "GET /api/instances/{id}/files 200 |type=file"
    openapi_fallback = ("FileNode |type=file", "FileContent")
    path: str
    type: Literal["file"]
    size: int
    modified_at: Optional[str] = None
    encoding: str
    content: str

    def data(self) -> bytes:
        """The file's bytes, whatever the encoding."""
        if self.encoding == "base64":
            return base64.b64decode(self.content)
        return self.content.encode("utf-8")

    @property
    def text(self) -> str:
        """The file as text (base64 content decoded as UTF-8 with replacement)."""
        return self.data().decode("utf-8", errors="replace")


class FileWritten(Model):
    openapi = "PUT /api/instances/{id}/files 200"
    openapi_fallback = ("FileWritten", "FileWrittenView")
    path: str
    size: int


class SessionMeta(Model):
    openapi = "GET /api/instances/{id}/activity 200 sessions[]"
    openapi_fallback = ("SessionMeta",)
    id: str
    title: str
    #: RFC 3339 as the session file says (kept as text: the workspace is the instance's).
    created_at: str
    updated_at: str
    parent_id: Optional[str] = None


class SelectedSession(Model):
    openapi = "GET /api/instances/{id}/activity 200 selectedSession"
    openapi_fallback = ("SelectedSession",)
    id: str
    title: str


class Activity(Model):
    openapi = "GET /api/instances/{id}/activity 200"
    openapi_fallback = ("Activity", "ActivityView")
    sessions: List[SessionMeta]
    line_count: int
    lines: List[str]
    session_changed: bool
    selected_session: Optional[SelectedSession] = None
    #: Pass back as ``cursor`` to get only newer lines.
    cursor: Optional[str] = None


class CronSchedule(Model):
    """When an instance-local job runs: exactly one of ``cron`` (with ``tz``), ``every_seconds``
    or ``at``."""

    openapi = "CronSchedule"
    cron: Optional[str] = None
    tz: Optional[str] = None
    every_seconds: Optional[int] = None
    at: Optional[str] = None


class CronJob(Model):
    """A job of an ``openclaw`` instance's own scheduler."""

    openapi = "GET /api/instances/{id}/cron 200 jobs[]"
    openapi_fallback = ("CronJob",)
    id: str
    name: str
    enabled: bool
    schedule: CronSchedule
    built_in: bool
    message: Optional[str] = None
    next_run_at: Optional[str] = None
    last_run_at: Optional[str] = None
    last_status: Optional[str] = None


# --- secrets --------------------------------------------------------------------------


class Secret(Model):
    """A secret's metadata; ``value`` is set only on the object ``secrets.create`` returns."""

    openapi = "SecretView"
    id: str
    name: str
    is_global: bool
    grants: List[str]
    created_at: _dt.datetime
    updated_at: _dt.datetime
    description: Optional[str] = None
    value: Optional[str] = None


# --- automations ----------------------------------------------------------------------


class Automation(Model):
    openapi = "AutomationView"
    id: str
    name: str
    prompt: str
    cron_expression: str
    timezone: str
    enabled: bool
    chat_id: str
    created_at: _dt.datetime
    updated_at: _dt.datetime
    next_run_at: Optional[_dt.datetime] = None


class AutomationRun(Model):
    openapi = "RunView"
    id: str
    automation_id: str
    status: str
    trigger: str
    scheduled_for: _dt.datetime
    created_at: _dt.datetime
    chat_id: Optional[str] = None
    error: Optional[str] = None
    started_at: Optional[_dt.datetime] = None
    finished_at: Optional[_dt.datetime] = None


class NextRuns(Model):
    openapi = "NextRuns"
    cron_expression: str
    timezone: str
    next_runs: List[_dt.datetime]


# --- webhooks -------------------------------------------------------------------------


class Webhook(Model):
    openapi = "WebhookView"
    id: str
    name: str
    prompt_template: str
    token: str
    url: str
    enabled: bool
    chat_id: str
    created_at: _dt.datetime
    updated_at: _dt.datetime


class Delivery(Model):
    openapi = "DeliveryView"
    id: str
    status: str
    received_at: _dt.datetime
    chat_id: Optional[str] = None
    error: Optional[str] = None
    started_at: Optional[_dt.datetime] = None
    finished_at: Optional[_dt.datetime] = None


class TriggerAccepted(Model):
    openapi = "TriggerAccepted"
    delivery_id: str


# --- API keys -------------------------------------------------------------------------


class ApiKey(Model):
    openapi = "KeyView"
    id: str
    prefix: str
    created_at: _dt.datetime
    name: Optional[str] = None
    last_used_at: Optional[_dt.datetime] = None


class CreatedKey(Model):
    """A new key: ``key`` is the full secret, shown only this once."""

    openapi = "CreatedKeyBody"
    id: str
    key: str


# --- billing --------------------------------------------------------------------------


class Plan(Model):
    openapi = "PlanView"
    slug: str
    name: str
    instance_limit: int
    token_limit: int


class Capacity(Model):
    openapi = "CapacityView"
    used: int
    limit: int


class InstanceUsage(Model):
    openapi = "InstanceUsage"
    instance_id: str
    tokens: int
    series: List[int]


class Usage(Model):
    openapi = "UsageView"
    window_hours: int
    tokens: int
    by_instance: List[InstanceUsage]
    bucket_minutes: int
    period_start: _dt.datetime
    instance_seconds: int
    chat_turns: int
    automation_runs: int
    webhook_deliveries: int
    experiment_items: int


class Billing(Model):
    openapi = "BillingView"
    plan: Plan
    status: str
    capacity: Capacity
    usage: Usage


# --- chat -----------------------------------------------------------------------------


class Chat(Model):
    openapi = "ChatView"
    id: str
    title: str
    created_at: _dt.datetime
    updated_at: _dt.datetime


class ChatMessage(Model):
    """A stored message; ``parts`` are AI SDK UI message parts (``text``, ``tool-*``...)."""

    openapi = "MessageView"
    id: str
    role: str
    parts: List[Dict[str, Any]]
    created_at: _dt.datetime

    @property
    def text(self) -> str:
        """The concatenated text parts."""
        return "".join(p.get("text", "") for p in self.parts if p.get("type") == "text")


class ChatThread(Model):
    """``chat.get(id)``: a chat and its messages, oldest first."""

    openapi = "ChatWithMessages"
    chat: Chat
    messages: List[ChatMessage]


class ChatReply(Model):
    """``chat.send``: the turn's final assistant text."""

    openapi = "POST /api/chat 200"
    openapi_fallback = ("ChatJsonReply", "ChatReply")
    chat_id: str
    text: str


# --- experiments ----------------------------------------------------------------------


class _Tagged(Model):
    """A variant of a union tagged by ``type``: the tag is filled in when left out, so
    ``ExactScorer()`` is ``{"type": "exact"}`` on the wire."""

    tag: ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _fill_tag(cls, data: Any) -> Any:
        if isinstance(data, dict) and "type" not in data:
            return {**data, "type": cls.tag}
        return data


class ExactScorer(_Tagged):
    """The trimmed output equals ``expected``, ignoring case: 1 or 0."""

    openapi = "Scorer |type=exact"
    openapi_fallback = ("POST /api/experiments request scorer |type=exact",)
    tag = "exact"
    type: Literal["exact"]


class ContainsScorer(_Tagged):
    """The output contains ``expected``, ignoring case: 1 or 0."""

    openapi = "Scorer |type=contains"
    openapi_fallback = ("POST /api/experiments request scorer |type=contains",)
    tag = "contains"
    type: Literal["contains"]


class NumericScorer(_Tagged):
    """The first number in the output vs ``expected``: the item's error, aggregated as MAE or
    RMSE (lower is better)."""

    openapi = "Scorer |type=numeric"
    openapi_fallback = ("POST /api/experiments request scorer |type=numeric",)
    tag = "numeric"
    type: Literal["numeric"]
    metric: ScorerMetric


class JsonFieldScorer(_Tagged):
    """The value at dot path ``field`` of the output's JSON equals ``expected``: 1 or 0."""

    openapi = "Scorer |type=jsonField"
    openapi_fallback = ("POST /api/experiments request scorer |type=jsonField",)
    tag = "jsonField"
    type: Literal["jsonField"]
    field: str


class LlmJudgeScorer(_Tagged):
    """The platform's model grades the output against ``rubric``: 0..1 with a reason."""

    openapi = "Scorer |type=llmJudge"
    openapi_fallback = ("POST /api/experiments request scorer |type=llmJudge",)
    tag = "llmJudge"
    type: Literal["llmJudge"]
    rubric: str


#: A scorer as sent and as read back; a scorer type this SDK does not know stays a ``dict``.
Scorer = Union[ExactScorer, ContainsScorer, NumericScorer, JsonFieldScorer, LlmJudgeScorer, Dict[str, Any]]


class DatasetItem(Model):
    """One item: the text sent to each variant and the expected answer (any JSON; all scorers
    but ``llmJudge`` need it)."""

    openapi = "DatasetItem"
    openapi_fallback = ("POST /api/experiments request dataset ?items items[]",)
    input: str
    expected: Any = None


class DatasetFile(Model):
    openapi = "DatasetFile"
    openapi_fallback = ("POST /api/experiments request dataset ?file file",)
    #: The instance (id or name) whose workspace holds the file.
    instance_id: str
    #: Relative to the workspace root: ``.jsonl``/``.ndjson`` or ``.csv``.
    path: str


class InlineDataset(Model):
    """Up to 1,000 items in the request."""

    openapi = "DatasetBody ?items"
    openapi_fallback = ("POST /api/experiments request dataset ?items",)
    items: List[DatasetItem]


class FileDataset(Model):
    """A JSONL or CSV file in an instance's workspace."""

    openapi = "DatasetBody ?file"
    openapi_fallback = ("POST /api/experiments request dataset ?file",)
    file: DatasetFile


class UrlDataset(Model):
    """A JSONL or CSV document at an ``https://`` URL (up to 10 MB)."""

    openapi = "DatasetBody ?url"
    openapi_fallback = ("POST /api/experiments request dataset ?url",)
    url: str


#: A dataset as ``experiments.create`` takes it.
Dataset = Union[InlineDataset, FileDataset, UrlDataset, Dict[str, Any]]


class ExperimentProgress(Model):
    openapi = "ExperimentProgress"
    #: Pairs (item × variant) with a result.
    done: int
    total: int


class LeaderboardEntry(Model):
    """One variant's standing."""

    openapi = "LeaderboardEntry"
    instance_id: str
    instance_name: str
    scored: int
    errors: int
    #: Mean score (0..1, higher is better), or for ``numeric`` the MAE/RMSE (lower is better);
    #: ``None`` until an item is scored.
    score: Optional[float] = None
    #: 95 % confidence interval of the score, ``[low, high]``.
    ci95: Optional[List[float]] = None
    mean_latency_ms: Optional[float] = None


class Experiment(Model):
    """An experiment; ``progress`` and ``leaderboard`` (best first) come with ``experiments.get``
    (and ``wait``), not with the list or ``create``."""

    openapi = "ExperimentView"
    #: Statuses after which nothing runs any more.
    TERMINAL: ClassVar[Tuple[str, ...]] = ("succeeded", "failed", "cancelled")

    id: str
    name: str
    #: ``queued``, ``running``, ``succeeded``, ``failed`` or ``cancelled``.
    status: str
    instance_ids: List[str]
    scorer: Scorer
    item_count: int
    concurrency: int
    created_at: _dt.datetime
    updated_at: _dt.datetime
    progress: Optional[ExperimentProgress] = None
    leaderboard: Optional[List[LeaderboardEntry]] = None
    #: Why it failed.
    error: Optional[str] = None
    finished_at: Optional[_dt.datetime] = None

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL


class ExperimentResult(Model):
    """One (variant, item) that ran: the output and its score, or the item's error."""

    openapi = "ExperimentResultView"
    instance_id: str
    item_index: int
    input: str
    expected: Any = None
    output: Optional[str] = None
    score: Optional[float] = None
    #: The judge's reason (``llmJudge``), or what a ``jsonField`` scorer found.
    reason: Optional[str] = None
    error: Optional[str] = None
    latency_ms: Optional[int] = None


class VariantRef(Model):
    """A variant an evolution made."""

    openapi = "VariantRef"
    id: str
    name: str


class EvolvedExperiment(Model):
    """What ``experiments.evolve`` did: the new generation's experiment (running), the new
    variants, how many the plan had no room for, and a sentence saying so."""

    openapi = "EvolvedView"
    experiment: "Experiment"
    variants: List[VariantRef]
    not_made: int
    note: str


class ErrorDetail(Model):
    openapi = "ErrorDetail"
    code: str
    message: str
    details: Optional[Dict[str, Any]] = None
