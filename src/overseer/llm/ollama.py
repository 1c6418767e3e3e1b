"""A supervisor served by Ollama (https://ollama.com): any model it has pulled, e.g. Qwen on a GPU box.

Answers use Ollama's structured outputs: the JSON schema goes in the chat request's `format`, and
the server constrains the model's answer to it. The `ollama` client (and httpx under it) is imported
on first use, never at import time, so `overseer --help` does not pay for it.

Each call opens its own short-lived client: a model's answer takes seconds, a new connection
milliseconds, and nothing is left open between calls (or shared between threads). Answers are
streamed (stream.py): `on_text` sees them come. Transient failures (refused, timed out, 5xx, 429) are
asked again with backoff (retry.py); a model not pulled or a request Ollama refuses fails at once.

Token counts are exact when the server's models folder is readable here (Ollama on this machine):
the manifest names the model's GGUF blob, whose vocabulary llama.cpp loads. Otherwise they are an
estimate, labelled as one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import ConfigDict, Field

from overseer.errors import ConfigError, SupervisorError
from overseer.llm.base import DEFAULT_CONTEXT, TransientError, Window, parse_json_object
from overseer.llm.retry import RetryOptions, with_retries
from overseer.llm.stream import Streamed, TextSink
from overseer.llm.tokens import GGUFVocab, TokenCounter, fallback, fit_middle, ollama_blob, prompt_budget

if TYPE_CHECKING:
    from ollama import Client

T = TypeVar("T")
_HOST_HINT = "start `ollama serve` or set supervisor.options.host"


class OllamaConfig(RetryOptions):
    model_config = ConfigDict(extra="forbid")

    host: str = "http://127.0.0.1:11434"
    model: str = "qwen2.5-coder:7b"
    temperature: float = Field(default=0.0, ge=0.0)
    timeout_s: float = Field(default=120.0, gt=0)  # for a whole answer; the first one also loads the model
    num_ctx: int | None = Field(default=None, gt=0)  # prompts are cut to fit it; None: the server's default
    max_tokens: int = Field(default=512, gt=0)  # Ollama's num_predict: an answer is cut off (and fails) past it
    keep_alive: str | None = None  # how long Ollama keeps the model loaded after a call ("10m"); None: its default
    models_dir: Path = Path("~/.ollama/models")  # where exact token counts come from, when Ollama runs here
    tokenizer_json: Path | None = None  # else exact counts from the model's tokenizer.json (another machine's server)


class OllamaLLM:
    """A model on an Ollama server; the server queues concurrent requests itself."""

    name: ClassVar[str] = "ollama"
    config_model: ClassVar[type[OllamaConfig]] = OllamaConfig  # what the plugin registry builds

    default_trust: ClassVar[float] = 0.5  # a model chosen on purpose (Qwen on a GPU box) counts

    def __init__(self, config: OllamaConfig | None = None) -> None:
        self.config = config or OllamaConfig()
        self.on_text: TextSink | None = None  # sees each piece of an answer as it comes (the console)

    def preflight(self) -> None:
        """Ask the server about the model: fails fast (no retries) if the server is down or the model not pulled."""
        try:
            self._call(lambda client: client.show(self.config.model))
        except SupervisorError as exc:
            raise ConfigError(exc.message, hint=exc.hint, **exc.context) from exc

    def complete_json(self, system: str, user: str, schema: dict[str, Any]) -> dict[str, Any]:
        if self.config.num_ctx is not None:  # unknown, Ollama keeps the end of a prompt too long for it
            budget = prompt_budget(self.config.num_ctx, self.config.max_tokens, system, self.tokenizer())
            user = fit_middle(user, budget, self.tokenizer())
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        options, keep_alive = self._options(), self.config.keep_alive

        def chat(client: Client) -> tuple[str, str | None]:
            answer, done_reason = Streamed(self.on_text, self.config.timeout_s, model=self.config.model), None
            chunks = client.chat(
                model=self.config.model,
                messages=messages,
                format=schema,
                options=options,
                keep_alive=keep_alive,
                stream=True,
            )
            for chunk in chunks:
                answer.add(chunk.message.content or "")
                done_reason = chunk.done_reason or done_reason
            if done_reason is None:  # the stream stopped before Ollama said it was done
                raise TransientError("the Ollama server ended its answer unfinished", model=self.config.model)
            return answer.text, done_reason

        content, done_reason = with_retries(lambda: self._call(chat), self.config)
        return parse_json_object(
            content,
            who="the Ollama model",
            cut_off=done_reason == "length",
            num_ctx=self.config.num_ctx,
            max_tokens=self.config.max_tokens,
            hint="raise supervisor.options.max_tokens (or num_ctx) if it was cut off",
        )

    @property
    def window(self) -> Window:
        """Unset, `num_ctx` is the server's own default, which is Ollama's 2048 unless changed there."""
        return Window(self.config.num_ctx or DEFAULT_CONTEXT, self.config.max_tokens)

    def tokenizer(self) -> TokenCounter:
        return self._tokenizer

    @cached_property
    def _tokenizer(self) -> TokenCounter:
        blob = ollama_blob(self.config.models_dir.expanduser(), self.config.model)
        return fallback(self.config.tokenizer_json) if blob is None else GGUFVocab(blob)

    def _call(self, request: Callable[[Client], T]) -> T:
        """One request through a fresh client, its failures translated: TransientError when worth asking again."""
        import httpx
        import ollama

        model, host = self.config.model, self.config.host
        try:
            with ollama.Client(host=host, timeout=self.config.timeout_s) as client:
                return request(client)
        except ollama.ResponseError as exc:
            if exc.status_code == 429 or exc.status_code >= 500:
                raise TransientError("the Ollama server failed", model=model, error=exc) from exc
            if exc.status_code == 404:
                hint = f"run `ollama pull {model}`"
                raise SupervisorError("Ollama model not pulled", model=model, error=exc, hint=hint) from exc
            raise SupervisorError("the Ollama server refused the request", model=model, error=exc) from exc
        except (ConnectionError, httpx.TransportError) as exc:  # refused, reset, timed out
            raise TransientError("the Ollama server did not answer", host=host, error=exc, hint=_HOST_HINT) from exc
        except ValueError as exc:  # a 200 that is not an Ollama answer: something else on that port
            raise SupervisorError("the server did not answer like Ollama", host=host, hint=_HOST_HINT) from exc

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"temperature": self.config.temperature, "num_predict": self.config.max_tokens}
        if self.config.num_ctx is not None:
            options["num_ctx"] = self.config.num_ctx
        return options
