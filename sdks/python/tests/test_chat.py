"""chat: JSON turns, streamed turns with a tool step, history, get, delete, reattach."""

from __future__ import annotations

import pytest

from conftest import assert_exact
from fake_llm import Text, ToolCalls
from operator_sdk import (
    Chat,
    ChatReply,
    ChatThread,
    FinishEvent,
    NotFoundError,
    Operator,
    StartEvent,
    StartStepEvent,
    TextDeltaEvent,
    TextStartEvent,
    ToolInputAvailableEvent,
    ToolOutputAvailableEvent,
)


def test_send_returns_chat_id_and_text_and_continues_the_chat(client: Operator, fake_llm):
    # GIVEN the model answers twice
    fake_llm.push(Text("Hello! I am the Operator."), Text("You said hi before."))
    sent_before = fake_llm.request_count()
    # WHEN a chat is started and continued
    first = client.chat.send("hi")
    assert isinstance(first, ChatReply)
    assert first.chat_id.startswith("chat_") and first.text == "Hello! I am the Operator."
    assert_exact(first)
    second = client.chat.send("what did I say?", chat_id=first.chat_id)
    # THEN the same chat carries on and the model saw the earlier turn
    assert second.chat_id == first.chat_id and second.text == "You said hi before."
    last = fake_llm.requests[-1]
    assert fake_llm.request_count() == sent_before + 2
    contents = [m.get("content") for m in last["messages"]]
    assert any("hi" == c or (isinstance(c, str) and "hi" in c) for c in contents)
    # AND get() shows both turns in order
    thread = client.chat.get(first.chat_id)
    assert isinstance(thread, ChatThread) and thread.chat.id == first.chat_id
    roles = [m.role for m in thread.messages]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert thread.messages[1].text == "Hello! I am the Operator."


def test_stream_yields_typed_events_with_a_tool_step(client: Operator, fake_llm, active_instance):
    # GIVEN the model calls list_instances, then answers
    fake_llm.push(ToolCalls(("list_instances", {})), Text("You have some instances."))
    # WHEN the turn is streamed
    stream = client.chat.stream("Which instances do I have?")
    events = list(stream)
    types = [e.type for e in events]
    # THEN the events are typed and in protocol order
    assert isinstance(events[0], StartEvent) and events[0].chat_id and events[0].chat_id.startswith("chat_")
    assert stream.chat_id == events[0].chat_id
    assert isinstance(events[1], StartStepEvent)
    call = next(e for e in events if isinstance(e, ToolInputAvailableEvent))
    assert call.tool_name == "list_instances" and call.tool_call_id
    out = next(e for e in events if isinstance(e, ToolOutputAvailableEvent))
    assert out.tool_call_id == call.tool_call_id
    assert active_instance.id in str(out.output)
    assert types.index("tool-input-available") < types.index("tool-output-available") < types.index("text-start")
    starts = {e.id for e in events if isinstance(e, TextStartEvent)}
    assert all(e.id in starts for e in events if isinstance(e, TextDeltaEvent))
    assert isinstance(events[-1], FinishEvent)
    assert "".join(e.delta for e in events if isinstance(e, TextDeltaEvent)) == "You have some instances."
    assert stream.text == "You have some instances." and stream.error is None and stream.finished
    # every event carries its SSE id, increasing
    ids = [int(e.event_id) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)

    # WHEN re-attaching after the third event THEN exactly the rest is replayed
    replay = client.chat.reattach(stream.chat_id, after=events[2].event_id).until_done()
    assert [e.type for e in replay.events] == types[3:]
    assert replay.text == "You have some instances."
    # AND a re-attach from the start (after=0) replays the whole turn
    with client.chat.reattach(stream.chat_id, after=0) as full:
        assert [e.type for e in full] == types
    # AND without a cursor there is nothing to resume once the turn has ended (204)
    idle = client.chat.reattach(stream.chat_id).until_done()
    assert idle.events == [] and not idle.finished


def test_stream_continues_a_chat_as_a_context_manager(client: Operator, fake_llm):
    fake_llm.push(Text("first"), Text("second answer"))
    first = client.chat.send("one")
    with client.chat.stream("two", chat_id=first.chat_id) as s:
        deltas = [e.delta for e in s if isinstance(e, TextDeltaEvent)]
    assert s.chat_id == first.chat_id and "".join(deltas) == "second answer"


def test_history_get_delete(client: Operator, fake_llm):
    fake_llm.push(Text("a"), Text("b"), Text("c"))
    made = [client.chat.send(f"history {i}").chat_id for i in range(3)]
    page = client.chat.history_page(limit=2)
    assert len(page.items) == 2 and page.next_cursor and isinstance(page.items[0], Chat)
    listed = [c.id for c in client.chat.history(limit=2)]
    assert set(made) <= set(listed) and len(listed) == len(set(listed))
    client.chat.delete(made[0])
    with pytest.raises(NotFoundError):
        client.chat.get(made[0])
    assert made[0] not in {c.id for c in client.chat.history()}
