"""The chat stream: Server-Sent Events carrying the AI SDK UI message stream protocol (v1),
parsed into typed events.

``SSEDecoder`` turns lines into ``(id, data)`` frames; ``parse_event`` turns one frame's JSON
into the event class for its ``type``. Types this SDK does not know (a newer server) become
``UnknownEvent`` rather than an error.
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, List, Optional, Tuple, Type

from pydantic import Field

from ._models import Model

__all__ = [
    "StreamEvent",
    "StartEvent",
    "StartStepEvent",
    "TextStartEvent",
    "TextDeltaEvent",
    "TextEndEvent",
    "ToolInputAvailableEvent",
    "ToolOutputAvailableEvent",
    "FinishStepEvent",
    "FinishEvent",
    "ErrorEvent",
    "DataEvent",
    "UnknownEvent",
    "EVENT_TYPES",
    "parse_event",
    "SSEDecoder",
]


class StreamEvent(Model):
    """One chunk of the UI message stream. ``event_id`` is its SSE ``id:`` (for ``reattach``)."""

    type: str
    event_id: Optional[str] = Field(default=None, exclude=True)
    #: The chunk's ``type`` on the wire.
    wire_type: ClassVar[str] = ""


class StartEvent(StreamEvent):
    wire_type = "start"
    message_id: Optional[str] = None
    message_metadata: Dict[str, Any] = Field(default_factory=dict)

    @property
    def chat_id(self) -> Optional[str]:
        """The chat this turn belongs to (``messageMetadata.chatId``)."""
        value = self.message_metadata.get("chatId")
        return value if isinstance(value, str) else None


class StartStepEvent(StreamEvent):
    wire_type = "start-step"


class TextStartEvent(StreamEvent):
    wire_type = "text-start"
    id: str


class TextDeltaEvent(StreamEvent):
    wire_type = "text-delta"
    id: str
    delta: str


class TextEndEvent(StreamEvent):
    wire_type = "text-end"
    id: str


class ToolInputAvailableEvent(StreamEvent):
    """The agent called a tool (``input`` as stored: secret values redacted)."""

    wire_type = "tool-input-available"
    tool_call_id: str
    tool_name: str
    input: Any = None


class ToolOutputAvailableEvent(StreamEvent):
    wire_type = "tool-output-available"
    tool_call_id: str
    output: Any = None


class FinishStepEvent(StreamEvent):
    wire_type = "finish-step"


class FinishEvent(StreamEvent):
    wire_type = "finish"


class ErrorEvent(StreamEvent):
    wire_type = "error"
    error_text: str


class DataEvent(StreamEvent):
    """A ``data-*`` part (e.g. ``data-summary``)."""

    wire_type = "data-*"
    data: Any = None


class UnknownEvent(StreamEvent):
    """A chunk type this SDK does not know; the whole chunk is in ``raw``."""

    raw: Dict[str, Any] = Field(default_factory=dict)


EVENT_TYPES: Dict[str, Type[StreamEvent]] = {
    cls.wire_type: cls
    for cls in (
        StartEvent,
        StartStepEvent,
        TextStartEvent,
        TextDeltaEvent,
        TextEndEvent,
        ToolInputAvailableEvent,
        ToolOutputAvailableEvent,
        FinishStepEvent,
        FinishEvent,
        ErrorEvent,
    )
}


def parse_event(data: Dict[str, Any], event_id: Optional[str] = None) -> StreamEvent:
    """The typed event for one chunk's JSON."""
    kind = data.get("type")
    if not isinstance(kind, str):
        return UnknownEvent(type="", raw=data, event_id=event_id)
    cls = EVENT_TYPES.get(kind)
    if cls is None and kind.startswith("data-"):
        cls = DataEvent
    if cls is None:
        return UnknownEvent(type=kind, raw=data, event_id=event_id)
    try:
        return cls.model_validate({**data, "event_id": event_id})
    except ValueError:
        return UnknownEvent(type=kind, raw=data, event_id=event_id)


class SSEDecoder:
    """Incremental SSE parser (WHATWG rules for ``data:``, ``id:``, comments, blank lines).

    Feed it lines (without their newline); it returns a frame ``(id, data)`` when a blank
    line ends one. The last ``id:`` seen applies to frames without their own.
    """

    def __init__(self) -> None:
        self._data: List[str] = []
        self._id: Optional[str] = None
        self.last_event_id: Optional[str] = None

    def feed(self, line: str) -> Optional[Tuple[Optional[str], str]]:
        if line == "":
            if not self._data:
                self._id = None
                return None
            frame = (self._id if self._id is not None else self.last_event_id, "\n".join(self._data))
            if self._id is not None:
                self.last_event_id = self._id
            self._data = []
            self._id = None
            return frame
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "id" and "\0" not in value:
            self._id = value
        return None

    def flush(self) -> Optional[Tuple[Optional[str], str]]:
        """A frame left without its closing blank line at end of stream, if any."""
        return self.feed("")


