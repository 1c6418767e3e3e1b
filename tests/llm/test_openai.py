"""OpenAILLM through the official `openai` client against a REAL OpenAI-compatible server:
llama-cpp-python's `llama_cpp.server` serving the packaged SmolLM2 model on loopback (conftest.py).

A few failures no real server produces on demand (a rate limit, a server busy loading and then an
answer, a refused key, a bad request) are played by `ScriptedOpenAIServer`; those tests say so.
Refused connections and timeouts are real sockets.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from overseer.config import PluginChoice
from overseer.domain import AgentResult, Evidence, FileChange, GateResult, Review
from overseer.errors import ConfigError, SupervisorError
from overseer.llm.base import InvalidAnswer, TransientError
from overseer.llm.openai import OpenAIConfig, OpenAILLM
from overseer.plugins import LLMS, Registry
from overseer.supervise.review import Reviewer
from overseer.testing import OpenAIErrorReply, ScriptedOpenAIServer
from overseer.testing.llama_server import LlamaCppServer
from overseer.testing.openai_server import OpenAIAnswer
from tests.conftest import SERVED_MODEL

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "enum": ["yes", "no"]},
        "words": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 2},
    },
    "required": ["answer", "words"],
    "additionalProperties": False,
}
FAST = {"retry_wait_s": 0.01}  # backoff shortened: these tests are about what is retried, not how long


def on(server: LlamaCppServer, **options: Any) -> OpenAILLM:
    """The provider as a user of llama-cpp-python's server configures it."""
    return OpenAILLM(
        OpenAIConfig(base_url=server.base_url, model=SERVED_MODEL, response_format="json_object", **options)
    )


def at(url: str, **options: Any) -> OpenAILLM:
    return OpenAILLM(OpenAIConfig(base_url=url, model="scripted", **options))


