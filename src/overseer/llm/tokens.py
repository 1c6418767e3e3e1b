"""Counting the supervisor model's own tokens, exactly where overseer can, and saying so where it cannot.

A prompt budget is only as good as its count. Each provider hands out a `TokenCounter`:

- `GGUFVocab`: the llama.cpp tokenizer loaded vocab-only from a GGUF file (the embedded model, or
  the blob an Ollama manifest names): exact, a fraction of a second to load, no weights in memory;
- a server's own tokenize endpoint (see `openai.py`): exact;
- `TokenizerJSON`: the model's `tokenizer.json` through Hugging Face's `tokenizers`, when the user
  names one (`supervisor.options.tokenizer_json`) and nothing above is at hand: exact;
- `Estimate`: about four characters a token, labelled as an estimate wherever it is shown.

Counts are for pieces of a prompt that a chat template assembles, so no BOS token is counted.
"""

from __future__ import annotations

import ctypes
import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from overseer.errors import ConfigError, SupervisorError

if TYPE_CHECKING:
    from llama_cpp import Llama

CHARS_PER_TOKEN = 4  # English prose and code average 3.5-4.5 characters a token across common vocabularies
_OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
_OLLAMA_REGISTRY = "registry.ollama.ai"
logger = logging.getLogger(__name__)
_llama_log: Any = None  # the callback handed to llama.cpp, kept alive here


class TokenCounter(Protocol):
    @property
    def exact(self) -> bool:
        """False when `count` is an estimate: a budget built on it needs a margin."""
        ...

    @property
    def label(self) -> str:
        """What counts, for people: "exact (llama.cpp vocabulary of x.gguf)" or "estimate (...)"."""
        ...

    def count(self, text: str) -> int: ...


class Estimate:
    exact = False
    label = f"estimate (about {CHARS_PER_TOKEN} characters a token)"

    def count(self, text: str) -> int:
        return len(text) // CHARS_PER_TOKEN + 1


class GGUFVocab:
    """The vocabulary of a GGUF model, loaded on first use (vocab-only: no weights) and kept."""

    exact = True

    def __init__(self, path: Path, *, hint: str = "") -> None:
        self.path = path
        self._hint = hint  # what the user can do about a missing or broken file
        self._llama: Llama | None = None
        self._lock = threading.Lock()  # a llama.cpp object is not thread-safe

    @property
    def label(self) -> str:
        return f"exact (llama.cpp vocabulary of {self.path.name})"

    def count(self, text: str) -> int:
        return len(self.tokenize(text))

    def tokenize(self, text: str) -> list[int]:
        with self._lock:
            return self._vocab().tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def detokenize(self, tokens: list[int]) -> str:
        # A cut can split a multi-byte character; drop the broken bytes rather than fail.
        with self._lock:
            return self._vocab().detokenize(tokens).decode("utf-8", errors="ignore")

    def _vocab(self) -> Llama:
        if self._llama is None:
            if not self.path.is_file():
                raise ConfigError("supervisor model file not found", path=self.path, hint=self._hint)
            from llama_cpp import Llama  # imported late: it loads the native library

            route_llama_logs()
            try:  # llama-cpp-python always makes a context; the smallest one costs nothing
                self._llama = Llama(model_path=str(self.path), vocab_only=True, n_ctx=16, n_batch=16, verbose=False)
            except Exception as exc:  # not a GGUF file: llama-cpp-python raises ValueError or RuntimeError
                raise ConfigError("not a GGUF model file", path=self.path, hint=self._hint) from exc
        return self._llama


class TokenizerJSON:
    """A model's `tokenizer.json`, read by Hugging Face's `tokenizers` on first use and kept."""

    exact = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return f"exact ({self.path.name} through tokenizers)"

    def count(self, text: str) -> int:
        with self._lock:
            if self._tokenizer is None:
                self._tokenizer = self._load()
            return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def _load(self) -> Any:
        from tokenizers import Tokenizer  # imported late: only users who name a tokenizer.json pay for it

        hint = "set supervisor.options.tokenizer_json to the model's tokenizer.json, or remove it"
        if not self.path.is_file():
            raise ConfigError("tokenizer.json not found", path=self.path, hint=hint)
        try:
            return Tokenizer.from_file(str(self.path))
        except Exception as exc:  # tokenizers raises its own Exception subclass for any bad file
            raise ConfigError("not a tokenizer.json that tokenizers can read", path=self.path, hint=hint) from exc


