"""A scripted OpenAI-compatible server, for what a real one cannot be made to do on demand.

The `openai` supervisor is tested against a real server (`llama_server.py`); this one plays the
failures no real server produces when asked: a rate limit (429), a server busy loading (503) and
then an answer, a refused key. It speaks `GET /v1/models` and `POST /v1/chat/completions`, answering
each chat with the next scripted answer: a string is the message content as is, a dict is sent as
its JSON, an `OpenAIErrorReply` is an HTTP error with OpenAI's `{"error": {...}}` body. When the
script runs out, chat answers 500. A streamed chat comes as server-sent events of a few characters
each, then `data: [DONE]`. Standard library only.

    with ScriptedOpenAIServer([OpenAIErrorReply(429, "slow down"), {"approve": True}]) as server:
        llm = OpenAILLM(OpenAIConfig(base_url=server.base_url, model="scripted"))
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from overseer.testing._local import LocalServer, QuietJsonHandler, ScriptServer

DEFAULT_MODEL = "scripted"
_PIECE = 8  # characters of content in each streamed event


@dataclass(frozen=True)
class OpenAIErrorReply:
    """An HTTP error in place of an answer."""

    status: int
    message: str


OpenAIAnswer = str | dict[str, Any] | OpenAIErrorReply


@dataclass
class _Script:
    answers: list[OpenAIAnswer]
    models: tuple[str, ...]
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self) -> OpenAIAnswer:
        with self.lock:
            if not self.answers:
                return OpenAIErrorReply(500, "scripted OpenAI server: the script has no more answers")
            return self.answers.pop(0)


class _Handler(QuietJsonHandler):
    server: ScriptServer[_Script]

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/v1/models":
            models = [{"id": model, "object": "model", "owned_by": "scripted"} for model in self.server.script.models]
            self._send_json(200, {"object": "list", "data": models})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        script = self.server.script
        with script.lock:
            script.requests.append(body)
            script.headers.append({name.lower(): value for name, value in self.headers.items()})
        if self.path.split("?")[0] != "/v1/chat/completions":
            self._error(404, f"no route {self.path}")
            return
        answer = script.next_answer()
        if isinstance(answer, OpenAIErrorReply):
            self._error(answer.status, answer.message)
            return
        content = answer if isinstance(answer, str) else json.dumps(answer)
        if body.get("stream"):
            self._stream(body.get("model", ""), content)
        else:
            self._send_json(200, _completion(body.get("model", ""), content))

    def _stream(self, model: str, content: str) -> None:
        pieces = [{"role": "assistant", "content": content[i : i + _PIECE]} for i in range(0, len(content), _PIECE)]
        events = [_chunk(model, delta, None) for delta in pieces] + [_chunk(model, {}, "stop")]
        data = b"".join(b"data: %s\n\n" % json.dumps(event).encode() for event in events) + b"data: [DONE]\n\n"
        self._send(200, data, "text/event-stream")

    def _error(self, status: int, message: str) -> None:
        self._send_json(status, {"error": {"message": message, "type": "scripted", "param": None, "code": None}})


def _chunk(model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [choice],
    }


def _completion(model: str, content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class ScriptedOpenAIServer(LocalServer[_Script]):
    """Serve `answers` on 127.0.0.1 at a free port; use as a context manager. `base_url` ends in /v1."""

    def __init__(self, answers: Sequence[OpenAIAnswer] = (), *, models: Sequence[str] = (DEFAULT_MODEL,)) -> None:
        super().__init__(_Handler, _Script(list(answers), tuple(models)))

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the POST requests received, in order."""
        with self._script.lock:
            return list(self._script.requests)

    @property
    def headers(self) -> list[dict[str, str]]:
        """The headers of the POST requests received (names in lower case), in order."""
        with self._script.lock:
            return list(self._script.headers)

    @property
    def remaining(self) -> int:
        with self._script.lock:
            return len(self._script.answers)
