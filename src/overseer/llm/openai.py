"""A supervisor behind any OpenAI-compatible chat API (vLLM, llama.cpp's server, LM Studio), through
the official `openai` client.

The JSON schema goes in `response_format`. Servers differ in how they take it: the OpenAI form
`{"type": "json_schema", "json_schema": {"schema": ...}}` (vLLM, LM Studio, llama.cpp's `llama-server`)
is the default; llama-cpp-python's `llama_cpp.server` only knows `{"type": "json_object", "schema": ...}`
(`response_format: json_object`).

The `openai` client is imported on first use (it takes seconds to import). Answers are streamed
(stream.py): `on_text` sees them come. The client's own retries are off: transient failures (refused,
timed out, 5xx, 429) are asked again by retry.py, like every provider's; a model the server does not
serve, a key it refuses or a request it rejects fails at once.

Token counts come from the server's own tokenizer when it has one: `llama-server`'s `/tokenize` or
llama-cpp-python's `/extras/tokenize`. Other servers get an estimate, labelled as one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from pydantic import ConfigDict, Field

from overseer.errors import ConfigError, SupervisorError
from overseer.llm.base import DEFAULT_CONTEXT, TransientError, Window, parse_json_object
from overseer.llm.retry import RetryOptions, with_retries
from overseer.llm.stream import Streamed, TextSink
from overseer.llm.tokens import TokenCounter, fallback, fit_middle, prompt_budget
from overseer.text import clip

if TYPE_CHECKING:
    from openai import OpenAI, OpenAIError

T = TypeVar("T")
_SERVER_HINT = "start the server or set supervisor.options.base_url"
_MODEL_HINT = "set supervisor.options.model to one the server lists (GET /v1/models)"
_UNFINISHED = "see the server's log; for a prompt longer than its context, set supervisor.options.context_size"
_NO_KEY = "no-key"  # local servers take any key; the client insists on one


class OpenAIConfig(RetryOptions):
    model_config = ConfigDict(extra="forbid")

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str  # the name the server serves (GET /v1/models lists them)
    api_key_env: str = "OPENAI_API_KEY"  # the environment variable holding the key: never the key itself
    temperature: float = Field(default=0.0, ge=0.0)
    max_tokens: int = Field(default=512, gt=0)
    context_size: int | None = Field(default=None, gt=0)  # the server's context: prompts are cut to fit it
    timeout_s: float = Field(default=120.0, gt=0)  # for a whole answer, to its last piece
    connect_timeout_s: float = Field(default=10.0, gt=0)
    response_format: Literal["json_schema", "json_object"] = "json_schema"
    tokenizer_json: Path | None = None  # exact counts from this tokenizer.json when the server cannot count


class OpenAILLM:
    """A model on an OpenAI-compatible server; the server queues concurrent requests itself."""

    name: ClassVar[str] = "openai"
    config_model: ClassVar[type[OpenAIConfig]] = OpenAIConfig  # what the plugin registry builds

    default_trust: ClassVar[float] = 0.5  # a model chosen on purpose counts

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config
        self.on_text: TextSink | None = None  # sees each piece of an answer as it comes (the console)

    def preflight(self) -> None:
        """List the server's models: fails fast (no retries) when it is down or does not serve the model."""
        try:
            served = self._call(lambda client: [model.id for model in client.models.list()])
        except SupervisorError as exc:
            raise ConfigError(exc.message, hint=exc.hint, **exc.context) from exc
        if self.config.model not in served:
            raise ConfigError(
                "the server does not serve the model",
                model=self.config.model,
                served=", ".join(served) or "nothing",
                base_url=self.config.base_url,
                hint="set supervisor.options.model to one the server lists",
            )

    def complete_json(self, system: str, user: str, schema: dict[str, Any]) -> dict[str, Any]:
        if self.config.context_size is not None:  # unknown, the server truncates or refuses as it will
            budget = prompt_budget(self.config.context_size, self.config.max_tokens, system, self.tokenizer())
            user = fit_middle(user, budget, self.tokenizer())
        request: dict[str, Any] = {
            "model": self.config.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
            # In the body as is: `json_object` with a schema is an extension the client's types do not know.
            "extra_body": {"response_format": self._response_format(schema)},
            "stream": True,
        }

        where = self._where()

        def chat(client: OpenAI) -> tuple[str, str | None]:
            answer, finish = Streamed(self.on_text, self.config.timeout_s, model=self.config.model), None
            with client.chat.completions.create(**request) as chunks:
                for chunk in chunks:
                    for choice in chunk.choices:  # none in a usage-only chunk
                        answer.add(choice.delta.content or "")
                        finish = choice.finish_reason or finish
            if finish is None:  # llama-cpp-python's server ends a stream silently when it fails (too long a prompt)
                text = clip(answer.text, 200)
                raise SupervisorError("the server ended its answer unfinished", answer=text, hint=_UNFINISHED, **where)
            return answer.text, finish

        content, finish = with_retries(lambda: self._call(chat), self.config)
        return parse_json_object(
            content,
            who="the supervisor model",
            cut_off=finish == "length",
            max_tokens=self.config.max_tokens,
            hint="raise supervisor.options.max_tokens if it was cut off",
        )

    @property
    def window(self) -> Window:
        """Unset, `context_size` is assumed small: a prompt cut too much beats one the server refuses."""
        return Window(self.config.context_size or DEFAULT_CONTEXT, self.config.max_tokens)

    def tokenizer(self) -> TokenCounter:
        return self._tokenizer

    @cached_property
    def _tokenizer(self) -> TokenCounter:
        """The server's own tokenizer when it has one (asked once, on first use), else an estimate."""
        for counter in (_LlamaServerTokens(self), _LlamaCppPythonTokens(self)):
            try:
                counter.count("")
            except TransientError:
                raise
            except SupervisorError:  # no such endpoint here (404), or one that wants another body (400)
                continue
            return counter
        return fallback(self.config.tokenizer_json)

    def post(self, url: str, body: dict[str, Any]) -> object:
        """POST `body` to one of the server's own endpoints (outside /v1): its JSON answer."""
        return with_retries(lambda: self._call(lambda client: client.post(url, cast_to=object, body=body)), self.config)

    def _response_format(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self.config.response_format == "json_object":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}

    def _call(self, request: Callable[[OpenAI], T]) -> T:
        """One request through a fresh client, its failures translated: TransientError when worth asking again."""
        import openai

        # The key is read from the environment here, at the adapter: a config file names the variable only.
        key = os.environ.get(self.config.api_key_env) or _NO_KEY
        timeout = openai.Timeout(self.config.timeout_s, connect=self.config.connect_timeout_s)
        try:
            with openai.OpenAI(base_url=self.config.base_url, api_key=key, timeout=timeout, max_retries=0) as client:
                return request(client)
        except openai.OpenAIError as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: OpenAIError) -> SupervisorError:
        import openai

        where = self._where()
        if isinstance(exc, openai.APIConnectionError):  # refused, reset, timed out
            return TransientError("the server did not answer", error=exc, hint=_SERVER_HINT, **where)
        if not isinstance(exc, openai.APIStatusError):
            return SupervisorError("the server's answer is not a chat response", error=exc, **where)
        status, said = exc.status_code, _server_message(exc)
        if status in (408, 429) or status >= 500:
            return TransientError(f"the server failed (HTTP {status})", error=said, hint=self._hint(said), **where)
        if status == 404:
            return SupervisorError("the server does not serve the model", error=said, hint=_MODEL_HINT, **where)
        if status in (401, 403):
            hint = f"put the server's API key in ${self.config.api_key_env} (supervisor.options.api_key_env)"
            return SupervisorError(f"the server refused the API key (HTTP {status})", hint=hint, **where)
        return SupervisorError(
            f"the server refused the request (HTTP {status})", error=said, hint=self._hint(said), **where
        )

    def _where(self) -> dict[str, str]:
        return {"model": self.config.model, "base_url": self.config.base_url}

    def _hint(self, said: str) -> str:
        if "response_format" in said and self.config.response_format == "json_schema":
            return "the server may not take a json_schema: set supervisor.options.response_format: json_object"
        return ""


