"""Typed errors: each status becomes its exception with the error body's code/message/details."""

from __future__ import annotations

import pytest

from conftest import unique
from operator_sdk import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    CapacityError,
    ConflictError,
    NotFoundError,
    Operator,
    OperatorError,
    PayloadTooLargeError,
)


def test_404_not_found(client: Operator):
    with pytest.raises(NotFoundError) as e:
        client.instances.get("inst_doesnotexist")
    err = e.value
    assert isinstance(err, OperatorError)
    assert err.status == 404 and err.code == "not_found" and "inst_doesnotexist" in err.message
    assert "404" in str(err)


def test_409_conflict_on_duplicate_name(client: Operator, cleanup):
    name = unique("dup")
    cleanup.append(client.instances.create(name).id)
    with pytest.raises(ConflictError) as e:
        client.instances.create(name)
    assert e.value.status == 409 and e.value.code == "conflict"


def test_idempotency_key_replays_and_409s_on_reuse_for_another_request(client: Operator, cleanup):
    # GIVEN a create sent with an explicit Idempotency-Key
    key = unique("idem")
    name = unique("idem")
    first = client.instances.create(name, idempotency_key=key)
    cleanup.append(first.id)
    # WHEN the same request is repeated THEN the first answer is replayed (no duplicate, no 409)
    again = client.instances.create(name, idempotency_key=key)
    assert again.id == first.id
    # WHEN the key is reused for a different request THEN 409
    with pytest.raises(ConflictError) as e:
        client.instances.create(unique("idem-other"), idempotency_key=key)
    assert e.value.status == 409


def test_402_over_plan_capacity(client: Operator, cleanup):
    # GIVEN the pro plan's 5 instances: create until the capacity is used up (bounded)
    limit = client.billing.get().capacity.limit
    with pytest.raises(CapacityError) as e:
        for _ in range(limit + 1):
            cleanup.append(client.instances.create(unique("cap")).id)
    assert e.value.status == 402 and e.value.code == "capacity_exceeded"
    assert client.billing.get().capacity.used == limit


def test_400_with_field_details(client: Operator):
    with pytest.raises(BadRequestError) as e:
        client.instances.create("Not A Valid Name!")
    err = e.value
    assert err.status == 400 and err.code == "invalid_request"
    assert err.details and "name" in err.details
    with pytest.raises(BadRequestError) as e:
        client.automations.create(unique("bad"), "p", "not a cron")
    assert e.value.details and "cronExpression" in e.value.details


def test_401_with_a_wrong_key(server):
    bad = Operator(api_key="ck_live_" + "x" * 40, base_url=server.url)
    with pytest.raises(AuthenticationError) as e:
        bad.instances.list_page()
    assert e.value.status == 401 and e.value.code == "unauthorized"
    assert bad.health().ok  # the one route without a key still works
    bad.close()


def test_413_payload_too_large(client: Operator, active_instance):
    with pytest.raises(PayloadTooLargeError) as e:
        client.instances.exec(active_instance.id, "#" * (101 * 1024))
    assert e.value.status == 413


def test_connection_error(unused_port):
    c = Operator(api_key="ck_live_x", base_url=f"http://127.0.0.1:{unused_port}", max_retries=0)
    with pytest.raises(APIConnectionError):
        c.health()
