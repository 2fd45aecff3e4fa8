"""A scripted LLM server on 127.0.0.1 speaking the Ollama and OpenAI wire protocols, for tests.

    with LLMServer() as server:                      # a free port, served from a thread
        server.script(Reply.json({"title": "Road"}), Reply(status=500))
        backend = OllamaBackend(server.url, "tiny")  # or OpenAIBackend(server.openai_url, "tiny")
        ...
        server.chat_requests                         # what the clients sent, parsed

Each chat request (Ollama `/api/chat`, OpenAI `/v1/chat/completions`) takes the next scripted `Reply`; with
none left the server answers HTTP 500 "no scripted reply", so a test never passes by accident. Streaming is
answered in small pieces (NDJSON for Ollama, SSE for OpenAI) and non-streaming as one object. Also served:
Ollama `/api/tags`, `/api/version`, `/api/ps`, `/api/generate` (the `keep_alive: 0` unload), and OpenAI
`/v1/models` (both model lists wait `list_delay_s` first). `reject_formats=("json_schema",)` makes the OpenAI
side answer 400 to those `response_format` types, as servers without structured output do, without using up a
scripted reply.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PIECE_CHARS = 12  # streamed answers come in pieces this long, so clients see several chunks


@dataclass(frozen=True)
class Reply:
    """One scripted answer to a chat request.

    Attributes:
        content: the assistant's text (what the "model" wrote).
        status: HTTP status; not 200 sends `error` as the protocol's error body instead.
        error: the error message for a non-200 status.
        delay_s: wait this long before answering (to run past a client's timeout).
        raw: bytes sent as the whole body instead of a well-formed answer (junk on the wire).
        piece_chars: a streamed answer comes in pieces this long.
    """

    content: str = ""
    status: int = 200
    error: str = "internal error"
    delay_s: float = 0.0
    raw: bytes | None = None
    piece_chars: int = PIECE_CHARS

    @classmethod
    def json(cls, obj: Any, **kw: Any) -> Reply:
        return cls(content=json.dumps(obj), **kw)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)


class LLMServer:
    """The server (see the module docstring). Start with `with LLMServer() as s:` or `start()`/`stop()`."""

    def __init__(
        self,
        models: tuple[str, ...] = ("tiny-songwriter:latest",),
        reject_formats: tuple[str, ...] = (),
        list_delay_s: float = 0.0,
    ) -> None:
        self.models = models
        self.reject_formats = reject_formats
        self.list_delay_s = list_delay_s
        self.requests: list[Request] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---
    def start(self) -> LLMServer:
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="llm-test-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends any delayed reply at once
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests use ---
    @property
    def url(self) -> str:
        """The Ollama base URL (`http://127.0.0.1:<port>`)."""
        assert self._httpd is not None, "start the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def openai_url(self) -> str:
        """The OpenAI-compatible base URL (`.../v1`)."""
        return f"{self.url}/v1"

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next chat requests, in order."""
        with self._lock:
            self._replies.extend(replies)

    @property
    def pending(self) -> int:
        """Scripted replies not used yet."""
        with self._lock:
            return len(self._replies)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    @property
    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path in ("/api/chat", "/v1/chat/completions")]

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._replies.popleft() if self._replies else Reply(status=500, error="no scripted reply")