def _server_message(exc: Any) -> str:
    """What the server said: OpenAI's `{"error": {"message": ...}}`, or the client's summary."""
    body = exc.body
    error = body.get("error", body) if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return clip(str(message or exc.message), 300)


class _ServerTokens:
    """Counts from the server's tokenize endpoint: exact, one short request per count."""

    exact = True
    endpoint: ClassVar[str]

    def __init__(self, llm: OpenAILLM) -> None:
        self._llm = llm
        self._url = llm.config.base_url.rstrip("/").removesuffix("/v1") + self.endpoint

    @property
    def label(self) -> str:
        return f"exact (the server's {self.endpoint})"

    def count(self, text: str) -> int:
        return self._tokens(text) - self._added()

    def _tokens(self, text: str) -> int:
        answer = self._llm.post(self._url, self._body(text))
        tokens = answer.get("tokens") if isinstance(answer, dict) else None
        if not isinstance(tokens, list):
            raise SupervisorError(
                "the server's tokenize answer has no tokens", url=self._url, answer=clip(str(answer), 200)
            )
        return len(tokens)

    def _body(self, text: str) -> dict[str, Any]:
        raise NotImplementedError

    def _added(self) -> int:
        """Tokens the endpoint adds to any text (a BOS token), which a piece of a prompt does not have."""
        return 0


class _LlamaServerTokens(_ServerTokens):
    """llama.cpp's `llama-server`: `add_special: false` leaves out the BOS token."""

    endpoint = "/tokenize"

    def _body(self, text: str) -> dict[str, Any]:
        return {"content": text, "add_special": False}


class _LlamaCppPythonTokens(_ServerTokens):
    """llama-cpp-python's server adds the BOS token when the model wants one: counted once, then taken off."""

    endpoint = "/extras/tokenize"

    def _body(self, text: str) -> dict[str, Any]:
        return {"input": text, "model": self._llm.config.model}

    @cached_property
    def _bos(self) -> int:
        return self._tokens("")

    def _added(self) -> int:
        return self._bos
