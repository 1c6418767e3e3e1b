"""A supervisor served by Ollama (https://ollama.com): any model it has pulled, e.g. Qwen on a GPU box.

Answers use Ollama's structured outputs: the JSON schema goes in the chat request's `format`, and
the server constrains the model's answer to it. The `ollama` client (and httpx under it) is imported
on first use, never at import time, so `overseer --help` does not pay for it.

Each call opens its own short-lived client: a model's answer takes seconds, a new connection
milliseconds, and nothing is left open between calls (or shared between threads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from overseer.errors import ConfigError, SupervisorError
from overseer.llm.base import parse_json_object

if TYPE_CHECKING:
    from ollama import ChatResponse, Client

_HOST_HINT = "start `ollama serve` or set supervisor.options.host"


class OllamaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "http://127.0.0.1:11434"
    model: str = "qwen2.5-coder:7b"
    temperature: float = Field(default=0.0, ge=0.0)
    timeout_s: float = Field(default=120.0, gt=0)  # per request; the first one also loads the model
    num_ctx: int | None = Field(default=None, gt=0)  # None: the server's (or the model's) default


class OllamaLLM:
    """A model on an Ollama server; the server queues concurrent requests itself."""

    name: ClassVar[str] = "ollama"
    config_model: ClassVar[type[OllamaConfig]] = OllamaConfig  # what the plugin registry builds

    default_trust: ClassVar[float] = 0.5  # a model chosen on purpose (Qwen on a GPU box) counts

    def __init__(self, config: OllamaConfig | None = None) -> None:
        self.config = config or OllamaConfig()

    def preflight(self) -> None:
        """Ask the server about the model: fails fast if the server is down or the model not pulled."""
        import httpx
        import ollama

        model, host = self.config.model, self.config.host
        try:
            with self._client() as client:
                client.show(model)
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                pull = f"run `ollama pull {model}`"
                raise ConfigError("Ollama model not pulled", model=model, host=host, hint=pull) from exc
            raise ConfigError("Ollama refused to describe the model", model=model, host=host, error=exc) from exc
        except (ConnectionError, httpx.HTTPError) as exc:
            raise ConfigError("Ollama server not reachable", host=host, hint=_HOST_HINT) from exc
        except ValueError as exc:  # a 200 that is not an Ollama answer: something else on that port
            raise ConfigError("the server did not answer like Ollama", host=host, hint=_HOST_HINT) from exc

    def complete_json(self, system: str, user: str, schema: dict[str, Any]) -> dict[str, Any]:
        import httpx
        import ollama

        model, host = self.config.model, self.config.host
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        try:
            with self._client() as client:
                response = client.chat(model=model, messages=messages, format=schema, options=self._options())
        except ollama.ResponseError as exc:
            hint = f"run `ollama pull {model}`" if exc.status_code == 404 else ""
            raise SupervisorError("the Ollama model failed", model=model, error=exc, hint=hint) from exc
        except (ConnectionError, httpx.HTTPError) as exc:  # refused, reset, timed out
            raise SupervisorError("the Ollama server did not answer", host=host, error=exc) from exc
        except ValueError as exc:  # a body that is not a chat response (JSON or pydantic error)
            raise SupervisorError("the Ollama server's answer is not a chat response", host=host) from exc
        return self._parse(response)

    def count_tokens(self, text: str) -> int:
        """An estimate, about four characters a token: the Ollama client has no tokenize endpoint,
        and a generation request just to count would cost a model call."""
        return len(text) // 4 + 1

    def _client(self) -> Client:
        from ollama import Client

        return Client(host=self.config.host, timeout=self.config.timeout_s)

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"temperature": self.config.temperature}
        if self.config.num_ctx is not None:
            options["num_ctx"] = self.config.num_ctx
        return options

    def _parse(self, response: ChatResponse) -> dict[str, Any]:
        return parse_json_object(
            response.message.content or "",
            who="the Ollama model",
            cut_off=response.done_reason == "length",
            num_ctx=self.config.num_ctx,
            hint="raise supervisor.options.num_ctx if it was cut off",
        )