def fallback(tokenizer_json: Path | None) -> TokenCounter:
    """The counter when the model's own vocabulary is out of reach: its tokenizer.json, else an estimate."""
    return Estimate() if tokenizer_json is None else TokenizerJSON(tokenizer_json.expanduser())


def route_llama_logs() -> None:
    """Send llama.cpp's own messages to overseer's log, not to the console.

    llama-cpp-python prints them to `sys.stderr` from a C callback, whatever thread is running and
    whatever stderr is by then (a closed one at exit), errors that are not errors included (loading
    a vocabulary alone says the context overflows "n_ctx_train (0)"). overseer reports real failures
    itself, from the exceptions llama-cpp-python raises; its log keeps llama.cpp's words at debug.
    """
    global _llama_log
    if _llama_log is not None:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        logger.debug("llama.cpp: %s", text.decode("utf-8", errors="replace").rstrip())

    llama_cpp.llama_log_set(log, ctypes.c_void_p(0))
    _llama_log = log


def ollama_blob(models_dir: Path, model: str) -> Path | None:
    """The GGUF blob Ollama's manifest names for `model`, or None when the folder does not have it
    (another machine's server, an unreadable folder, a model not pulled).

    Names follow Ollama's layout: `qwen2.5-coder:7b` is `manifests/registry.ollama.ai/library/
    qwen2.5-coder/7b`, `user/model` is under `registry.ollama.ai/user/`, `host/ns/model` under `host/ns/`.
    """
    manifest = models_dir / "manifests" / _manifest_path(model)
    try:
        layers = json.loads(manifest.read_text(encoding="utf-8"))["layers"]
        digest = next(layer["digest"] for layer in layers if layer.get("mediaType") == _OLLAMA_MODEL_LAYER)
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None
    blob = models_dir / "blobs" / str(digest).replace(":", "-")
    return blob if blob.is_file() else None


def _manifest_path(model: str) -> Path:
    head, _, last = model.rpartition("/")  # a tag follows the last `:` of the last part (a host may have a port)
    name, _, tag = last.partition(":")
    parts = [*head.split("/"), name] if head else [name]
    if len(parts) == 1:
        parts = [_OLLAMA_REGISTRY, "library", *parts]
    elif len(parts) == 2:
        parts = [_OLLAMA_REGISTRY, *parts]
    return Path(*parts, tag or "latest")


CUT_MARKER = "\n[... {count} characters cut to fit the supervisor's context ...]\n"
TEMPLATE_TOKENS = 64  # what a chat template adds around two messages (ChatML: 14), with room to spare
_ESTIMATE_MARGIN = 0.75  # code can take a token for every 3 characters where the estimate says 4
_SHRINK = 0.85  # each try keeps this much of the last: a few tries reach any budget


def prompt_budget(context: int, answer: int, system: str, counter: TokenCounter) -> int:
    """Tokens left for the user prompt: the context less the answer, the chat template and the system
    prompt; a quarter less when the counts are estimates."""
    room = context - answer - TEMPLATE_TOKENS - counter.count(system)
    return room if counter.exact else int(room * _ESTIMATE_MARGIN)


def fit_middle(text: str, budget: int, counter: TokenCounter) -> str:
    """`text` within `budget` tokens by `counter`, its middle cut: prompts put the task first and the
    instructions last, both worth keeping. Counts, never token ids, so any counter works (a server's too)."""
    total = counter.count(text)
    if total <= budget:
        return text
    keep = int(len(text) * budget / total)
    while keep > 0:
        head, tail = text[: keep - keep // 2], text[len(text) - keep // 2 :]
        cut = head + CUT_MARKER.format(count=len(text) - len(head) - len(tail)) + tail
        if counter.count(cut) <= budget:
            return cut
        keep = int(keep * _SHRINK)
    raise SupervisorError(
        "the system prompt leaves no room in the supervisor's context", budget=budget, hint="raise its context size"
    )