@pytest.fixture
def closed_url() -> str:
    """A loopback port nothing listens on: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A server that accepts connections (the kernel does) and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"


def test_preflight_finds_the_served_model(llama_server: LlamaCppServer) -> None:
    on(llama_server).preflight()


def test_preflight_names_what_the_server_serves_when_the_model_is_not_there(llama_server: LlamaCppServer) -> None:
    llm = OpenAILLM(OpenAIConfig(base_url=llama_server.base_url, model="qwen2.5-coder-7b"))
    with pytest.raises(ConfigError, match="does not serve the model") as caught:
        llm.preflight()
    assert caught.value.context["served"] == SERVED_MODEL
    assert "supervisor.options.model" in caught.value.hint


def test_preflight_of_a_server_that_is_down_fails_at_once_with_a_hint(closed_url: str) -> None:
    with pytest.raises(ConfigError, match="did not answer") as caught:
        at(closed_url, retries=5, retry_wait_s=60).preflight()  # a retry would wait a minute: none is made
    assert caught.value.context["base_url"] == closed_url
    assert "supervisor.options.base_url" in caught.value.hint


def test_complete_json_answers_an_object_that_fits_the_schema(llama_server: LlamaCppServer) -> None:
    answer = on(llama_server).complete_json(
        "You answer questions in JSON.", "Is Python a programming language? Answer yes or no.", SCHEMA
    )
    assert set(answer) == {"answer", "words"}
    assert answer["answer"] in ("yes", "no")
    assert isinstance(answer["words"], list) and len(answer["words"]) <= 2


def test_the_answer_streams_to_on_text_as_it_comes(llama_server: LlamaCppServer) -> None:
    pieces: list[str] = []
    llm = on(llama_server)
    llm.on_text = pieces.append
    answer = llm.complete_json("You answer questions in JSON.", "Is the sky blue? Answer yes or no.", SCHEMA)
    assert len(pieces) > 1 and json.loads("".join(pieces)) == answer


def test_the_reviewer_works_end_to_end_over_the_server(llama_server: LlamaCppServer) -> None:
    evidence = Evidence(
        task="Add a function add(a, b) to calc.py that returns the sum.",
        attempt=1,
        workspace=Path("/nonexistent/workspace"),
        result=AgentResult(session_id="session-1", is_error=False, text="Done! Added add()."),
        changes=(FileChange("calc.py", "modified", "a" * 40, "b" * 40),),
        diff="+def add(a, b):\n+    return a + b\n",
    )
    llm = on(llama_server, max_tokens=192)
    llm.preflight()
    review, findings = Reviewer(llm, trust=0.7).review(evidence, (GateResult("pytest", True, "1 passed"),))
    assert isinstance(review, Review), findings
    assert 0.0 <= review.score <= 1.0 and review.trust == 0.7


def test_an_answer_cut_off_at_max_tokens_is_an_invalid_answer(llama_server: LlamaCppServer) -> None:
    with pytest.raises(InvalidAnswer, match="cut off") as caught:
        on(llama_server, max_tokens=3).complete_json("You answer in JSON.", "Is water wet?", SCHEMA)
    assert caught.value.context["max_tokens"] == 3


def test_a_prompt_longer_than_the_servers_context_is_cut_to_fit_context_size(llama_server: LlamaCppServer) -> None:
    """The server (n_ctx 2048) cannot hold the prompt: it ends the stream at once, without a word (its
    own way of failing); with `context_size` set, overseer cuts the prompt to fit."""
    user = "Summarise this build log.\n" + "collected 3 items; test_add PASSED\n" * 600 + "Answer yes or no."
    with pytest.raises(SupervisorError, match="ended its answer unfinished") as caught:
        on(llama_server).complete_json("You answer in JSON.", user, SCHEMA)
    assert not isinstance(caught.value, TransientError | InvalidAnswer)  # the same prompt would fail the same way
    assert "supervisor.options.context_size" in caught.value.hint
    # 768 of the server's 2048: cut further than needed, to keep the test quick (prompt time grows with length)
    answer = on(llama_server, context_size=768, max_tokens=64).complete_json("You answer in JSON.", user, SCHEMA)
    assert answer["answer"] in ("yes", "no")


def test_a_json_schema_this_server_does_not_take_says_what_to_set(llama_server: LlamaCppServer) -> None:
    """llama-cpp-python's server answers the OpenAI form of response_format with HTTP 500 (a bug of its
    own: a validation error it reports as a server error), so it is retried, then explained."""
    llm = OpenAILLM(OpenAIConfig(base_url=llama_server.base_url, model=SERVED_MODEL, retries=1, retry_wait_s=0.01))
    with pytest.raises(TransientError, match="HTTP 500") as caught:
        llm.complete_json("s", "Is water wet?", SCHEMA)
    assert caught.value.context["attempts"] == 2
    assert "response_format: json_object" in caught.value.hint


def test_a_refused_connection_is_asked_again_then_fails_saying_how_often(closed_url: str) -> None:
    with pytest.raises(TransientError, match="did not answer") as caught:
        at(closed_url, retries=2, **FAST).complete_json("s", "u", SCHEMA)
    assert caught.value.context["attempts"] == 3
    assert "supervisor.options.base_url" in caught.value.hint


def test_a_request_that_times_out_is_asked_again(silent_url: str) -> None:
    with pytest.raises(TransientError, match="did not answer") as caught:
        at(silent_url, retries=1, timeout_s=0.3, **FAST).complete_json("s", "u", SCHEMA)
    assert caught.value.context["attempts"] == 2
    assert "timed out" in str(caught.value).lower()


def test_a_rate_limit_and_a_busy_server_are_ridden_out() -> None:
    """Scripted: no real server can be made to answer 429, then 503, then an answer."""
    script: list[OpenAIAnswer] = [
        OpenAIErrorReply(429, "slow down"),
        OpenAIErrorReply(503, "loading"),
        {"answer": "yes"},
    ]
    with ScriptedOpenAIServer(script) as server:
        answer = at(server.base_url, retries=2, **FAST).complete_json("s", "u", SCHEMA)
        assert len(server.requests) == 3
    assert answer == {"answer": "yes"}


@pytest.mark.parametrize(
    ("status", "said", "error"),
    [
        (400, "messages: field required", "refused the request (HTTP 400)"),
        (404, "The model `scripted` does not exist.", "does not serve the model"),
        (401, "invalid api key", "refused the API key (HTTP 401)"),
    ],
    ids=["bad-request", "model-not-found", "key-refused"],
)
def test_a_permanent_failure_fails_at_once_with_a_clear_line(status: int, said: str, error: str) -> None:
    """Scripted: the real server accepts any model name, any key and most malformed requests."""
    with ScriptedOpenAIServer([OpenAIErrorReply(status, said), {"answer": "yes"}]) as server:
        with pytest.raises(SupervisorError, match=re.escape(error)) as caught:
            at(server.base_url, retries=3, **FAST).complete_json("s", "u", SCHEMA)
        assert server.remaining == 1  # asked once, never again
    assert not isinstance(caught.value, TransientError)
    if status != 401:
        assert caught.value.context["error"] == said


def test_the_key_comes_from_the_named_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scripted: the real server started without --api_key ignores the header."""
    monkeypatch.setenv("MY_LLM_KEY", "sk-local-123")
    with ScriptedOpenAIServer([{"answer": "no"}]) as server:
        at(server.base_url, api_key_env="MY_LLM_KEY").complete_json("s", "u", SCHEMA)
        [headers] = server.headers
    assert headers["authorization"] == "Bearer sk-local-123"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("json_schema", {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}}),
        ("json_object", {"type": "json_object", "schema": SCHEMA}),
    ],
)
def test_the_request_carries_the_schema_and_settings(mode: str, expected: dict[str, Any]) -> None:
    """Scripted, to read the request as sent (the real server answers both forms differently, tested above)."""
    with ScriptedOpenAIServer([{"answer": "no"}]) as server:
        llm = at(server.base_url, response_format=mode, temperature=0.2, max_tokens=64)
        llm.complete_json("Answer in JSON.", "Is water wet?", SCHEMA)
        [body] = server.requests
    assert body["response_format"] == expected
    assert (body["model"], body["temperature"], body["max_tokens"], body["stream"]) == ("scripted", 0.2, 64, True)
    assert body["messages"] == [
        {"role": "system", "content": "Answer in JSON."},
        {"role": "user", "content": "Is water wet?"},
    ]


