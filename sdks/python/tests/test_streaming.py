"""The SSE / UI message stream parser on hand-written wire text: comments, heartbeats,
multi-line data, ids, unknown and data-* chunks, error chunks, [DONE]."""

from __future__ import annotations

import httpx
import pytest

from operator_sdk import (
    DataEvent,
    ErrorEvent,
    FinishEvent,
    Operator,
    StartEvent,
    StreamError,
    TextStartEvent,
    TextDeltaEvent,
    UnknownEvent,
)
from operator_sdk._streaming import SSEDecoder

WIRE = (
    ": heartbeat\r\n\r\n"
    'id: 1\r\ndata: {"type":"start","messageId":"msg_1","messageMetadata":{"chatId":"chat_9"}}\r\n\r\n'
    'id: 2\ndata: {"type":"text-start","id":"t"}\n\n'
    'id: 3\ndata: {"type":"text-delta",\ndata: "id":"t","delta":"Hel"}\n\n'
    'id: 4\ndata: {"type":"text-delta","id":"t","delta":"lo"}\n\n'
    'id: 5\ndata: {"type":"data-summary","data":{"text":"s"}}\n\n'
    'id: 6\ndata: {"type":"reasoning-delta","id":"r","delta":"hmm"}\n\n'
    'id: 7\ndata: {"type":"error","errorText":"model failed"}\n\n'
    'id: 8\ndata: {"type":"finish"}\n\n'
    "data: [DONE]\n\n"
    'id: 9\ndata: {"type":"text-delta","id":"t","delta":"after done"}\n\n'
)


def streaming_client(wire: str, seen: list) -> Operator:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=wire.encode())

    return Operator(api_key="k", base_url="http://sdk.test", http_client=httpx.Client(transport=httpx.MockTransport(handler)))


def test_stream_parses_every_chunk_kind_and_stops_at_done():
    seen: list = []
    stream = streaming_client(WIRE, seen).chat.stream("hi", chat_id="chat_9")
    assert seen == []  # lazy: nothing sent before iteration
    events = list(stream)
    assert [type(e) for e in events] == [
        StartEvent, TextStartEvent, TextDeltaEvent, TextDeltaEvent, DataEvent, UnknownEvent, ErrorEvent, FinishEvent
    ]
    assert [e.event_id for e in events] == [str(i) for i in range(1, 9)]
    assert stream.chat_id == "chat_9" and stream.message_id == "msg_1"
    assert stream.text == "Hello" and stream.last_event_id == "8"
    assert events[4].data == {"text": "s"} and events[5].raw["delta"] == "hmm"
    assert stream.error == "model failed"
    with pytest.raises(StreamError) as e:
        stream.raise_for_error()
    assert e.value.message == "model failed"
    # the request: the chat body the AI SDK would send, no automatic idempotency key
    import json

    body = json.loads(seen[0].content)
    assert body == {"id": "chat_9", "messages": [{"role": "user", "parts": [{"type": "text", "text": "hi"}]}]}
    assert "idempotency-key" not in seen[0].headers and seen[0].headers["accept"] == "text/event-stream"
    with pytest.raises(RuntimeError):
        list(stream)


def test_reattach_sends_after():
    seen: list = []
    s = streaming_client('id: 5\ndata: {"type":"finish"}\n\ndata: [DONE]\n\n', seen).chat.reattach("chat_1", after=4)
    assert [e.type for e in s] == ["finish"]
    assert seen[0].method == "GET" and seen[0].url.path == "/api/chat/chat_1/stream"
    assert seen[0].url.params["after"] == "4"


def test_decoder_keeps_the_last_id_and_ignores_other_fields():
    d = SSEDecoder()
    assert d.feed("event: x") is None and d.feed("retry: 10") is None and d.feed("id: 3") is None
    assert d.feed("data:no-space") is None
    assert d.feed("") == ("3", "no-space")
    assert d.feed("data: again") is None and d.feed("") == ("3", "again")
    assert d.flush() is None
