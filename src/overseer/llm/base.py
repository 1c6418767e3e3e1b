"""What a supervising LLM is to overseer: something that answers a prompt with JSON.

The judge only ever asks for structured answers (a schema in, a dict out), so the protocol is
that and nothing more. Providers (embedded llama.cpp, Ollama, OpenAI-compatible servers) translate
their own failures into overseer's errors at this boundary, so callers never see a provider's
exception types.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Protocol

from overseer.errors import SupervisorError
from overseer.text import clip


class LLM(Protocol):
    """A model that answers in JSON. Its opinion is one signal among the evidence, never the verdict."""

    name: ClassVar[str]

    @property
    def default_trust(self) -> float:
        """How much this model's review counts when the user sets no `supervisor.trust` (0..1)."""
        ...

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


def parse_json_object(content: str, *, who: str, cut_off: bool = False, **context: Any) -> dict[str, Any]:
    """The one parser for a model's JSON answer: a dict, or a SupervisorError that says what was wrong.

    `cut_off` is the provider's word that the answer stopped at its token limit, which turns
    "invalid JSON" into the error the user can act on.
    """
    try:
        answer = json.loads(content)
    except json.JSONDecodeError as exc:
        if cut_off:
            raise SupervisorError(f"{who}'s answer was cut off at its token limit", **context) from exc
        raise SupervisorError(f"{who} answered invalid JSON", answer=clip(content, 200), **context) from exc
    if not isinstance(answer, dict):
        raise SupervisorError(f"{who} answered JSON that is not an object", answer=clip(content, 200), **context)
    return answer