class _Handler(BaseHTTPRequestHandler):
    server_state: LLMServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    # --- plumbing ---
    def _body(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return None
        return json.loads(self.rfile.read(length))

    def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, content_type: str, chunks: list[bytes]) -> None:
        # Closing the connection marks the end of the body: no chunked encoding needed.
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Connection", "close")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(chunk)
            self.wfile.flush()
        self.close_connection = True

    def _handle(self, method: str) -> None:
        state = self.server_state
        body = self._body() if method == "POST" else None
        state._record(Request(method, self.path, body, {k.lower(): v for k, v in self.headers.items()}))
        route = {
            ("GET", "/api/tags"): self._ollama_tags,
            ("GET", "/api/version"): lambda _: self._send(200, {"version": "0.12.0-test"}),
            ("GET", "/api/ps"): lambda _: self._send(200, {"models": []}),
            ("POST", "/api/generate"): self._ollama_generate,
            ("POST", "/api/chat"): self._ollama_chat,
            ("GET", "/v1/models"): self._openai_models,
            ("POST", "/v1/chat/completions"): self._openai_chat,
        }.get((method, self.path))
        try:
            if route is None:
                self._send(404, {"error": f"no route {method} {self.path}"})
            else:
                route(body or {})
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test): fine
            pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _scripted(self) -> Reply | None:
        """The next reply after its delay, or None if it was sent already (an error status or raw junk)."""
        reply = self.server_state._next_reply()
        if reply.delay_s and self.server_state._stopping.wait(reply.delay_s):
            return None
        if reply.raw is not None:
            self._send(reply.status, reply.raw, "application/x-ndjson")
            return None
        return reply

    # --- Ollama ---
    def _list_delay(self) -> bool:
        """Wait list_delay_s; False if the server is stopping meanwhile."""
        delay = self.server_state.list_delay_s
        return not (delay and self.server_state._stopping.wait(delay))

    def _ollama_tags(self, _: dict[str, Any]) -> None:
        if not self._list_delay():
            return
        models = [{"name": m, "model": m, "modified_at": "2026-01-01T00:00:00Z", "size": 1000, "digest": "0" * 12,
                   "details": {"format": "gguf", "family": "test"}} for m in self.server_state.models]
        self._send(200, {"models": models})

    def _ollama_generate(self, body: dict[str, Any]) -> None:
        reason = "unload" if body.get("keep_alive") == 0 else "stop"
        self._send(200, {"model": body.get("model", ""), "created_at": _now(), "response": "", "done": True,
                         "done_reason": reason})

    def _ollama_chat(self, body: dict[str, Any]) -> None:
        model = body.get("model", "")
        if model not in self.server_state.models:
            self._send(404, {"error": f"model '{model}' not found"})
            return
        reply = self._scripted()
        if reply is None:
            return
        if reply.status != 200:
            self._send(reply.status, {"error": reply.error})
            return

        def part(content: str, done: bool) -> dict[str, Any]:
            out = {"model": model, "created_at": _now(), "message": {"role": "assistant", "content": content},
                   "done": done}
            return {**out, "done_reason": "stop", "eval_count": 1} if done else out

        if body.get("stream", True):
            parts = [part(piece, False) for piece in _pieces(reply.content, reply.piece_chars)] + [part("", True)]
            self._stream("application/x-ndjson", [json.dumps(p).encode() + b"\n" for p in parts])
        else:
            self._send(200, part(reply.content, True))

    # --- OpenAI ---
    def _openai_models(self, _: dict[str, Any]) -> None:
        if not self._list_delay():
            return
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in self.server_state.models]
        self._send(200, {"object": "list", "data": data})

    def _openai_error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message, "type": "invalid_request_error", "code": None}})

    def _openai_chat(self, body: dict[str, Any]) -> None:
        fmt = (body.get("response_format") or {}).get("type")
        if fmt in self.server_state.reject_formats:
            self._openai_error(400, f"response_format of type {fmt} is not supported by this server")
            return
        model = body.get("model", "")
        if model not in self.server_state.models:
            self._openai_error(404, f"The model `{model}` does not exist")
            return
        reply = self._scripted()
        if reply is None:
            return
        if reply.status != 200:
            self._openai_error(reply.status, reply.error)
            return
        base = {"id": "chatcmpl-test", "created": int(time.time()), "model": model}
        if body.get("stream"):
            chunks = [{**base, "object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece},
                                    "finish_reason": None}]} for piece in _pieces(reply.content, reply.piece_chars)]
            chunks.append({**base, "object": "chat.completion.chunk",
                           "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            events = [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]
            self._stream("text/event-stream", events)
        else:
            self._send(200, {**base, "object": "chat.completion",
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.content},
                                          "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
