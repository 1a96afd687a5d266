"""Retries against a tiny scripted HTTP server that counts requests: 429 with Retry-After,
5xx with backoff, dropped connections; only idempotent requests (GET/PUT/DELETE, or POSTs
with the SDK's automatic Idempotency-Key) are repeated."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Tuple

import pytest

from operator_sdk import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    OperatorError,
    AsyncOperator,
    BadRequestError,
    Operator,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
)

DROP = "drop"
SLOW = "slow"  # answers after 1.5 s
HEALTH = (200, {}, {"ok": True, "version": "fake"})
ERR = lambda status, code: (status, {}, {"error": {"code": code, "message": code}})  # noqa: E731


class Scripted:
    """Answers each request with the next scripted reply (the last one repeats)."""

    def __init__(self, script: List[Any]) -> None:
        self.script = list(script)
        self.requests: List[Tuple[str, str, Dict[str, str]]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def _any(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                if n:
                    self.rfile.read(n)
                outer.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                reply = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                if reply == DROP:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if reply == SLOW:
                    time.sleep(1.5)
                    reply = HEALTH
                status, headers, body = reply
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted():
    made: List[Scripted] = []

    def make(*script: Any) -> Scripted:
        s = Scripted(list(script))
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def client_for(s: Scripted, **kw: Any) -> Operator:
    return Operator(api_key="ck_live_test", base_url=s.url, **kw)


def test_429_is_retried_after_retry_after_seconds(scripted):
    s = scripted((429, {"Retry-After": "1"}, {"error": {"code": "rate_limited", "message": "wait"}}), HEALTH)
    started = time.monotonic()
    h = client_for(s).health()
    elapsed = time.monotonic() - started
    assert h.ok and len(s.requests) == 2
    assert elapsed >= 0.95, f"Retry-After: 1 not honoured ({elapsed:.2f}s)"


def test_429_without_retries_raises_rate_limit_error_with_retry_after(scripted):
    s = scripted((429, {"Retry-After": "7"}, {"error": {"code": "quota_exceeded", "message": "slow down"}}))
    with pytest.raises(RateLimitError) as e:
        client_for(s, max_retries=0).billing.get()
    assert e.value.retry_after == 7.0 and e.value.code == "quota_exceeded" and e.value.status == 429
    assert len(s.requests) == 1


def test_a_retry_after_beyond_the_cap_is_not_waited_for(scripted):
    s = scripted((429, {"Retry-After": "3600"}, {"error": {"code": "rate_limited", "message": "later"}}), HEALTH)
    started = time.monotonic()
    with pytest.raises(RateLimitError) as e:
        client_for(s).health()
    assert e.value.retry_after == 3600.0 and len(s.requests) == 1
    assert time.monotonic() - started < 1


def test_posts_are_retried_with_one_automatic_idempotency_key(scripted):
    inst = {
        "instance": {
            "id": "inst_1", "name": "a", "kind": "prebuilt", "status": "provisioning", "imageTag": "t",
            "env": {}, "config": {}, "createdAt": "2026-11-28T09:00:00Z", "updatedAt": "2026-11-28T09:00:00Z",
        }
    }
    s = scripted(ERR(503, "unavailable"), ERR(502, "bad_gateway"), (201, {}, inst))
    got = client_for(s).instances.create("a")
    assert got.id == "inst_1" and len(s.requests) == 3
    keys = {h.get("idempotency-key") for _, _, h in s.requests}
    assert len(keys) == 1 and next(iter(keys)).startswith("sdk-")


def test_5xx_gives_up_after_max_retries(scripted):
    s = scripted(ERR(503, "llm_unavailable"))
    with pytest.raises(ServiceUnavailableError) as e:
        client_for(s, max_retries=2).billing.get()
    assert isinstance(e.value, ServerError) and e.value.code == "llm_unavailable"
    assert len(s.requests) == 3
    s2 = scripted(ERR(500, "internal"))
    with pytest.raises(ServerError):
        client_for(s2, max_retries=1).billing.get()
    assert len(s2.requests) == 2


def test_chat_turns_carry_no_automatic_key_and_are_not_retried(scripted):
    s = scripted(ERR(503, "llm_unavailable"), (200, {}, {"chatId": "chat_1", "text": "hi"}))
    with pytest.raises(ServiceUnavailableError):
        client_for(s).chat.send("hi")
    assert len(s.requests) == 1 and "idempotency-key" not in s.requests[0][2]
    assert s.requests[0][2]["x-response-format"] == "json"


def test_a_malformed_success_body_is_an_operator_error(scripted):
    s = scripted((200, {}, {"unexpected": True}))
    with pytest.raises(APIResponseValidationError) as e:
        client_for(s).billing.get()
    assert isinstance(e.value, OperatorError) and e.value.status == 200


def test_4xx_is_not_retried(scripted):
    s = scripted(ERR(400, "invalid_request"), HEALTH)
    with pytest.raises(BadRequestError):
        client_for(s).secrets.list_page()
    assert len(s.requests) == 1


def test_dropped_connections_are_retried_then_raised(scripted):
    s = scripted(DROP, HEALTH)
    assert client_for(s).health().ok and len(s.requests) == 2
    s2 = scripted(DROP)
    with pytest.raises(APIConnectionError):
        client_for(s2, max_retries=1).health()
    assert len(s2.requests) == 2


def test_timeouts_are_configurable(scripted):
    s = scripted(SLOW)
    started = time.monotonic()
    with pytest.raises(APITimeoutError):
        client_for(s, timeout=0.3, max_retries=0).health()
    assert time.monotonic() - started < 1.2
    s2 = scripted(SLOW, HEALTH)
    assert client_for(s2, timeout=5).health().ok  # a longer timeout waits it out
    s3 = scripted(SLOW)
    with pytest.raises(APITimeoutError):
        client_for(s3, timeout=5, max_retries=0).chat.send("hi", timeout=0.3)  # per call


def test_async_client_retries_too(scripted):
    s = scripted((429, {"Retry-After": "0"}, {"error": {"code": "rate_limited", "message": "x"}}), HEALTH)

    async def go() -> bool:
        async with AsyncOperator(api_key="ck_live_test", base_url=s.url) as c:
            return (await c.health()).ok

    assert asyncio.run(go()) and len(s.requests) == 2


def test_requests_carry_the_key_and_user_agent(scripted):
    s = scripted(HEALTH, (202, {}, {"deliveryId": "dlv_1"}))
    client_for(s, default_headers={"x-extra": "1"}).health()
    assert client_for(s).webhooks.trigger("tok", {"a": 1}).delivery_id == "dlv_1"
    _, path, h = s.requests[0]
    assert path == "/api/health" and "authorization" not in h and h["x-extra"] == "1"
    assert h["user-agent"].startswith("operator-sdk-python/")
    _, path, h = s.requests[1]
    assert path == "/api/webhooks/trigger/tok" and "authorization" not in h
    assert h["idempotency-key"].startswith("sdk-")
    s2 = scripted((200, {}, {"keys": [], "nextCursor": None}))
    assert client_for(s2).keys.list_page().items == []
    assert s2.requests[0][2]["authorization"] == "Bearer ck_live_test"
