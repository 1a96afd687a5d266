"""AsyncOperator: the same surface with coroutines and async iterators, against the server."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from conftest import unique
from fake_llm import Text, ToolCalls
from operator_sdk import (
    AsyncChatStream,
    AsyncOperator,
    AsyncPaginator,
    Instance,
    NotFoundError,
    Operator,
    StartEvent,
    TextDeltaEvent,
    ToolInputAvailableEvent,
)

RESOURCES = ["instances", "secrets", "automations", "webhooks", "experiments", "keys", "billing", "chat"]


def public_methods(obj):
    return {n for n in dir(obj) if not n.startswith("_") and callable(getattr(obj, n))}


def test_async_surface_mirrors_the_sync_one():
    s, a = Operator(api_key="k"), AsyncOperator(api_key="k")
    for name in RESOURCES + ["instances.files", "instances.browser"]:
        sr, ar = s, a
        for part in name.split("."):
            sr, ar = getattr(sr, part), getattr(ar, part)
        assert public_methods(sr) == public_methods(ar), name
        for m in public_methods(sr):
            assert inspect.signature(getattr(sr, m)) == inspect.signature(getattr(ar, m)), f"{name}.{m}"
            if m in ("list", "runs", "deliveries", "results", "history", "stream", "reattach"):
                assert not inspect.iscoroutinefunction(getattr(ar, m))
            else:
                assert inspect.iscoroutinefunction(getattr(ar, m)), f"{name}.{m} is not async"
    assert inspect.iscoroutinefunction(a.health) and inspect.iscoroutinefunction(a.whoami)


def test_async_client_end_to_end(server, fake_llm):
    async def go():
        async with AsyncOperator(api_key=server.api_key, base_url=server.url) as c:
            assert (await c.health()).ok
            assert (await c.whoami()).authenticated
            inst = await c.instances.create(unique("async"))
            assert isinstance(inst, Instance)
            try:
                inst = await c.instances.wait_for_status(inst.id, "active", timeout=60)
                files = c.instances.files
                await files.write(inst.id, "a.txt", "async!")
                assert (await files.read(inst.id, "a.txt")).text == "async!"
                assert (await c.instances.exec(inst.id, "cat a.txt")).stdout == "async!"
                pager = c.instances.list(limit=1)
                assert isinstance(pager, AsyncPaginator)
                ids = [i.id async for i in pager]
                assert inst.id in ids and len(ids) == len(set(ids))
                assert len((await c.instances.list(limit=1).first_page()).items) == 1
                b = await c.billing.get()
                assert b.capacity.used >= 1
                with pytest.raises(NotFoundError):
                    await c.secrets.get("sec_nope")

                fake_llm.push(Text("async hello"))
                reply = await c.chat.send("hi async")
                assert reply.chat_id.startswith("chat_") and reply.text == "async hello"

                fake_llm.push(ToolCalls(("list_instances", {})), Text("Listed them."))
                stream = c.chat.stream("list please", chat_id=reply.chat_id)
                assert isinstance(stream, AsyncChatStream)
                events = [e async for e in stream]
                assert isinstance(events[0], StartEvent) and events[0].chat_id == reply.chat_id
                assert any(isinstance(e, ToolInputAvailableEvent) and e.tool_name == "list_instances" for e in events)
                assert "".join(e.delta for e in events if isinstance(e, TextDeltaEvent)) == "Listed them."
                replay = await c.chat.reattach(reply.chat_id, after=events[-2].event_id).until_done()
                assert [e.type for e in replay.events] == ["finish"]
                history = [ch.id async for ch in c.chat.history()]
                assert reply.chat_id in history
            finally:
                await c.instances.delete(inst.id)
            assert (await c.instances.get(inst.id)).status == "inactive"

    asyncio.run(go())
