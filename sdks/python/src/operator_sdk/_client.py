"""The HTTP layer shared by ``Operator`` and ``AsyncOperator``: one ``Call`` describes a
request and how to read its answer; the sync and async transports send it with retries.

Retry policy (bounded, honours ``Retry-After``): a request is retried on 429, any 5xx and
connection errors/timeouts, at most ``max_retries`` times, only when it is safe to repeat:
GET/PUT/DELETE, or a POST carrying an ``Idempotency-Key``. The SDK gives every POST an
automatic ``Idempotency-Key`` (the server replays the first answer for a repeated key), except
chat turns, whose streaming answer is not replayable.
"""

from __future__ import annotations

import asyncio
import json as _json
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Dict,
    Generic,
    Iterator,
    List,
    Optional,
    Type,
    TypeVar,
    Union,
)

import httpx

from ._errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    error_from_response,
    parse_retry_after,
)
from ._models import Model
from ._version import __version__

T = TypeVar("T")
M = TypeVar("M", bound=Model)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2
#: Longest ``Retry-After`` the client waits for; longer ones are raised to the caller.
MAX_RETRY_AFTER = 60.0
INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 8.0

TimeoutTypes = Union[float, httpx.Timeout, None]


class _NotGiven:
    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()


@dataclass
class Call:
    """One API request and how to turn its response into a result."""

    method: str
    path: str
    parse: Callable[[httpx.Response], Any] = lambda r: None
    params: Optional[Dict[str, Any]] = None
    json: Any = NOT_GIVEN
    content: Optional[bytes] = None
    headers: Dict[str, str] = field(default_factory=dict)
    #: Send the API key (the webhook trigger does not).
    auth: bool = True
    #: Give a POST an automatic ``Idempotency-Key`` (and so make it retryable).
    auto_idempotency: bool = True
    timeout: Any = NOT_GIVEN
    stream: bool = False


def body(**fields: Any) -> Dict[str, Any]:
    """A JSON body from keyword arguments, ``None`` values left out."""
    return {k: v for k, v in fields.items() if v is not None}