def test_the_plugin_resolves_through_entry_points_with_its_options() -> None:
    registry = Registry.from_entry_points()
    plugin: object = registry.load(LLMS, "openai")
    assert plugin is OpenAILLM
    choice = PluginChoice(name="openai", options={"base_url": "http://gpu-box:8000/v1", "model": "qwen"})
    llm = registry.create(LLMS, choice, "supervisor")  # builds only: no request is made
    assert isinstance(llm, OpenAILLM)
    assert (llm.config.base_url, llm.config.model) == ("http://gpu-box:8000/v1", "qwen")
    with pytest.raises(ConfigError, match=r"supervisor\.options\.model"):
        registry.create(LLMS, PluginChoice(name="openai", options={}), "supervisor")


@pytest.mark.parametrize(
    "settings",
    [{"temperature": -0.1}, {"timeout_s": 0}, {"retries": -1}, {"response_format": "xml"}, {"url": "http://x"}],
    ids=["negative-temperature", "zero-timeout", "negative-retries", "unknown-format", "unknown-key"],
)
def test_invalid_settings_are_rejected_at_load(settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        OpenAIConfig.model_validate({"model": "m", **settings})


def test_importing_and_building_the_provider_loads_no_client() -> None:
    # In a fresh interpreter: the `openai` client takes seconds to import; `overseer --help` must not pay it.
    script = (
        "import sys\n"
        "from overseer.llm.openai import OpenAIConfig, OpenAILLM\n"
        "OpenAILLM(OpenAIConfig(model='m'))\n"
        "print('openai' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
