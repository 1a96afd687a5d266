"""The API's resources. Each method builds one ``Call`` (see ``_client``) and hands it to the
client, which runs it (sync) or returns a coroutine (async): the async classes are the same
classes with every method made ``async def`` by ``_asyncify``, so both surfaces stay equal.

Keyword arguments mirror the OpenAPI request schemas in snake_case (checked by the drift test).
"""

from __future__ import annotations

import functools
import inspect
import json as _json
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Type, TypeVar, Union
from urllib.parse import quote

import httpx

from ._client import (
    Call,
    Page,
    body,
    enveloped,
    ignore,
    page_parser,
    plain,
    query,
)
from ._models import (
    Activity,
    CronJob,
    CronSchedule,
    EvolvedExperiment,
    ApiKey,
    Automation,
    AutomationRun,
    Billing,
    ChatReply,
    ChatThread,
    Chat,
    CreatedKey,
    Dataset,
    DatasetItem,
    Delivery,
    DirectoryListing,
    ExecResult,
    Experiment,
    ExperimentResult,
    FileContent,
    FileWritten,
    Instance,
    MessageReply,
    Model,
    NextRuns,
    PageInfo,
    Scorer,
    Secret,
    TriggerAccepted,
    Webhook,
)

F = TypeVar("F", bound=Callable[..., Any])

#: Default timeout of a chat turn in JSON mode (the whole turn runs before the answer).
CHAT_TIMEOUT = 600.0


def _p(segment: str) -> str:
    """A path segment, percent-encoded."""
    return quote(segment, safe="")


def iterator(fn: F) -> F:
    """Marks a method that returns a paginator or a stream (not awaited in the async client)."""
    fn.__operator_iterator__ = True  # type: ignore[attr-defined]
    return fn


def _read_file(r: httpx.Response) -> Union[DirectoryListing, FileContent]:
    data = r.json()
    if data.get("type") == "directory":
        return DirectoryListing.model_validate(data)
    return FileContent.model_validate(data)


class Resource:
    def __init__(self, client: Any) -> None:
        self._client = client

    def _run(self, call: Call) -> Any:
        return self._client._transport_run(call)

    def _paginate(self, make: Callable[[Optional[str]], Call], cursor: Optional[str] = None) -> Any:
        return self._client._paginate(make, cursor)


class InstanceFiles(Resource):
    """``instances.files``: the instance's workspace (the instance must be ``active``)."""

    def read(self, instance_id: str, path: str = "") -> Union[DirectoryListing, FileContent]:
        """A directory listing, or a file's content (``path`` relative to the workspace root)."""
        return self._run(Call("GET", f"/api/instances/{_p(instance_id)}/files", _read_file, params={"path": path}))

    def write(self, instance_id: str, path: str, content: Union[bytes, str]) -> FileWritten:
        """Creates or replaces a file (up to 10 MiB) with ``content`` (``str`` is sent as UTF-8)."""
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        return self._run(
            Call(
                "PUT",
                f"/api/instances/{_p(instance_id)}/files",
                plain(FileWritten),
                params={"path": path},
                content=data,
                headers={"content-type": "application/octet-stream"},
            )
        )

    def delete(self, instance_id: str, path: str) -> None:
        return self._run(Call("DELETE", f"/api/instances/{_p(instance_id)}/files", ignore, params={"path": path}))


class InstanceBrowser(Resource):
    """``instances.browser``: the instance's headless browser."""

    def open(self, instance_id: str, url: str) -> PageInfo:
        """Loads ``url`` (http/https) and returns its title and text."""
        return self._run(
            Call("POST", f"/api/instances/{_p(instance_id)}/browser/open", plain(PageInfo), json={"url": url})
        )

    def screenshot(self, instance_id: str) -> bytes:
        """A PNG of the current page."""
        return self._run(
            Call(
                "GET",
                f"/api/instances/{_p(instance_id)}/browser/screenshot",
                lambda r: r.content,
                headers={"accept": "image/png"},
            )
        )


