"""secrets, automations, webhooks, keys, billing, health and whoami."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import unique, wait_until
from fake_llm import Text
from operator_sdk import (
    ApiKey,
    AuthenticationError,
    Automation,
    AutomationRun,
    Billing,
    ConflictError,
    CreatedKey,
    Delivery,
    NotFoundError,
    Operator,
    Secret,
    Webhook,
)


def test_health_and_whoami(client: Operator):
    h = client.health()
    assert h.ok is True and h.version
    me = client.whoami()
    assert me.authenticated and me.account_id.startswith("acct_") and me.plan_slug == "pro"
    assert me.token_limit > 0


def test_billing(client: Operator, active_instance):
    b = client.billing.get()
    assert isinstance(b, Billing)
    assert b.plan.slug == "pro" and b.plan.instance_limit == 5
    assert b.capacity.limit == 5 and b.capacity.used >= 1
    assert b.usage.window_hours == 6 and isinstance(b.usage.period_start, dt.datetime)


def test_secrets_crud_and_grants(client: Operator, active_instance):
    name = "SDK_" + unique("tok").upper().replace("-", "_")
    s = client.secrets.create(name, "s3cr3t", description="for tests")
    assert isinstance(s, Secret) and s.id.startswith("sec_") and s.value == "s3cr3t"
    assert s.is_global is False and s.grants == []
    got = client.secrets.get(s.id)
    assert got.value is None and got.description == "for tests"
    # a second secret with the same name conflicts
    with pytest.raises(ConflictError):
        client.secrets.create(name, "other")
    rotated = client.secrets.update(s.id, value="n3w", is_global=True)
    assert rotated.is_global is True and rotated.value is None
    granted = client.secrets.grant(s.id, active_instance.id)
    assert granted.grants == [active_instance.id]
    client.secrets.revoke(s.id, active_instance.id)
    assert client.secrets.get(s.id).grants == []
    # pagination over secrets
    extra = [client.secrets.create(f"{name}_{i}", "v").id for i in range(2)]
    assert len(client.secrets.list_page(limit=2).items) == 2
    ids = [x.id for x in client.secrets.list(limit=2)]
    assert set([s.id, *extra]) <= set(ids) and len(ids) == len(set(ids))
    for i in [s.id, *extra]:
        client.secrets.delete(i)
    with pytest.raises(NotFoundError):
        client.secrets.get(s.id)


def test_automations_crud_run_and_runs(client: Operator, fake_llm):
    preview = client.automations.next_runs("0 9 * * 1-5", timezone="America/New_York", count=3)
    assert len(preview.next_runs) == 3 and all(t.hour in (13, 14) for t in preview.next_runs)
    a = client.automations.create(unique("daily"), "Summarise my instances.", "0 9 * * 1-5", timezone="America/New_York")
    assert isinstance(a, Automation) and a.enabled and a.cron_expression == "0 9 * * 1-5"
    assert a.timezone == "America/New_York" and isinstance(a.next_run_at, dt.datetime)
    assert a.chat_id.startswith("chat_")
    assert client.automations.get(a.id).name == a.name
    off = client.automations.update(a.id, enabled=False, prompt="Changed.")
    assert off.enabled is False and off.prompt == "Changed."
    assert a.id in {x.id for x in client.automations.list()}
    assert len(client.automations.list_page(limit=1).items) == 1
    # WHEN run now THEN a run is queued and then finishes through the agent
    fake_llm.push(Text("Summary: all fine."))
    run = client.automations.run(a.id)
    assert isinstance(run, AutomationRun) and run.automation_id == a.id and run.trigger == "manual"
    done = wait_until(
        lambda: next((r for r in client.automations.runs(a.id) if r.id == run.id and r.status in ("succeeded", "failed")), None),
        timeout=60,
        what="the automation run to finish",
    )
    assert done.status == "succeeded", done.error
    assert client.automations.runs_page(a.id, limit=1).items[0].id == run.id
    client.automations.delete(a.id)
    with pytest.raises(NotFoundError):
        client.automations.get(a.id)


def test_webhooks_crud_trigger_deliveries(client: Operator, fake_llm):
    w = client.webhooks.create(unique("gh"), "Event: {{payload}}")
    assert isinstance(w, Webhook) and w.enabled and w.token and w.url.endswith(w.token)
    assert client.webhooks.get(w.id).prompt_template == "Event: {{payload}}"
    assert w.id in {x.id for x in client.webhooks.list(limit=1)}
    # WHEN triggered (no API key) THEN a delivery is accepted and runs through the agent
    fake_llm.push(Text("Handled the event."))
    acc = client.webhooks.trigger(w.token, {"action": "opened"}, idempotency_key=unique("dlv"))
    assert acc.delivery_id.startswith("dlv_")
    done = wait_until(
        lambda: next((d for d in client.webhooks.deliveries(w.id) if d.id == acc.delivery_id and d.status in ("succeeded", "failed")), None),
        timeout=60,
        what="the delivery to finish",
    )
    assert isinstance(done, Delivery) and done.status == "succeeded", done.error
    assert any('"action": "opened"' in str(m.parts) or "opened" in m.text for m in client.chat.get(w.chat_id).messages)
    assert client.webhooks.deliveries_page(w.id, limit=1).items[0].id == acc.delivery_id
    # the full URL works too; disabling makes it a 409; rotating the token makes the old one 404
    client.webhooks.update(w.id, enabled=False)
    with pytest.raises(ConflictError) as e:
        client.webhooks.trigger(w.url, "{}")
    assert e.value.code == "webhook_disabled"
    rotated = client.webhooks.update(w.id, enabled=True, regenerate_token=True, name="renamed-hook")
    assert rotated.token != w.token and rotated.name == "renamed-hook"
    with pytest.raises(NotFoundError):
        client.webhooks.trigger(w.token)
    client.webhooks.delete(w.id)
    with pytest.raises(NotFoundError):
        client.webhooks.get(w.id)


def test_keys_create_list_revoke(client: Operator, server):
    k = client.keys.create("sdk-test")
    assert isinstance(k, CreatedKey) and k.key.startswith("ck_live_") and k.id.startswith("key_")
    listed = {x.id: x for x in client.keys.list()}
    assert isinstance(listed[k.id], ApiKey) and listed[k.id].name == "sdk-test"
    assert k.key.startswith(listed[k.id].prefix)
    other = Operator(api_key=k.key, base_url=server.url)
    assert other.whoami().authenticated
    client.keys.delete(k.id)
    with pytest.raises(AuthenticationError):
        other.whoami()
    other.close()
