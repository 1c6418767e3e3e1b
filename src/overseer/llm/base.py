"""What a supervising LLM is to overseer: something that answers a prompt with JSON.

The judge only ever asks for structured answers (a schema in, a dict out), so the protocol is
that, a preflight, and a way to count the model's tokens. Providers (embedded llama.cpp, Ollama,
OpenAI-compatible servers) translate their own failures into overseer's errors at this boundary, so
callers never see a provider's exception types:

    SupervisorError       the model gave no answer: the model is missing, the server refused the request
    ├── TransientError    a failure that usually passes (refused, timed out, 5xx, 429): retried (retry.py)
    └── InvalidAnswer     it answered, but not a JSON object in the schema's shape: worth asking once more
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from overseer.errors import SupervisorError
from overseer.llm.tokens import TokenCounter
from overseer.text import clip


class TransientError(SupervisorError):
    """A failure that usually passes: the provider asks again, with backoff (retry.py)."""


class InvalidAnswer(SupervisorError):
    """The model answered, but not with a JSON object of the schema's shape (or it was cut off)."""


DEFAULT_CONTEXT = 2048  # tokens, when the provider does not say (Ollama's default num_ctx; the embedded default)
DEFAULT_ANSWER = 512  # tokens kept for the answer when the provider does not say


@dataclass(frozen=True)
class Window:
    """What one question may take: the model's context, and the part of it kept for the answer."""

    context: int = DEFAULT_CONTEXT
    answer: int = DEFAULT_ANSWER


class LLM(Protocol):
    """A model that answers in JSON. Its opinion is one signal among the evidence, never the verdict."""

    name: ClassVar[str]

    @property
    def default_trust(self) -> float:
        """How much this model's review counts when the user sets no `supervisor.trust` (0..1)."""
        ...

    @property
    def window(self) -> Window:
        """The model's context and its answer's max tokens: prompts are packed into what they leave."""
        ...

    def preflight(self) -> None:
        """Raise ConfigError now if the model cannot work (model file missing, server unreachable)."""

    def complete_json(self, system: str, user: str, schema: dict[str, Any]) -> dict[str, Any]:
        """Answer `user` under `system` with a JSON object shaped by `schema`.

        Raises InvalidAnswer when the answer is not a JSON object, SupervisorError when the model
        gave none (after the provider's own retries of transient failures). Providers that cannot
        enforce every schema keyword still return what the model said: callers check the fields
        they rely on.
        """
        ...

    def tokenizer(self) -> TokenCounter:
        """This model's token counter, to budget prompts against its context; exact where it can be."""
        ...


@runtime_checkable
class Warms(Protocol):
    """A model that can get ready ahead of a question: load itself, evaluate the prompt's fixed prefix.

    The judge calls `warm` on a thread while the agent works, so the first review does not pay for
    a cold model. Best effort: it never raises; a real failure shows in the question that follows.
    """

    def warm(self, system: str) -> None: ...


def parse_json_object(content: str, *, who: str, cut_off: bool = False, **context: Any) -> dict[str, Any]:
    """The one parser for a model's JSON answer: a dict, or a SupervisorError that says what was wrong.

    `cut_off` is the provider's word that the answer stopped at its token limit, which turns
    "invalid JSON" into the error the user can act on.
    """
    try:
        answer = json.loads(content)
    except json.JSONDecodeError as exc:
        if cut_off:
            raise InvalidAnswer(f"{who}'s answer was cut off at its token limit", **context) from exc
        raise InvalidAnswer(f"{who} answered invalid JSON", answer=clip(content, 200), **context) from exc
    if not isinstance(answer, dict):
        raise InvalidAnswer(f"{who} answered JSON that is not an object", answer=clip(content, 200), **context)
    return answer
