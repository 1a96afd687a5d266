"""A scripted fake LLM speaking the OpenAI Chat Completions wire protocol (plain JSON and SSE
streaming with tool calls and a usage chunk) on a loopback port, like the Rust one in
``tests/support/fake_llm.rs``. Replies are served in the order they were queued; every
request body is recorded."""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple, Union


class Text:
    def __init__(self, text: str) -> None:
        self.text = text


class ToolCalls:
    def __init__(self, *calls: Tuple[str, Dict[str, Any]]) -> None:
        self.calls = list(calls)


class Status:
    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message


Reply = Union[Text, ToolCalls, Status]
EXHAUSTED = "(the fake LLM's script is exhausted)"


def _tokens(s: str) -> int:
    return max(1, len(s) // 4)


class FakeLlm:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: List[Reply] = []
        self.requests: List[Dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                req = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found"}})
                    return
                with fake._lock:
                    fake.requests.append(req)
                    reply = fake._script.pop(0) if fake._script else Text(EXHAUSTED)
                fake._answer(self, req, reply)

            def _send(self, status: int, body: Dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def env(self) -> Dict[str, str]:
        """Environment pointing the platform at this fake (OpenAI flavour)."""
        return {
            "OPERATOR_LLM": "openai",
            "OPERATOR_LLM_MODEL": "fake-model",
            "OPERATOR_LLM_BASE_URL": f"{self.url}/v1",
            "OPENAI_API_KEY": "sk-fake-provider-key",
        }

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, h: BaseHTTPRequestHandler, req: Dict[str, Any], reply: Reply) -> None:
        if isinstance(reply, Status):
            data = json.dumps({"error": {"message": reply.message, "type": "fake_error"}}).encode()
            h.send_response(reply.code)
            h.send_header("content-type", "application/json")
            h.send_header("content-length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        model = req.get("model") or "fake-model"
        content: Optional[str] = reply.text if isinstance(reply, Text) else None
        tool_calls = []
        if isinstance(reply, ToolCalls):
            for i, (name, args) in enumerate(reply.calls):
                tool_calls.append(
                    {
                        "id": f"call_{i}_{secrets.token_hex(3)}",
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps(args)},
                    }
                )
        prompt_tokens = _tokens(json.dumps(req.get("messages")))
        completion_tokens = (_tokens(content) if content else 0) + 10 * len(tool_calls)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        finish = "tool_calls" if tool_calls else "stop"
        if req.get("stream"):

            def chunk(delta: Dict[str, Any], finish_reason: Optional[str]) -> Dict[str, Any]:
                return {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                }

            events = [chunk({"role": "assistant", "content": ""}, None)]
            if content:
                words = content.split(" ")
                for i, w in enumerate(words):
                    events.append(chunk({"content": w + (" " if i < len(words) - 1 else "")}, None))
            for i, call in enumerate(tool_calls):
                events.append(chunk({"tool_calls": [{"index": i, **call}]}, None))
            events.append(chunk({}, finish))
            if (req.get("stream_options") or {}).get("include_usage"):
                events.append(
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": model,
                        "choices": [],
                        "usage": usage,
                    }
                )
            frames = [f"data: {json.dumps(e)}\n\n" for e in events] + ["data: [DONE]\n\n"]
            data = "".join(frames).encode()
            h.send_response(200)
            h.send_header("content-type", "text/event-stream")
            h.send_header("content-length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        message: Dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            message["tool_calls"] = tool_calls
        data = json.dumps(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage,
            }
        ).encode()
        h.send_response(200)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