def query(**fields: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for k, v in fields.items():
        if v is None:
            continue
        out[k] = ("true" if v else "false") if isinstance(v, bool) else v
    return out


def enveloped(key: str, model: Type[M]) -> Callable[[httpx.Response], M]:
    """Parser for ``{"<key>": {...}}``."""

    def parse(r: httpx.Response) -> M:
        return model.model_validate(r.json()[key])

    return parse


def plain(model: Type[M]) -> Callable[[httpx.Response], M]:
    def parse(r: httpx.Response) -> M:
        return model.model_validate(r.json())

    return parse


def ignore(r: httpx.Response) -> None:
    return None


# --- pagination -----------------------------------------------------------------------


@dataclass
class Page(Generic[T]):
    """One page of a list: its ``items`` and the cursor of the next page (``None`` at the end)."""

    items: List[T]
    next_cursor: Optional[str]

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


def page_parser(key: str, model: Type[M]) -> Callable[[httpx.Response], Page[M]]:
    def parse(r: httpx.Response) -> Page[M]:
        data = r.json()
        return Page([model.model_validate(x) for x in data[key]], data.get("nextCursor"))

    return parse


class Paginator(Generic[T]):
    """Iterates every item of a list, fetching the next page (``nextCursor``) as needed.

    ``first_page()`` (or ``page(cursor)``) fetches a single page; ``pages()`` iterates pages.
    """

    def __init__(self, fetch: Callable[[Optional[str]], Page[T]], cursor: Optional[str] = None):
        self._fetch = fetch
        self._cursor = cursor

    def page(self, cursor: Optional[str] = None) -> Page[T]:
        return self._fetch(cursor)

    def first_page(self) -> Page[T]:
        return self._fetch(self._cursor)

    def pages(self) -> Iterator[Page[T]]:
        cursor = self._cursor
        while True:
            page = self._fetch(cursor)
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.items

    def to_list(self) -> List[T]:
        return list(self)


class AsyncPaginator(Generic[T]):
    """``async for`` over every item; ``await first_page()`` for one page."""

    def __init__(
        self, fetch: Callable[[Optional[str]], Awaitable[Page[T]]], cursor: Optional[str] = None
    ):
        self._fetch = fetch
        self._cursor = cursor

    async def page(self, cursor: Optional[str] = None) -> Page[T]:
        return await self._fetch(cursor)

    async def first_page(self) -> Page[T]:
        return await self._fetch(self._cursor)

    async def pages(self) -> AsyncIterator[Page[T]]:
        cursor = self._cursor
        while True:
            page = await self._fetch(cursor)
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.items:
                yield item

    async def to_list(self) -> List[T]:
        return [x async for x in self]


# --- the transports -------------------------------------------------------------------


class _Base:
    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout: TimeoutTypes,
        max_retries: int,
        default_headers: Optional[Dict[str, str]],
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.api_key = api_key
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self._default_headers = dict(default_headers or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _build(self, http: Union[httpx.Client, httpx.AsyncClient], call: Call) -> httpx.Request:
        headers = {
            "accept": "application/json",
            "user-agent": f"operator-sdk-python/{__version__}",
            **self._default_headers,
        }
        if call.auth:
            headers["authorization"] = f"Bearer {self.api_key}"
        headers.update(call.headers)
        lower = {k.lower() for k in headers}
        if call.method == "POST" and call.auto_idempotency and "idempotency-key" not in lower:
            headers["Idempotency-Key"] = f"sdk-{uuid.uuid4()}"
        kwargs: Dict[str, Any] = {}
        if call.json is not NOT_GIVEN:
            kwargs["content"] = _json.dumps(call.json, separators=(",", ":")).encode()
            headers["content-type"] = "application/json"
        elif call.content is not None:
            kwargs["content"] = call.content
        timeout = self.timeout if call.timeout is NOT_GIVEN else call.timeout
        return http.build_request(
            call.method,
            self.base_url + call.path,
            params=call.params or None,
            headers=headers,
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            **kwargs,
        )

    @staticmethod
    def _retryable_request(request: httpx.Request) -> bool:
        return request.method in IDEMPOTENT_METHODS or "idempotency-key" in request.headers

    @staticmethod
    def _retryable_status(status: int) -> bool:
        return status == 429 or status >= 500

    @staticmethod
    def _delay(attempt: int, response: Optional[httpx.Response]) -> Optional[float]:
        """Seconds to wait before retry ``attempt`` (1-based), or ``None``: do not retry."""
        if response is not None:
            after = parse_retry_after(response.headers)
            if after is not None:
                return after if after <= MAX_RETRY_AFTER else None
        backoff = min(MAX_BACKOFF, INITIAL_BACKOFF * 2 ** (attempt - 1))
        return backoff * (0.5 + random.random() / 2)

    @staticmethod
    def _transport_error(e: Exception) -> APIConnectionError:
        if isinstance(e, httpx.TimeoutException):
            return APITimeoutError(f"request timed out: {e}")
        return APIConnectionError(f"connection error: {e}")


def _parse(call: Call, response: httpx.Response) -> Any:
    try:
        return call.parse(response)
    except (ValueError, KeyError, TypeError) as e:  # pydantic's ValidationError is a ValueError
        raise APIResponseValidationError(
            f"unexpected response to {call.method} {call.path}: {e}", status=response.status_code
        ) from e


class SyncTransport(_Base):
    def __init__(self, *, http_client: Optional[httpx.Client] = None, **kw: Any) -> None:
        super().__init__(**kw)
        self._owns_http = http_client is None
        self.http = http_client or httpx.Client()

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def send(self, call: Call) -> httpx.Response:
        """Sends with retries; returns a 2xx/3xx response (unread when ``call.stream``)."""
        request = self._build(self.http, call)
        retryable = self._retryable_request(request)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.http.send(request, stream=call.stream)
            except httpx.TransportError as e:
                delay = self._delay(attempt, None) if retryable else None
                if delay is None or attempt > self.max_retries:
                    raise self._transport_error(e) from e
                time.sleep(delay)
                continue
            if response.status_code < 400:
                return response
            if retryable and attempt <= self.max_retries and self._retryable_status(response.status_code):
                delay = self._delay(attempt, response)
                if delay is not None:
                    response.close()
                    time.sleep(delay)
                    continue
            response.read()
            response.close()
            raise error_from_response(response)

    def request(self, call: Call) -> Any:
        response = self.send(call)
        try:
            return _parse(call, response)
        finally:
            response.close()


class AsyncTransport(_Base):
    def __init__(self, *, http_client: Optional[httpx.AsyncClient] = None, **kw: Any) -> None:
        super().__init__(**kw)
        self._owns_http = http_client is None
        self.http = http_client or httpx.AsyncClient()

    async def close(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    async def send(self, call: Call) -> httpx.Response:
        request = self._build(self.http, call)
        retryable = self._retryable_request(request)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self.http.send(request, stream=call.stream)
            except httpx.TransportError as e:
                delay = self._delay(attempt, None) if retryable else None
                if delay is None or attempt > self.max_retries:
                    raise self._transport_error(e) from e
                await asyncio.sleep(delay)
                continue
            if response.status_code < 400:
                return response
            if retryable and attempt <= self.max_retries and self._retryable_status(response.status_code):
                delay = self._delay(attempt, response)
                if delay is not None:
                    await response.aclose()
                    await asyncio.sleep(delay)
                    continue
            await response.aread()
            await response.aclose()
            raise error_from_response(response)

    async def request(self, call: Call) -> Any:
        response = await self.send(call)
        try:
            return _parse(call, response)
        finally:
            await response.aclose()
