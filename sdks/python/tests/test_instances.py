"""instances: lifecycle, pagination, workspace files, exec, activity, the instance agent,
the browser — all through the SDK against the real server."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import assert_exact, unique, wait_until
from fake_llm import Text
from operator_sdk import (
    DirectoryListing,
    FileContent,
    Instance,
    NotFoundError,
    Operator,
    Page,
)


def test_create_get_update_restart_clone_delete(client: Operator, cleanup):
    # GIVEN a new instance
    name = unique("life")
    inst = client.instances.create(name, env={"GREETING": "hi"})
    cleanup.append(inst.id)
    # THEN it is typed, snake_case, with datetimes
    assert isinstance(inst, Instance)
    assert inst.id.startswith("inst_") and inst.name == name
    assert inst.status == "provisioning" and inst.kind == "prebuilt"
    assert inst.env == {"GREETING": "hi"}
    assert isinstance(inst.created_at, dt.datetime) and inst.created_at.tzinfo is not None
    # WHEN it is fetched by id and by name
    assert client.instances.get(inst.id).id == inst.id
    assert client.instances.get(name).id == inst.id
    active = client.instances.wait_for_status(inst.id, "active", timeout=60)
    assert active.status == "active"
    # WHEN it is updated
    renamed = unique("renamed")
    updated = client.instances.update(inst.id, name=renamed, config={"model": "x"})
    assert updated.name == renamed and updated.config == {"model": "x"}
    assert updated.updated_at >= inst.updated_at
    # WHEN it is restarted
    restarted = client.instances.restart(inst.id)
    assert restarted.id == inst.id and restarted.status in ("restarting", "active")
    client.instances.wait_for_status(inst.id, "active", timeout=60)
    # WHEN it is cloned
    copy = client.instances.clone(inst.id, unique("copy"))
    cleanup.append(copy.id)
    assert copy.id != inst.id and copy.status == "provisioning"
    # WHEN both are deleted
    client.instances.delete(copy.id)
    client.instances.delete(inst.id)
    # THEN they are inactive, and the list hides them unless asked
    assert client.instances.get(inst.id).status == "inactive"
    ids = {i.id for i in client.instances.list()}
    assert inst.id not in ids
    assert inst.id in {i.id for i in client.instances.list(include_deleted=True)}


def test_list_follows_next_cursor_across_pages(client: Operator, cleanup):
    # GIVEN three more instances than a page of two holds
    made = []
    for _ in range(3):
        i = client.instances.create(unique("page"))
        cleanup.append(i.id)
        made.append(i.id)
    # WHEN one page is asked for
    first = client.instances.list_page(limit=2)
    assert isinstance(first, Page) and len(first.items) == 2 and first.next_cursor
    assert client.instances.list(limit=2).first_page().items[0].id == first.items[0].id
    # THEN iterating the list walks every page
    pages = list(client.instances.list(limit=2).pages())
    assert len(pages) >= 2 and pages[-1].next_cursor is None
    everything = [i.id for i in client.instances.list(limit=2)]
    assert len(everything) == len(set(everything))
    assert set(made) <= set(everything)
    # AND the second page picks up where the first left off
    second = client.instances.list_page(limit=2, cursor=first.next_cursor)
    assert not {i.id for i in second.items} & {i.id for i in first.items}


def test_files_write_read_list_delete(client: Operator, active_instance: Instance):
    iid = active_instance.id
    # WHEN a text file and a binary file are written
    written = client.instances.files.write(iid, "notes/hello.txt", "hello, wörld\n")
    assert written.path == "notes/hello.txt" and written.size == len("hello, wörld\n".encode())
    blob = bytes(range(256))
    client.instances.files.write(iid, "notes/blob.bin", blob)
    # THEN the directory lists them and each reads back exactly
    listing = client.instances.files.read(iid, "notes")
    assert isinstance(listing, DirectoryListing)
    assert_exact(listing)
    assert_exact(written)
    assert {e.name for e in listing.entries} >= {"hello.txt", "blob.bin"}
    text = client.instances.files.read(iid, "notes/hello.txt")
    assert isinstance(text, FileContent) and text.text == "hello, wörld\n"
    binary = client.instances.files.read(iid, "notes/blob.bin")
    assert isinstance(binary, FileContent) and binary.data() == blob
    assert binary.encoding == "base64" and text.encoding == "utf-8"
    assert_exact(text)
    # WHEN one is deleted THEN reading it is a 404
    client.instances.files.delete(iid, "notes/hello.txt")
    with pytest.raises(NotFoundError):
        client.instances.files.read(iid, "notes/hello.txt")


def test_exec_runs_in_the_workspace(client: Operator, active_instance: Instance):
    client.instances.files.write(active_instance.id, "workspace/data.txt", "42")
    res = client.instances.exec(active_instance.id, "cat data.txt; echo oops >&2; exit 3", cwd="workspace")
    assert res.stdout == "42" and res.stderr.strip() == "oops"
    assert res.exit_code == 3 and res.timed_out is False and res.duration_ms >= 0
    assert_exact(res)


def test_message_reaches_the_instance_agent_and_shows_in_activity(
    client: Operator, active_instance: Instance, fake_llm
):
    # GIVEN the model will answer the instance agent
    fake_llm.push(Text("Hello from the instance agent."))
    # WHEN the instance is messaged
    reply = client.instances.message(active_instance.id, "Say hello.")
    # THEN the reply is the agent's text, with its session
    assert reply.text == "Hello from the instance agent." and reply.session_id
    assert_exact(reply)
    # AND the activity shows that session's transcript
    act = wait_until(
        lambda: (a := client.instances.activity(active_instance.id, session_id=reply.session_id)).line_count
        and a,
        what="the session transcript",
    )
    assert any(s.id == reply.session_id for s in act.sessions)
    assert act.selected_session is not None and act.selected_session.id == reply.session_id
    assert any("Say hello." in line for line in act.lines)
    assert dt.datetime.fromisoformat(act.sessions[0].updated_at.replace("Z", "+00:00"))
    assert_exact(act)
    # AND the cursor returns only newer lines
    assert act.cursor
    newer = client.instances.activity(active_instance.id, session_id=reply.session_id, cursor=act.cursor)
    assert newer.lines == []


def test_browser_open_and_screenshot(client: Operator, active_instance: Instance, server):
    page = client.instances.browser.open(active_instance.id, server.url + "/api/health")
    assert page.url.startswith(server.url) and '"ok"' in page.text
    assert_exact(page)
    png = client.instances.browser.screenshot(active_instance.id)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 100