class InstanceCron(Resource):
    """``instances.cron``: an ``openclaw`` instance's own scheduler (jobs run inside it)."""

    def list(self, instance_id: str) -> List[CronJob]:
        """Its jobs, OpenClaw's built-in ones (``built_in``) included."""
        return self._run(
            Call(
                "GET",
                f"/api/instances/{_p(instance_id)}/cron",
                lambda r: [CronJob.model_validate(j) for j in r.json()["jobs"]],
            )
        )

    def add(
        self, instance_id: str, name: str, schedule: Union[CronSchedule, Dict[str, Any]], message: str
    ) -> CronJob:
        """A job that asks the instance's agent ``message`` on ``schedule``."""
        return self._run(
            Call(
                "POST",
                f"/api/instances/{_p(instance_id)}/cron",
                enveloped("job", CronJob),
                json={"name": name, "schedule": _wire(schedule), "message": message},
            )
        )


class Instances(Resource):
    """``/api/instances``: agent instances and what runs in them."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.files: InstanceFiles = client._resource(InstanceFiles)
        self.browser: InstanceBrowser = client._resource(InstanceBrowser)
        self.cron: InstanceCron = client._resource(InstanceCron)

    def create(
        self,
        name: str,
        *,
        kind: Optional[str] = None,
        checkpoint_repo: Optional[str] = None,
        env: Optional[Dict[str, str]] = None,
        idempotency_key: Optional[str] = None,
    ) -> Instance:
        """Creates an instance (``status`` starts as ``provisioning``)."""
        return self._run(
            Call(
                "POST",
                "/api/instances",
                enveloped("instance", Instance),
                json=body(name=name, kind=kind, checkpointRepo=checkpoint_repo, env=env),
                headers=_idem(idempotency_key),
            )
        )

    @iterator
    def list(self, *, limit: Optional[int] = None, include_deleted: Optional[bool] = None, cursor: Optional[str] = None) -> Any:
        """Every instance, page after page (``.first_page()`` for one page)."""
        return self._paginate(
            lambda c: Call(
                "GET",
                "/api/instances",
                page_parser("instances", Instance),
                params=query(limit=limit, cursor=c, includeDeleted=include_deleted),
            ),
            cursor,
        )

    def list_page(
        self, *, limit: Optional[int] = None, cursor: Optional[str] = None, include_deleted: Optional[bool] = None
    ) -> Page[Instance]:
        """One page of instances."""
        return self._run(
            Call(
                "GET",
                "/api/instances",
                page_parser("instances", Instance),
                params=query(limit=limit, cursor=cursor, includeDeleted=include_deleted),
            )
        )

    def get(self, instance_id: str) -> Instance:
        """By id (``inst_...``) or name."""
        return self._run(Call("GET", f"/api/instances/{_p(instance_id)}", enveloped("instance", Instance)))

    def update(
        self,
        instance_id: str,
        *,
        name: Optional[str] = None,
        env: Optional[Dict[str, str]] = None,
        config: Optional[Dict[str, Any]] = None,
        channels: Optional[Dict[str, Any]] = None,
    ) -> Instance:
        """``channels`` (an ``openclaw`` instance): e.g. ``{"telegram": {"botTokenSecret":
        "TELEGRAM_BOT_TOKEN", "allowFrom": ["123456"]}}``; a change restarts an active one."""
        return self._run(
            Call(
                "PUT",
                f"/api/instances/{_p(instance_id)}",
                enveloped("instance", Instance),
                json=body(name=name, env=env, config=config, channels=channels),
            )
        )

    def restart(self, instance_id: str) -> Instance:
        return self._run(Call("POST", f"/api/instances/{_p(instance_id)}/restart", enveloped("instance", Instance)))

    def clone(self, instance_id: str, name: str) -> Instance:
        """A copy of the instance (workspace included) under a new name."""
        return self._run(
            Call("POST", f"/api/instances/{_p(instance_id)}/clone", enveloped("instance", Instance), json={"name": name})
        )

    def delete(self, instance_id: str) -> None:
        """Stops the instance; its status becomes ``inactive``."""
        return self._run(Call("DELETE", f"/api/instances/{_p(instance_id)}", ignore))

    def activity(
        self, instance_id: str, *, cursor: Optional[str] = None, session_id: Optional[str] = None
    ) -> Activity:
        """The instance agent's sessions and a session's transcript lines (JSONL)."""
        return self._run(
            Call(
                "GET",
                f"/api/instances/{_p(instance_id)}/activity",
                plain(Activity),
                params=query(cursor=cursor, sessionId=session_id),
            )
        )

    def exec(
        self,
        instance_id: str,
        command: str,
        *,
        cwd: Optional[str] = None,
        timeout_ms: Optional[int] = None,
    ) -> ExecResult:
        """Runs ``command`` with ``bash -c`` in the workspace."""
        extra = (timeout_ms or 30_000) / 1000.0 + 30.0
        return self._run(
            Call(
                "POST",
                f"/api/instances/{_p(instance_id)}/exec",
                plain(ExecResult),
                json=body(command=command, cwd=cwd, timeoutMs=timeout_ms),
                timeout=max(extra, self._client._timeout_seconds()),
            )
        )

    def message(self, instance_id: str, text: str, *, session_id: Optional[str] = None) -> MessageReply:
        """Sends ``text`` to the instance's own agent and returns its reply."""
        return self._run(
            Call(
                "POST",
                f"/api/instances/{_p(instance_id)}/messages",
                plain(MessageReply),
                json=body(text=text, sessionId=session_id),
                timeout=CHAT_TIMEOUT,
            )
        )

    def wait_for_status(
        self, instance_id: str, status: str = "active", *, timeout: float = 60.0, interval: float = 0.25
    ) -> Instance:
        """Polls until the instance has ``status``; raises ``TimeoutError`` after ``timeout``
        seconds, or ``RuntimeError`` if it ends ``failed`` while waiting for another status."""
        deadline = time.monotonic() + timeout
        while True:
            inst = self.get(instance_id)
            if inst.status == status:
                return inst
            _check_wait(inst, status, deadline)
            time.sleep(interval)


