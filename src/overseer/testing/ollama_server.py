"""A scripted Ollama server, for testing the `ollama` supervisor (and your own policies) offline.

A fake, because no Ollama server can run on the test machines (no GPU, no model weights) and tests
must not reach any model service. It speaks the part of Ollama's HTTP API the official client uses
for supervision: `GET /` ("Ollama is running"), `GET /api/tags` (the configured models),
`POST /api/show` (404 for a model it does not have, as Ollama does) and `POST /api/chat`, which
answers each request with the next scripted answer: a string is the assistant message's content
as is (so a test can script invalid JSON), a dict is sent as its JSON, an `OllamaErrorReply` is
an HTTP error with Ollama's `{"error": ...}` body. When the script runs out, chat answers 500.
A streamed chat (Ollama's default) comes as Ollama sends it: NDJSON lines of a few characters of
content each, `chunk_delay_s` apart, then a last line with `done: true` and the counts.

    from overseer.testing import ScriptedOllamaServer

    with ScriptedOllamaServer([{"approve": True, "score": 8, "reasons": []}]) as server:
        llm = OllamaLLM(OllamaConfig(host=server.url))

Standard library only (not the `ollama` client), so importing it costs the CLI's start-up nothing.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from overseer.testing._local import LocalServer, QuietJsonHandler, ScriptServer

DEFAULT_MODEL = "qwen2.5-coder:7b"
_PIECE = 8  # characters of content in each streamed line (Ollama sends about a token per line)


@dataclass(frozen=True)
class OllamaErrorReply:
    """An HTTP error in place of an answer."""

    status: int
    message: str


Answer = str | dict[str, Any] | OllamaErrorReply


def _tagged(model: str) -> str:
    """Ollama's name for a model: `qwen2.5-coder` is `qwen2.5-coder:latest`."""
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _piece(model: str, content: str) -> dict[str, Any]:
    return {"model": model, "created_at": _now(), "message": {"role": "assistant", "content": content}, "done": False}


def _details() -> dict[str, Any]:
    return {"format": "gguf", "family": "scripted", "parameter_size": "0B", "quantization_level": "none"}


@dataclass
class _Script:
    answers: list[Answer]
    models: tuple[str, ...]
    chunk_delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, body: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(body)

    def knows(self, model: object) -> bool:
        return isinstance(model, str) and _tagged(model) in {_tagged(known) for known in self.models}

    def next_answer(self) -> Answer:
        with self.lock:
            if not self.answers:
                return OllamaErrorReply(500, "scripted Ollama server: the script has no more answers")
            return self.answers.pop(0)


class _Handler(QuietJsonHandler):
    server: ScriptServer[_Script]

    def do_HEAD(self) -> None:  # the `ollama` CLI's heartbeat
        self._send(200, b"", "text/plain; charset=utf-8")

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/":
            self._send(200, b"Ollama is running", "text/plain; charset=utf-8")
        elif path == "/api/tags":
            self._send_json(200, {"models": [self._model_entry(model) for model in self.server.script.models]})
        elif path == "/api/version":
            self._send_json(200, {"version": "0.0.0-scripted"})
        else:
            self._send(404, b"404 page not found", "text/plain; charset=utf-8")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._send_json(400, {"error": "invalid JSON body"})
            return
        self.server.script.record(body)
        path = self.path.split("?")[0]
        if path not in ("/api/show", "/api/chat"):
            self._send(404, b"404 page not found", "text/plain; charset=utf-8")
        elif not self.server.script.knows(body.get("model")):
            self._send_json(404, {"error": f"model '{body.get('model')}' not found"})
        elif path == "/api/show":
            self._send_json(200, self._show())
        else:
            self._chat(body)

    def _chat(self, body: dict[str, Any]) -> None:
        answer = self.server.script.next_answer()
        if isinstance(answer, OllamaErrorReply):
            self._send_json(answer.status, {"error": answer.message})
            return
        content = answer if isinstance(answer, str) else json.dumps(answer)
        prompt = sum(len(str(message.get("content", ""))) for message in body.get("messages", []))
        if body.get("stream", True):
            self._stream(body["model"], content, prompt)
            return
        self._send(200, json.dumps(self._final(body["model"], content, prompt)).encode(), "application/json")

    def _stream(self, model: str, content: str, prompt: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        pieces = [content[start : start + _PIECE] for start in range(0, len(content), _PIECE)]
        lines = [_piece(model, piece) for piece in pieces]
        try:
            for line in [*lines, self._final(model, "", prompt, len(content))]:
                data = json.dumps(line).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))  # HTTP/1.1 chunked encoding
                self.wfile.flush()
                time.sleep(self.server.script.chunk_delay_s)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading (its deadline passed)
            self.close_connection = True

    @staticmethod
    def _final(model: str, content: str, prompt: int, generated: int | None = None) -> dict[str, Any]:
        """The last (or only) object of a chat reply: done, with Ollama's counts and timings."""
        return {
            "model": model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": content},
            "done": True,
            "done_reason": "stop",
            "total_duration": 1_000_000,
            "load_duration": 0,
            "prompt_eval_count": prompt // 4 + 1,
            "prompt_eval_duration": 500_000,
            "eval_count": (len(content) if generated is None else generated) // 4 + 1,
            "eval_duration": 500_000,
        }

    @staticmethod
    def _model_entry(model: str) -> dict[str, Any]:
        name = _tagged(model)
        digest = hashlib.sha256(name.encode()).hexdigest()
        return {"name": name, "model": name, "modified_at": _now(), "size": 0, "digest": digest, "details": _details()}

    @staticmethod
    def _show() -> dict[str, Any]:
        return {
            "modelfile": "",
            "parameters": "",
            "template": "{{ .Prompt }}",
            "details": _details(),
            "model_info": {},
            "capabilities": ["completion"],
            "modified_at": _now(),
        }


class ScriptedOllamaServer(LocalServer[_Script]):
    """Serve `answers` to `/api/chat` on 127.0.0.1 at a free port; use as a context manager.

    `models` are the models it has "pulled"; requests naming any other model get Ollama's 404.
    """

    def __init__(
        self, answers: Sequence[Answer] = (), *, models: Sequence[str] = (DEFAULT_MODEL,), chunk_delay_s: float = 0.0
    ) -> None:
        super().__init__(_Handler, _Script(list(answers), tuple(models), chunk_delay_s))

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the POST requests received (`/api/show` and `/api/chat`), in order."""
        with self._script.lock:
            return list(self._script.requests)

    @property
    def remaining(self) -> int:
        """Scripted answers not yet given."""
        with self._script.lock:
            return len(self._script.answers)
