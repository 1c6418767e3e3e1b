"""What a supervising LLM is to overseer: something that answers a prompt with JSON.

The judge only ever asks for structured answers (a schema in, a dict out), so the protocol is
that and nothing more. Providers (embedded llama.cpp, Ollama, OpenAI-compatible servers) translate
their own failures into overseer's errors at this boundary, so callers never see a provider's
exception types.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol


class LLM(Protocol):
    """A model that answers in JSON. Its opinion is one signal among the evidence, never the verdict."""

    name: ClassVar[str]

    def preflight(self) -> None:
        """Raise ConfigError now if the model cannot work (model file missing, server unreachable)."""

    def complete_json(self, system: str, user: str, schema: dict[str, Any]) -> dict[str, Any]:
        """Answer `user` under `system` with a JSON object shaped by `schema`.

        Raises SupervisorError when the model fails or its answer is not a JSON object. Providers
        that cannot enforce every schema keyword still return what the model said: callers check
        the fields they rely on.
        """
        ...

    def count_tokens(self, text: str) -> int:
        """How many of this model's tokens `text` takes, to budget prompts against its context."""
        ...