def _check_wait(inst: Instance, status: str, deadline: float) -> None:
    if inst.status == "failed":
        raise RuntimeError(f"instance {inst.id} failed: {inst.status_reason}")
    if time.monotonic() > deadline:
        raise TimeoutError(f"instance {inst.id} is {inst.status}, not {status}")


def _idem(key: Optional[str]) -> Dict[str, str]:
    return {"Idempotency-Key": key} if key else {}


class Secrets(Resource):
    """``/api/secrets``: encrypted values instances read as environment variables."""

    def create(
        self,
        name: str,
        value: str,
        *,
        description: Optional[str] = None,
        is_global: Optional[bool] = None,
    ) -> Secret:
        """Stores a secret; the returned object is the only one that carries ``value``."""
        return self._run(
            Call(
                "POST",
                "/api/secrets",
                enveloped("secret", Secret),
                json=body(name=name, value=value, description=description, isGlobal=is_global),
            )
        )

    @iterator
    def list(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Any:
        return self._paginate(
            lambda c: Call("GET", "/api/secrets", page_parser("secrets", Secret), params=query(limit=limit, cursor=c)),
            cursor,
        )

    def list_page(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page[Secret]:
        return self._run(
            Call("GET", "/api/secrets", page_parser("secrets", Secret), params=query(limit=limit, cursor=cursor))
        )

    def get(self, secret_id: str) -> Secret:
        return self._run(Call("GET", f"/api/secrets/{_p(secret_id)}", enveloped("secret", Secret)))

    def update(
        self,
        secret_id: str,
        *,
        value: Optional[str] = None,
        description: Optional[str] = None,
        is_global: Optional[bool] = None,
    ) -> Secret:
        """Rotates the value and/or changes the description or scope."""
        return self._run(
            Call(
                "PUT",
                f"/api/secrets/{_p(secret_id)}",
                enveloped("secret", Secret),
                json=body(value=value, description=description, isGlobal=is_global),
            )
        )

    def delete(self, secret_id: str) -> None:
        return self._run(Call("DELETE", f"/api/secrets/{_p(secret_id)}", ignore))

    def grant(self, secret_id: str, instance_id: str) -> Secret:
        """Lets one instance read the secret."""
        return self._run(
            Call(
                "POST",
                f"/api/secrets/{_p(secret_id)}/grants",
                enveloped("secret", Secret),
                json={"instanceId": instance_id},
            )
        )

    def revoke(self, secret_id: str, instance_id: str) -> None:
        return self._run(Call("DELETE", f"/api/secrets/{_p(secret_id)}/grants/{_p(instance_id)}", ignore))


class Automations(Resource):
    """``/api/automations``: prompts the Operator agent runs on a cron schedule."""

    def create(
        self,
        name: str,
        prompt: str,
        cron_expression: str,
        *,
        timezone: Optional[str] = None,
        enabled: Optional[bool] = None,
    ) -> Automation:
        return self._run(
            Call(
                "POST",
                "/api/automations",
                enveloped("automation", Automation),
                json=body(name=name, prompt=prompt, cronExpression=cron_expression, timezone=timezone, enabled=enabled),
            )
        )

    @iterator
    def list(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Any:
        return self._paginate(
            lambda c: Call(
                "GET", "/api/automations", page_parser("automations", Automation), params=query(limit=limit, cursor=c)
            ),
            cursor,
        )

    def list_page(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page[Automation]:
        return self._run(
            Call(
                "GET", "/api/automations", page_parser("automations", Automation), params=query(limit=limit, cursor=cursor)
            )
        )

    def get(self, automation_id: str) -> Automation:
        return self._run(Call("GET", f"/api/automations/{_p(automation_id)}", enveloped("automation", Automation)))

    def update(
        self,
        automation_id: str,
        *,
        name: Optional[str] = None,
        prompt: Optional[str] = None,
        cron_expression: Optional[str] = None,
        timezone: Optional[str] = None,
        enabled: Optional[bool] = None,
    ) -> Automation:
        return self._run(
            Call(
                "PUT",
                f"/api/automations/{_p(automation_id)}",
                enveloped("automation", Automation),
                json=body(name=name, prompt=prompt, cronExpression=cron_expression, timezone=timezone, enabled=enabled),
            )
        )

    def delete(self, automation_id: str) -> None:
        return self._run(Call("DELETE", f"/api/automations/{_p(automation_id)}", ignore))

    def run(self, automation_id: str) -> AutomationRun:
        """Runs it now (``202``; the run is queued)."""
        return self._run(Call("POST", f"/api/automations/{_p(automation_id)}/run", enveloped("run", AutomationRun)))

    @iterator
    def runs(self, automation_id: str, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Any:
        """Every run, newest first, page after page."""
        return self._paginate(
            lambda c: Call(
                "GET",
                f"/api/automations/{_p(automation_id)}/runs",
                page_parser("runs", AutomationRun),
                params=query(limit=limit, cursor=c),
            ),
            cursor,
        )

    def runs_page(
        self, automation_id: str, *, limit: Optional[int] = None, cursor: Optional[str] = None
    ) -> Page[AutomationRun]:
        return self._run(
            Call(
                "GET",
                f"/api/automations/{_p(automation_id)}/runs",
                page_parser("runs", AutomationRun),
                params=query(limit=limit, cursor=cursor),
            )
        )

    def next_runs(
        self, cron_expression: str, *, timezone: Optional[str] = None, count: Optional[int] = None
    ) -> NextRuns:
        """Previews a schedule: its next fire times (UTC), soonest first."""
        return self._run(
            Call(
                "GET",
                "/api/automations/next-runs",
                plain(NextRuns),
                params=query(cronExpression=cron_expression, timezone=timezone, count=count),
            )
        )


class Webhooks(Resource):
    """``/api/webhooks``: URLs that run a prompt template with the request body as payload."""

    def create(self, name: str, prompt_template: str, *, enabled: Optional[bool] = None) -> Webhook:
        """``prompt_template`` must contain ``{{payload}}``."""
        return self._run(
            Call(
                "POST",
                "/api/webhooks",
                enveloped("webhook", Webhook),
                json=body(name=name, promptTemplate=prompt_template, enabled=enabled),
            )
        )

    @iterator
    def list(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Any:
        return self._paginate(
            lambda c: Call("GET", "/api/webhooks", page_parser("webhooks", Webhook), params=query(limit=limit, cursor=c)),
            cursor,
        )

    def list_page(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page[Webhook]:
        return self._run(
            Call("GET", "/api/webhooks", page_parser("webhooks", Webhook), params=query(limit=limit, cursor=cursor))
        )

    def get(self, webhook_id: str) -> Webhook:
        return self._run(Call("GET", f"/api/webhooks/{_p(webhook_id)}", enveloped("webhook", Webhook)))

    def update(
        self,
        webhook_id: str,
        *,
        name: Optional[str] = None,
        prompt_template: Optional[str] = None,
        enabled: Optional[bool] = None,
        regenerate_token: Optional[bool] = None,
    ) -> Webhook:
        return self._run(
            Call(
                "PUT",
                f"/api/webhooks/{_p(webhook_id)}",
                enveloped("webhook", Webhook),
                json=body(name=name, promptTemplate=prompt_template, enabled=enabled, regenerateToken=regenerate_token),
            )
        )

    def delete(self, webhook_id: str) -> None:
        return self._run(Call("DELETE", f"/api/webhooks/{_p(webhook_id)}", ignore))

    @iterator
    def deliveries(self, webhook_id: str, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Any:
        return self._paginate(
            lambda c: Call(
                "GET",
                f"/api/webhooks/{_p(webhook_id)}/deliveries",
                page_parser("deliveries", Delivery),
                params=query(limit=limit, cursor=c),
            ),
            cursor,
        )

    def deliveries_page(
        self, webhook_id: str, *, limit: Optional[int] = None, cursor: Optional[str] = None
    ) -> Page[Delivery]:
        return self._run(
            Call(
                "GET",
                f"/api/webhooks/{_p(webhook_id)}/deliveries",
                page_parser("deliveries", Delivery),
                params=query(limit=limit, cursor=cursor),
            )
        )

    def trigger(
        self,
        token_or_url: str,
        payload: Any = None,
        *,
        idempotency_key: Optional[str] = None,
    ) -> TriggerAccepted:
        """Fires a webhook as an outside caller would (no API key: the token is the credential).

        ``payload``: JSON-serialisable data, or ``str``/``bytes`` sent as they are.
        """
        path = token_or_url
        if token_or_url.startswith(("http://", "https://")):
            path = "/api/webhooks/trigger/" + token_or_url.rstrip("/").rsplit("/", 1)[-1]
        else:
            path = f"/api/webhooks/trigger/{_p(token_or_url)}"
        if payload is None:
            content = b""
        elif isinstance(payload, (bytes, bytearray)):
            content = bytes(payload)
        elif isinstance(payload, str):
            content = payload.encode("utf-8")
        else:
            content = _json.dumps(payload).encode("utf-8")
        return self._run(
            Call(
                "POST",
                path,
                plain(TriggerAccepted),
                content=content,
                headers={"content-type": "application/json", **_idem(idempotency_key)},
                auth=False,
            )
        )


class Keys(Resource):
    """``/api/chat-keys``: the account's API keys."""

    def create(self, name: Optional[str] = None) -> CreatedKey:
        """A new key; ``.key`` holds the secret, shown only this once."""
        return self._run(Call("POST", "/api/chat-keys", plain(CreatedKey), json=body(name=name)))

    @iterator
    def list(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Any:
        return self._paginate(
            lambda c: Call("GET", "/api/chat-keys", page_parser("keys", ApiKey), params=query(limit=limit, cursor=c)),
            cursor,
        )

    def list_page(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page[ApiKey]:
        return self._run(
            Call("GET", "/api/chat-keys", page_parser("keys", ApiKey), params=query(limit=limit, cursor=cursor))
        )

    def delete(self, key_id: str) -> None:
        """Revokes the key: its next use fails with 401."""
        return self._run(Call("DELETE", f"/api/chat-keys/{_p(key_id)}", ignore))

    revoke = delete


class BillingResource(Resource):
    """``/api/billing``."""

    def get(self) -> Billing:
        """Plan, capacity and usage of the account."""
        return self._run(Call("GET", "/api/billing", plain(Billing)))


def _wire(value: Any) -> Any:
    """A nested request value as JSON: models by their camelCase fields (the ones given),
    lists and dicts element by element, anything else as it is."""
    if isinstance(value, Model):
        return value.model_dump(by_alias=True, mode="json", exclude_unset=True)
    if isinstance(value, (list, tuple)):
        return [_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    return value


def _dataset(dataset: Union[Dataset, Sequence[Union[DatasetItem, Dict[str, Any]]]]) -> Any:
    """The ``dataset`` body: a list of items is taken as an inline dataset."""
    if isinstance(dataset, (list, tuple)):
        return {"items": _wire(dataset)}
    return _wire(dataset)


class Experiments(Resource):
    """``/api/experiments``: a dataset's items sent to several variants (instances' agents),
    every answer scored, the variants ranked on a leaderboard."""

    def create(
        self,
        name: str,
        instance_ids: List[str],
        dataset: Union[Dataset, Sequence[Union[DatasetItem, Dict[str, Any]]]],
        scorer: Scorer,
        *,
        concurrency: Optional[int] = None,
        idempotency_key: Optional[str] = None,
    ) -> Experiment:
        """Starts an experiment (``status`` starts as ``queued``).

        ``instance_ids``: 1 to 20 instances (ids or names). ``dataset``: ``InlineDataset``,
        ``FileDataset``, ``UrlDataset``, the API's JSON as a ``dict``, or a list of items
        (``DatasetItem`` or ``{"input", "expected"}``). ``scorer``: ``ExactScorer()``,
        ``ContainsScorer()``, ``NumericScorer(metric="mae")``, ``JsonFieldScorer(field="a.b")``,
        ``LlmJudgeScorer(rubric="...")`` or the API's JSON. ``concurrency``: pairs (item ×
        variant) in flight at once, 1 to 16 (the server's default is 4).
        """
        return self._run(
            Call(
                "POST",
                "/api/experiments",
                enveloped("experiment", Experiment),
                json=body(
                    name=name,
                    instanceIds=list(instance_ids),
                    dataset=_dataset(dataset),
                    scorer=_wire(scorer),
                    concurrency=concurrency,
                ),
                headers=_idem(idempotency_key),
            )
        )

    @iterator
    def list(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Any:
        """Every experiment, newest first, page after page (without progress and leaderboard:
        ``get`` one for those)."""
        return self._paginate(
            lambda c: Call(
                "GET", "/api/experiments", page_parser("experiments", Experiment), params=query(limit=limit, cursor=c)
            ),
            cursor,
        )

    def list_page(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page[Experiment]:
        return self._run(
            Call(
                "GET", "/api/experiments", page_parser("experiments", Experiment), params=query(limit=limit, cursor=cursor)
            )
        )

    def get(self, experiment_id: str) -> Experiment:
        """With ``progress`` and the ``leaderboard`` (best first)."""
        return self._run(Call("GET", f"/api/experiments/{_p(experiment_id)}", enveloped("experiment", Experiment)))

    @iterator
    def results(
        self,
        experiment_id: str,
        *,
        instance_id: Optional[str] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> Any:
        """Every result (one per variant and item that ran), by item then variant, page after
        page; ``instance_id`` (id or name) keeps one variant's."""
        return self._paginate(
            lambda c: Call(
                "GET",
                f"/api/experiments/{_p(experiment_id)}/results",
                page_parser("results", ExperimentResult),
                params=query(limit=limit, cursor=c, instanceId=instance_id),
            ),
            cursor,
        )

    def results_page(
        self,
        experiment_id: str,
        *,
        instance_id: Optional[str] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> Page[ExperimentResult]:
        return self._run(
            Call(
                "GET",
                f"/api/experiments/{_p(experiment_id)}/results",
                page_parser("results", ExperimentResult),
                params=query(limit=limit, cursor=cursor, instanceId=instance_id),
            )
        )

    def cancel(self, experiment_id: str) -> Experiment:
        """Pairs not yet sent are not sent; results so far stay. A finished one is unchanged."""
        return self._run(
            Call("POST", f"/api/experiments/{_p(experiment_id)}/cancel", enveloped("experiment", Experiment))
        )

    def evolve(
        self,
        experiment_id: str,
        keep: int,
        population_size: int,
        *,
        instructions: Optional[str] = None,
    ) -> EvolvedExperiment:
        """Keeps the best ``keep`` variants of a succeeded experiment, makes new ones up to
        ``population_size`` (clones whose skill the platform's model rewrites, steered by
        ``instructions``) and starts the same items on the new generation: its experiment is
        ``.experiment`` (``wait`` on it). Within the plan: ``.not_made`` and ``.note`` say what
        did not fit."""
        return self._run(
            Call(
                "POST",
                f"/api/experiments/{_p(experiment_id)}/evolve",
                plain(EvolvedExperiment),
                json=body(keep=keep, populationSize=population_size, instructions=instructions),
            )
        )

    def delete(self, experiment_id: str) -> None:
        """Deletes it with its results (a running one stops)."""
        return self._run(Call("DELETE", f"/api/experiments/{_p(experiment_id)}", ignore))

    def wait(self, experiment_id: str, *, timeout: float = 600.0, interval: float = 0.5) -> Experiment:
        """Polls ``get`` until the experiment is ``succeeded``, ``failed`` or ``cancelled`` and
        returns it (check ``.status``); raises ``TimeoutError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            exp = self.get(experiment_id)
            if exp.is_terminal:
                return exp
            _check_experiment_wait(exp, deadline)
            time.sleep(interval)


def _check_experiment_wait(exp: Experiment, deadline: float) -> None:
    if time.monotonic() > deadline:
        done = f" ({exp.progress.done}/{exp.progress.total} done)" if exp.progress else ""
        raise TimeoutError(f"experiment {exp.id} is still {exp.status}{done}")


def _chat_body(text: str, chat_id: Optional[str]) -> Dict[str, Any]:
    return body(id=chat_id, messages=[{"role": "user", "parts": [{"type": "text", "text": text}]}])


class ChatResource(Resource):
    """``/api/chat``: the Operator agent."""

    def send(self, text: str, chat_id: Optional[str] = None, *, timeout: Optional[float] = None) -> ChatReply:
        """Runs one turn and returns its final text (``x-response-format: json``).

        Omit ``chat_id`` to start a chat; pass the returned ``.chat_id`` to continue it.
        """
        return self._run(
            Call(
                "POST",
                "/api/chat",
                plain(ChatReply),
                json=_chat_body(text, chat_id),
                headers={"x-response-format": "json"},
                auto_idempotency=False,
                timeout=timeout or CHAT_TIMEOUT,
            )
        )

    @iterator
    def stream(self, text: str, chat_id: Optional[str] = None) -> Any:
        """Runs one turn, yielding its typed events live (``StartEvent``, ``TextDeltaEvent``,
        ``ToolInputAvailableEvent``, ...). The request is sent on first iteration/``with``."""
        return self._client._stream(
            Call(
                "POST",
                "/api/chat",
                json=_chat_body(text, chat_id),
                headers={"accept": "text/event-stream"},
                auto_idempotency=False,
                stream=True,
                timeout=self._client._stream_timeout(),
            )
        )

    @iterator
    def reattach(self, chat_id: str, after: Optional[Union[str, int]] = None) -> Any:
        """Re-attaches to the chat's running turn: replays its events after event id ``after``
        (from its start when ``None``), then streams live. With no turn running and no ``after``
        the stream is empty (the server answers 204); ``after=0`` replays the last turn."""
        return self._client._stream(
            Call(
                "GET",
                f"/api/chat/{_p(chat_id)}/stream",
                params=query(after=None if after is None else str(after)),
                headers={"accept": "text/event-stream"},
                stream=True,
                timeout=self._client._stream_timeout(),
            )
        )

    @iterator
    def history(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Any:
        """Every chat, most recent first, page after page."""
        return self._paginate(
            lambda c: Call("GET", "/api/chat/history", page_parser("chats", Chat), params=query(limit=limit, cursor=c)),
            cursor,
        )

    def history_page(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page[Chat]:
        return self._run(
            Call("GET", "/api/chat/history", page_parser("chats", Chat), params=query(limit=limit, cursor=cursor))
        )

    def get(self, chat_id: str) -> ChatThread:
        """The chat and its messages."""
        return self._run(Call("GET", f"/api/chat/{_p(chat_id)}", plain(ChatThread)))

    def delete(self, chat_id: str) -> None:
        return self._run(Call("DELETE", f"/api/chat/{_p(chat_id)}", ignore))


# --- the async surface ----------------------------------------------------------------

_ASYNC: Dict[type, type] = {}


def _asyncify(cls: Type[Resource]) -> type:
    """The async twin of a resource class: every public method that runs a request becomes
    ``async def`` with the same signature; paginators and streams are returned as they are."""
    namespace: Dict[str, Any] = {"__doc__": cls.__doc__, "__module__": cls.__module__}
    for name, fn in inspect.getmembers(cls, inspect.isfunction):
        if name.startswith("_") or getattr(fn, "__operator_iterator__", False):
            continue

        def make(f: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(f)
            async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
                return await f(self, *args, **kwargs)

            return method

        namespace[name] = make(fn)
    twin = type("Async" + cls.__name__, (cls,), namespace)
    _ASYNC[cls] = twin
    return twin


AsyncInstanceFiles = _asyncify(InstanceFiles)
AsyncInstanceBrowser = _asyncify(InstanceBrowser)
AsyncInstanceCron = _asyncify(InstanceCron)
AsyncSecrets = _asyncify(Secrets)
AsyncAutomations = _asyncify(Automations)
AsyncWebhooks = _asyncify(Webhooks)
AsyncKeys = _asyncify(Keys)
AsyncBillingResource = _asyncify(BillingResource)
AsyncChatResource = _asyncify(ChatResource)
_AsyncExperimentsBase = _asyncify(Experiments)
_AsyncInstancesBase = _asyncify(Instances)


class AsyncInstances(_AsyncInstancesBase):  # type: ignore[misc,valid-type]
    __doc__ = Instances.__doc__

    async def wait_for_status(  # type: ignore[override]
        self, instance_id: str, status: str = "active", *, timeout: float = 60.0, interval: float = 0.25
    ) -> Instance:
        import asyncio

        deadline = time.monotonic() + timeout
        while True:
            inst = await self.get(instance_id)
            if inst.status == status:
                return inst
            _check_wait(inst, status, deadline)
            await asyncio.sleep(interval)


_ASYNC[Instances] = AsyncInstances


class AsyncExperiments(_AsyncExperimentsBase):  # type: ignore[misc,valid-type]
    __doc__ = Experiments.__doc__

    async def wait(  # type: ignore[override]
        self, experiment_id: str, *, timeout: float = 600.0, interval: float = 0.5
    ) -> Experiment:
        import asyncio

        deadline = time.monotonic() + timeout
        while True:
            exp = await self.get(experiment_id)
            if exp.is_terminal:
                return exp
            _check_experiment_wait(exp, deadline)
            await asyncio.sleep(interval)


_ASYNC[Experiments] = AsyncExperiments
