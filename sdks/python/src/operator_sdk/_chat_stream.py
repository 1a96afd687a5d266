"""``ChatStream`` / ``AsyncChatStream``: a chat turn's event stream, opened lazily (on the
first iteration or ``with``), parsed into typed events, and summarised as it goes
(``chat_id``, ``text``, ``error``, ``last_event_id`` for ``chat.reattach``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterator, List, Optional

import httpx

from ._client import Call
from ._errors import StreamError
from ._streaming import ErrorEvent, SSEDecoder, StartEvent, StreamEvent, TextDeltaEvent, parse_event

if TYPE_CHECKING:  # pragma: no cover
    from ._client import AsyncTransport, SyncTransport


class _StreamState:
    def __init__(self) -> None:
        self.chat_id: Optional[str] = None
        self.message_id: Optional[str] = None
        self.events: List[StreamEvent] = []
        self.error: Optional[str] = None
        self.finished = False
        self.last_event_id: Optional[str] = None
        self._text: List[str] = []
        self._decoder = SSEDecoder()
        self._done = False

    @property
    def text(self) -> str:
        """All text deltas received so far."""
        return "".join(self._text)

    def _frame(self, frame: Any) -> Optional[StreamEvent]:
        if frame is None:
            return None
        event_id, data = frame
        if data == "[DONE]":
            self._done = True
            return None
        try:
            raw = json.loads(data)
        except ValueError:
            return None
        if not isinstance(raw, dict):
            return None
        event = parse_event(raw, event_id)
        if event_id is not None:
            self.last_event_id = event_id
        if isinstance(event, StartEvent):
            self.chat_id = event.chat_id or self.chat_id
            self.message_id = event.message_id
        elif isinstance(event, TextDeltaEvent):
            self._text.append(event.delta)
        elif isinstance(event, ErrorEvent):
            self.error = event.error_text
        elif event.type == "finish":
            self.finished = True
        self.events.append(event)
        return event

    def line(self, line: str) -> Optional[StreamEvent]:
        return self._frame(self._decoder.feed(line))

    def end(self) -> Optional[StreamEvent]:
        return self._frame(self._decoder.flush())

    def raise_for_error(self) -> None:
        if self.error is not None:
            raise StreamError(self.error, code="stream_error")


class ChatStream(_StreamState):
    """Iterate it for typed events; use it as a context manager to close it early.

    ``until_done()`` consumes the rest and returns the stream (``.text``, ``.chat_id``).
    """

    def __init__(self, transport: "SyncTransport", call: Call) -> None:
        super().__init__()
        self._transport = transport
        self._call = call
        self._response: Optional[httpx.Response] = None
        self._consumed = False

    def _open(self) -> httpx.Response:
        if self._response is None:
            self._response = self._transport.send(self._call)
        return self._response

    def __enter__(self) -> "ChatStream":
        self._open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._response is not None:
            self._response.close()

    def __iter__(self) -> Iterator[StreamEvent]:
        if self._consumed:
            raise RuntimeError("a ChatStream can be iterated once (its events are in .events)")
        self._consumed = True
        response = self._open()
        try:
            for line in response.iter_lines():
                event = self.line(line)
                if event is not None:
                    yield event
                if self._done:
                    return
            event = self.end()
            if event is not None:
                yield event
        finally:
            self.close()

    def until_done(self) -> "ChatStream":
        for _ in self:
            pass
        return self


class AsyncChatStream(_StreamState):
    """``async for`` over typed events; ``async with`` to close early."""

    def __init__(self, transport: "AsyncTransport", call: Call) -> None:
        super().__init__()
        self._transport = transport
        self._call = call
        self._response: Optional[httpx.Response] = None
        self._consumed = False

    async def _open(self) -> httpx.Response:
        if self._response is None:
            self._response = await self._transport.send(self._call)
        return self._response

    async def __aenter__(self) -> "AsyncChatStream":
        await self._open()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._response is not None:
            await self._response.aclose()

    async def __aiter__(self) -> AsyncIterator[StreamEvent]:
        if self._consumed:
            raise RuntimeError("an AsyncChatStream can be iterated once (its events are in .events)")
        self._consumed = True
        response = await self._open()
        try:
            async for line in response.aiter_lines():
                event = self.line(line)
                if event is not None:
                    yield event
                if self._done:
                    return
            event = self.end()
            if event is not None:
                yield event
        finally:
            await self.aclose()

    async def until_done(self) -> "AsyncChatStream":
        async for _ in self:
            pass
        return self
