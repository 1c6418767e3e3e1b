"""A scripted Anthropic Messages API server, for driving the real `claude` CLI offline.

`claude` honours ANTHROPIC_BASE_URL, so pointing it here makes the real binary perform real tool
calls in a real workspace while every model reply comes from a script. Each request that offers
tools (the agent's own turns) takes the next scripted turn; side requests without tools (titles,
summaries) get a short text. When the script runs out the server answers 400, which ends the run
with an error result instead of hanging.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from overseer.testing._local import LocalServer, QuietJsonHandler, ScriptServer

MODEL = "claude-scripted"


@dataclass(frozen=True)
class Say:
    """A text block."""

    text: str


@dataclass(frozen=True)
class Use:
    """A tool_use block: the CLI will run `tool` with `input` for real."""

    tool: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Turn:
    """One model reply: content blocks, or an HTTP error when `status` is not 200."""

    blocks: tuple[Say | Use, ...] = ()
    status: int = 200
    error: str = ""
    times: int = 1  # answer this many requests with this turn (the CLI retries some errors itself)
    headers: tuple[tuple[str, str], ...] = ()  # sent with an error reply (retry-after...)
    drop: bool = False  # close the connection without an answer, as a dying network or proxy would

    @property
    def stop_reason(self) -> str:
        return "tool_use" if any(isinstance(b, Use) for b in self.blocks) else "end_turn"


def turn(*blocks: Say | Use) -> Turn:
    return Turn(blocks=blocks)


def api_error(status: int, message: str, *, times: int = 1, retry_after: float | None = None) -> Turn:
    """An HTTP error reply; `retry_after` sends the header a rate limit (429) comes with."""
    headers = () if retry_after is None else (("retry-after", f"{retry_after:g}"),)
    return Turn(status=status, error=message, times=times, headers=headers)


def dropped(*, times: int = 1) -> Turn:
    """No reply at all: the connection is closed as soon as the request is read."""
    return Turn(drop=True, times=times)


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error"}
    return {"type": "error", "error": {"type": kind.get(status, "api_error"), "message": message}}


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


@dataclass
class _Script:
    turns: list[Turn]
    requests: list[dict[str, Any]] = field(default_factory=list)
    agent_requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=itertools.count)

    def next_turn(self, body: dict[str, Any]) -> Turn:
        with self.lock:
            self.requests.append(body)
            if not body.get("tools"):
                return turn(Say("ok"))
            self.agent_requests.append(body)
            if not self.turns:
                return api_error(400, "scripted server: the script has no more turns")
            head = self.turns[0]
            if head.times > 1:
                self.turns[0] = replace(head, times=head.times - 1)
            else:
                self.turns.pop(0)
            return head

    def new_id(self, prefix: str) -> str:
        with self.lock:
            return f"{prefix}_scripted_{next(self.ids):04d}"


class _Handler(QuietJsonHandler):
    server: ScriptServer[_Script]

    def do_HEAD(self) -> None:
        self._send_json(200, {})

    def do_GET(self) -> None:
        self._send_json(200, {"data": [], "has_more": False})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        path = self.path.split("?")[0]
        if path.endswith("/count_tokens"):
            self._send_json(200, {"input_tokens": len(json.dumps(body)) // 4})
        elif path.endswith("/v1/messages"):
            self._reply(self.server.script.next_turn(body), stream=bool(body.get("stream")))
        else:
            self._send_json(404, _error_body(404, f"scripted server: no route {path}"))

    def _reply(self, reply: Turn, *, stream: bool) -> None:
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if reply.status != 200:
            data = json.dumps(_error_body(reply.status, reply.error)).encode()
            self.send_response(reply.status)
            headers = (("Content-Type", "application/json"), ("Content-Length", str(len(data))), *reply.headers)
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            return
        message_id = self.server.script.new_id("msg")
        blocks = [self._block(b) for b in reply.blocks]
        if stream:
            self._send_stream(message_id, blocks, reply.stop_reason)
        else:
            self._send_json(200, self._message(message_id, blocks, reply.stop_reason))

    def _block(self, block: Say | Use) -> dict[str, Any]:
        if isinstance(block, Say):
            return {"type": "text", "text": block.text}
        tool_id = self.server.script.new_id("toolu")
        return {"type": "tool_use", "id": tool_id, "name": block.tool, "input": block.input}

    @staticmethod
    def _message(message_id: str, blocks: list[dict[str, Any]], stop: str | None) -> dict[str, Any]:
        return {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": blocks,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": 100, "output_tokens": 20},
        }

    def _send_stream(self, message_id: str, blocks: list[dict[str, Any]], stop: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        start = self._message(message_id, [], None)
        self.wfile.write(_sse("message_start", {"type": "message_start", "message": start}))
        for index, block in enumerate(blocks):
            self._stream_block(index, block)
        delta = {"stop_reason": stop, "stop_sequence": None}
        usage = {"output_tokens": 20}
        self.wfile.write(_sse("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        self.wfile.write(_sse("message_stop", {"type": "message_stop"}))
        self.wfile.flush()
        self.close_connection = True

    def _stream_block(self, index: int, block: dict[str, Any]) -> None:
        if block["type"] == "text":
            empty: dict[str, Any] = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            empty = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        self.wfile.write(
            _sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": empty})
        )
        self.wfile.write(_sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
        self.wfile.write(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))


class ScriptedAnthropicServer(LocalServer[_Script]):
    """Serve `turns` on 127.0.0.1 at a free port; use as a context manager."""

    def __init__(self, turns: Sequence[Turn]) -> None:
        super().__init__(_Handler, _Script(list(turns)))

    @property
    def agent_requests(self) -> list[dict[str, Any]]:
        """Bodies of the requests that took a scripted turn, in order."""
        return list(self._script.agent_requests)

    @property
    def remaining(self) -> int:
        return len(self._script.turns)
