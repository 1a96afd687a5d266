"""``Operator`` and ``AsyncOperator``: the entry points. Both expose the same resources
(``instances``, ``secrets``, ``automations``, ``webhooks``, ``experiments``, ``keys``,
``billing``, ``chat``) and ``health()`` / ``whoami()``; the async one's methods are coroutines
and its lists and streams async iterators."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Optional, Type, TypeVar, Union

import httpx

from . import _resources as r
from ._chat_stream import AsyncChatStream, ChatStream
from ._client import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    AsyncPaginator,
    AsyncTransport,
    Call,
    Paginator,
    SyncTransport,
    TimeoutTypes,
    plain,
)
from ._config import resolve
from ._models import Health, WhoAmI

R = TypeVar("R")


def _timeout_seconds(timeout: TimeoutTypes) -> float:
    if timeout is None:
        return 0.0
    if isinstance(timeout, httpx.Timeout):
        return timeout.read or 0.0
    return float(timeout)


def _stream_timeout(timeout: TimeoutTypes) -> Any:
    """Streams wait between events (the server sends a heartbeat every 15 s): read >= 60 s."""
    if timeout is None or isinstance(timeout, httpx.Timeout):
        return timeout
    return httpx.Timeout(float(timeout), read=max(float(timeout), 60.0))


class _Client:
    """What both clients share: the resources over a transport, the transport's settings, and
    the plumbing the resources call."""

    _transport: Any

    def _attach_resources(self) -> None:
        self.instances = self._resource(r.Instances)
        self.secrets = self._resource(r.Secrets)
        self.automations = self._resource(r.Automations)
        self.webhooks = self._resource(r.Webhooks)
        self.experiments = self._resource(r.Experiments)
        self.keys = self._resource(r.Keys)
        self.billing = self._resource(r.BillingResource)
        self.chat = self._resource(r.ChatResource)

    def _resource(self, cls: Type[Any]) -> Any:
        raise NotImplementedError

    @property
    def api_key(self) -> str:
        return self._transport.api_key

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def max_retries(self) -> int:
        return self._transport.max_retries

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _transport_run(self, call: Call) -> Any:
        return self._transport.request(call)

    def _timeout_seconds(self) -> float:
        return _timeout_seconds(self._transport.timeout)

    def _stream_timeout(self) -> Any:
        return _stream_timeout(self._transport.timeout)


class Operator(_Client):
    """The Operator API client.

    ``api_key`` and ``base_url`` default to ``OPERATOR_API_KEY`` / ``OPERATOR_URL``, then to
    ``operatorApiKey`` / ``operatorAppUrl`` of ``~/.operator/config.json``. ``timeout`` is in
    seconds (or an ``httpx.Timeout``); ``max_retries`` bounds retries of 429/5xx/connection
    errors (see ``operator_sdk._client``).
    """

    instances: r.Instances
    secrets: r.Secrets
    automations: r.Automations
    webhooks: r.Webhooks
    experiments: r.Experiments
    keys: r.Keys
    billing: r.BillingResource
    chat: r.ChatResource

    def __init__(
        self,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        *,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Optional[Dict[str, str]] = None,
        http_client: Optional[httpx.Client] = None,
        config_path: Optional[Union[str, Path]] = None,
    ) -> None:
        key, url = resolve(api_key, base_url, Path(config_path) if config_path else None)
        self._transport = SyncTransport(
            api_key=key,
            base_url=url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            http_client=http_client,
        )
        self._attach_resources()

    # plumbing used by the resources
    def _resource(self, cls: Type[R]) -> R:
        return cls(self)  # type: ignore[call-arg]

    def _paginate(self, make: Callable[[Optional[str]], Call], cursor: Optional[str]) -> Paginator[Any]:
        return Paginator(lambda c: self._transport.request(make(c)), cursor)

    def _stream(self, call: Call) -> ChatStream:
        return ChatStream(self._transport, call)

    # top-level calls
    def health(self) -> Health:
        """``GET /api/health`` (no key needed)."""
        return self._transport.request(Call("GET", "/api/health", plain(Health), auth=False))

    def whoami(self) -> WhoAmI:
        """``GET /api/cli/health``: the account and plan of the API key."""
        return self._transport.request(Call("GET", "/api/cli/health", plain(WhoAmI)))

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> "Operator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncOperator(_Client):
    """``Operator`` for asyncio: ``await client.instances.get(...)``, ``async for`` over
    ``list()`` and ``chat.stream()``."""

    instances: r.AsyncInstances
    secrets: Any
    automations: Any
    webhooks: Any
    experiments: r.AsyncExperiments
    keys: Any
    billing: Any
    chat: Any

    def __init__(
        self,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        *,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Optional[Dict[str, str]] = None,
        http_client: Optional[httpx.AsyncClient] = None,
        config_path: Optional[Union[str, Path]] = None,
    ) -> None:
        key, url = resolve(api_key, base_url, Path(config_path) if config_path else None)
        self._transport = AsyncTransport(
            api_key=key,
            base_url=url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            http_client=http_client,
        )
        self._attach_resources()

    def _resource(self, cls: Type[Any]) -> Any:
        return r._ASYNC[cls](self)

    def _paginate(self, make: Callable[[Optional[str]], Call], cursor: Optional[str]) -> AsyncPaginator[Any]:
        return AsyncPaginator(lambda c: self._transport.request(make(c)), cursor)

    def _stream(self, call: Call) -> AsyncChatStream:
        return AsyncChatStream(self._transport, call)

    async def health(self) -> Health:
        return await self._transport.request(Call("GET", "/api/health", plain(Health), auth=False))

    async def whoami(self) -> WhoAmI:
        return await self._transport.request(Call("GET", "/api/cli/health", plain(WhoAmI)))

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> "AsyncOperator":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
