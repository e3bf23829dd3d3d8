"""A tiny OpenAI-compatible chat server on 127.0.0.1 for end-to-end agent tests.

Only the paid LLM is faked: the agent, its HTTP client and the tool loop are real. The
server answers ``POST /v1/chat/completions`` (plain JSON or SSE streaming) from a script of
steps (tool calls, then a final answer) and records every request body, so a test can
check exactly what the model was shown, e.g. that a denied tool's reason reached it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ToolCall", "Step", "FakeOpenAI"]


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str = field(default_factory=lambda: "call_" + uuid.uuid4().hex[:12])


@dataclass(frozen=True)
class Step:
    """One scripted model turn: tool calls, or (when ``tool_calls`` is empty) a final text answer."""

    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()

    @classmethod
    def call(cls, name: str, /, **arguments: Any) -> "Step":
        return cls(tool_calls=(ToolCall(name, arguments),))

    @classmethod
    def final(cls, text: str) -> "Step":
        return cls(content=text)


class FakeOpenAI:
    """Context manager: ``with FakeOpenAI([Step.call("add", a=1, b=2), Step.final("3")]) as llm: ...``.

    When the script runs out, the model answers ``default_final`` (so a framework that makes an
    extra call never hangs or crashes the test).
    """

    def __init__(self, steps: list[Step] | None = None, *, default_final: str = "done") -> None:
        self._steps = list(steps or [])
        self.default_final = default_final
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def agent_env(self) -> dict[str, str]:
        """Environment for a real agent (PraisonAI / LiteLLM) to talk to this server, offline."""
        return {"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": "x", "PRAISONAI_TELEMETRY_DISABLED": "true",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True"}

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "FakeOpenAI":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # ------------------------------------------------------------------ script
    def reset(self, steps: list[Step] | None = None) -> None:
        """A new script and an empty request log (one server can serve many tests)."""
        with self._lock:
            self._steps = list(steps or [])
            self.requests = []

    def push(self, *steps: Step) -> None:
        with self._lock:
            self._steps.extend(steps)

    def _next(self, body: dict[str, Any]) -> Step:
        with self._lock:
            self.requests.append(body)
            return self._steps.pop(0) if self._steps else Step.final(self.default_final)

    # ------------------------------------------------------------------ inspection
    def tool_messages(self) -> list[dict[str, Any]]:
        """Every ``role: tool`` message the model was sent, first request first, without repeats."""
        seen: set[tuple[str, str]] = set()
        out: list[dict[str, Any]] = []
        with self._lock:
            requests = list(self.requests)
        for body in requests:
            for msg in body.get("messages") or []:
                if isinstance(msg, dict) and msg.get("role") == "tool":
                    key = (str(msg.get("tool_call_id")), _text(msg.get("content")))
                    if key not in seen:
                        seen.add(key)
                        out.append(msg)
        return out

    def tool_result_text(self, tool_call_id: str) -> str | None:
        for msg in self.tool_messages():
            if msg.get("tool_call_id") == tool_call_id:
                return _text(msg.get("content"))
        return None


def _text(content: Any) -> str:
    """Message content as text (it may be a string or a list of content parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    return json.dumps(content)


class _Handler(BaseHTTPRequestHandler):
    owner: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send_json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(200, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})
        else:
            self._send_json(404, {"error": {"message": f"no such path {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": f"no such path {self.path}", "type": "invalid_request_error"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            self._send_json(400, {"error": {"message": f"bad json: {exc}", "type": "invalid_request_error"}})
            return
        step = self.owner._next(body)
        model = str(body.get("model") or "gpt-4o-mini")
        if body.get("stream"):
            self._stream(step, model, bool((body.get("stream_options") or {}).get("include_usage")))
        else:
            self._send_json(200, _completion(step, model))

    def _stream(self, step: Step, model: str, include_usage: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        cid, created = "chatcmpl-" + uuid.uuid4().hex[:12], int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
            obj = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")

        chunk({"role": "assistant", "content": ""})
        if step.tool_calls:
            for i, tc in enumerate(step.tool_calls):
                chunk({"tool_calls": [{"index": i, "id": tc.id, "type": "function",
                                       "function": {"name": tc.name, "arguments": ""}}]})
                chunk({"tool_calls": [{"index": i, "function": {"arguments": json.dumps(tc.arguments)}}]})
            chunk({}, "tool_calls")
        else:
            chunk({"content": step.content})
            chunk({}, "stop")
        if include_usage:
            usage = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                     "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
            self.wfile.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


def _completion(step: Step, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": step.content or None}
    finish = "stop"
    if step.tool_calls:
        message["tool_calls"] = [
            {"id": tc.id, "type": "function", "function": {"name": tc.name, "arguments": json.dumps(tc.arguments)}}
            for tc in step.tool_calls
        ]
        finish = "tool_calls"
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex[:12],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }
