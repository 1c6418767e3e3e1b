"""OllamaLLM through the real `ollama` client, against `ScriptedOllamaServer`.

The server is a fake because no Ollama server can run on the test machines (no GPU, no model
weights to pull) and tests must not reach any model service. Everything else is real: the official
client, its HTTP requests over a real socket, the plugin registry and the reviewer. What the fake
received is checked, so the request Ollama would get (model, messages, schema) is tested too.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ollama
import pytest
from pydantic import ValidationError

from overseer.config import PluginChoice
from overseer.domain import AgentResult, Evidence, FileChange, GateResult, Review, Severity
from overseer.errors import ConfigError, SupervisorError
from overseer.llm.base import InvalidAnswer, TransientError
from overseer.llm.ollama import OllamaConfig, OllamaLLM
from overseer.plugins import LLMS, Registry
from overseer.supervise.review import REVIEW_SCHEMA, Reviewer
from overseer.testing import OllamaErrorReply, ScriptedOllamaServer
from overseer.testing.ollama_server import Answer

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["answer"],
    "additionalProperties": False,
}
MODEL = "qwen2.5-coder:7b"
FAST = {"retry_wait_s": 0.01}  # backoff shortened: these tests are about what is retried, not how long


def llm_at(url: str, **options: Any) -> OllamaLLM:
    return OllamaLLM(OllamaConfig(host=url, **options))


def chats(server: ScriptedOllamaServer) -> list[dict[str, Any]]:
    """The bodies of the chat requests the server received."""
    return [body for body in server.requests if "messages" in body]


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A server that accepts connections (the kernel does) and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_preflight_asks_the_server_about_the_model() -> None:
    with ScriptedOllamaServer(models=[MODEL, "llama3.2:1b"]) as server:
        llm_at(server.url, model=MODEL).preflight()
    assert server.requests == [{"model": MODEL}]


def test_an_unreachable_server_fails_preflight_at_once_with_a_hint(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(ConfigError, match="did not answer") as caught:
        llm_at(url, retries=5, retry_wait_s=60).preflight()  # a retry would wait a minute: none is made
    assert caught.value.context["host"] == url
    assert "ollama serve" in caught.value.hint
    assert "supervisor.options.host" in caught.value.hint


def test_a_server_that_never_answers_fails_preflight_after_the_timeout(silent_url: str) -> None:
    with pytest.raises(ConfigError, match="did not answer"):
        llm_at(silent_url, timeout_s=0.2).preflight()


def test_a_model_not_pulled_fails_preflight_naming_ollama_pull() -> None:
    with ScriptedOllamaServer(models=["llama3.2:1b"]) as server, pytest.raises(ConfigError) as caught:
        llm_at(server.url, model=MODEL).preflight()
    assert caught.value.context["model"] == MODEL
    assert caught.value.hint == f"run `ollama pull {MODEL}`"


def test_complete_json_sends_the_schema_and_returns_the_answer() -> None:
    with ScriptedOllamaServer(['{"answer": "yes"}'], models=[MODEL]) as server:
        answer = llm_at(server.url, model=MODEL).complete_json("Answer in JSON.", "Is water wet?", SCHEMA)
    assert answer == {"answer": "yes"}
    [body] = server.requests
    assert body["model"] == MODEL
    assert body["format"] == SCHEMA
    assert body["messages"] == [
        {"role": "system", "content": "Answer in JSON."},
        {"role": "user", "content": "Is water wet?"},
    ]
    assert body["stream"] is True  # streamed: `on_text` sees the answer come, the deadline is overseer's
    assert body["options"] == {"temperature": 0.0, "num_predict": 512}


def test_the_answer_streams_to_on_text_as_it_comes() -> None:
    answer = {"approve": False, "score": 3, "reasons": ["add() subtracts", "no test covers it"]}
    pieces: list[str] = []
    with ScriptedOllamaServer([answer]) as server:
        llm = llm_at(server.url)
        llm.on_text = pieces.append
        assert llm.complete_json("s", "u", SCHEMA) == answer
    assert len(pieces) > 1 and json.loads("".join(pieces)) == answer


def test_an_answer_slower_than_timeout_s_is_cut_short() -> None:
    """Each piece comes well within the client's wait for the next one (0.2 s of 2 s); the whole
    answer (about 5 s) does not fit timeout_s, which overseer checks between pieces."""
    long_answer = {"answer": "yes", "padding": "x" * 200}
    server = ScriptedOllamaServer([long_answer], chunk_delay_s=0.2)
    with server, pytest.raises(TransientError, match="took longer than 2 s") as caught:
        llm_at(server.url, timeout_s=2, retries=0).complete_json("s", "u", SCHEMA)
    assert "timeout_s" in caught.value.hint


def test_temperature_num_ctx_and_keep_alive_reach_the_server() -> None:
    with ScriptedOllamaServer(['{"answer": "no"}']) as server:
        llm = llm_at(server.url, temperature=0.3, num_ctx=8192, keep_alive="10m")
        llm.complete_json("s", "u", SCHEMA)
    [chat] = chats(server)
    assert chat["options"] == {"temperature": 0.3, "num_predict": 512, "num_ctx": 8192}
    assert chat["keep_alive"] == "10m"


def test_a_server_error_is_asked_again_then_fails_carrying_its_message() -> None:
    errors = [OllamaErrorReply(500, "CUDA error: out of memory")] * 2
    with ScriptedOllamaServer([*errors, '{"answer": "yes"}']) as server:
        with pytest.raises(TransientError, match="CUDA error: out of memory") as caught:
            llm_at(server.url, retries=1, **FAST).complete_json("s", "u", SCHEMA)
        assert server.remaining == 1  # asked twice, no more
    assert caught.value.context["attempts"] == 2


def test_a_rate_limit_and_a_model_still_loading_are_ridden_out() -> None:
    script: list[Answer] = [
        OllamaErrorReply(429, "too many"),
        OllamaErrorReply(503, "loading model"),
        {"answer": "yes"},
    ]
    with ScriptedOllamaServer(script) as server:
        answer = llm_at(server.url, retries=2, **FAST).complete_json("s", "u", SCHEMA)
        assert len(chats(server)) == 3
    assert answer == {"answer": "yes"}


def test_a_bad_request_fails_at_once() -> None:
    with ScriptedOllamaServer([OllamaErrorReply(400, "invalid format: schema"), '{"answer": "yes"}']) as server:
        with pytest.raises(SupervisorError, match="refused the request") as caught:
            llm_at(server.url, retries=3, **FAST).complete_json("s", "u", SCHEMA)
        assert server.remaining == 1  # never asked again
    assert not isinstance(caught.value, TransientError)
    assert "invalid format: schema" in str(caught.value)


def test_a_model_removed_after_preflight_fails_at_once_naming_ollama_pull() -> None:
    with ScriptedOllamaServer(['{"answer": "yes"}'], models=["llama3.2:1b"]) as server:
        with pytest.raises(SupervisorError) as caught:
            llm_at(server.url, model=MODEL, retries=3, **FAST).complete_json("s", "u", SCHEMA)
        assert server.remaining == 1  # refused before any answer was used
    assert caught.value.hint == f"run `ollama pull {MODEL}`"


@pytest.mark.parametrize(
    ("content", "error"),
    [("Sure! Here is my answer: yes", "invalid JSON"), ('["yes"]', "not an object"), ("", "invalid JSON")],
    ids=["prose", "array", "empty"],
)
def test_an_answer_that_is_not_a_json_object_is_an_invalid_answer(content: str, error: str) -> None:
    with ScriptedOllamaServer([content]) as server, pytest.raises(InvalidAnswer, match=error) as caught:
        llm_at(server.url).complete_json("s", "u", SCHEMA)
    assert caught.value.context["answer"] == content


def test_an_unreachable_server_is_asked_again_then_fails_saying_how_often(closed_port: int) -> None:
    with pytest.raises(TransientError, match="did not answer") as caught:
        llm_at(f"http://127.0.0.1:{closed_port}", retries=2, **FAST).complete_json("s", "u", SCHEMA)
    assert caught.value.context["attempts"] == 3
    assert "ollama serve" in caught.value.hint


def test_a_request_that_times_out_is_asked_again(silent_url: str) -> None:
    with pytest.raises(TransientError, match="did not answer") as caught:
        llm_at(silent_url, timeout_s=0.2, retries=1, **FAST).complete_json("s", "u", SCHEMA)
    assert "timed out" in str(caught.value)
    assert caught.value.context["attempts"] == 2


def review_evidence() -> Evidence:
    return Evidence(
        task="Add a function add(a, b) to calc.py that returns the sum.",
        attempt=1,
        workspace=Path("/nonexistent/workspace"),
        result=AgentResult(session_id="session-1", is_error=False, text="Done! Added add()."),
        changes=(FileChange("calc.py", "modified", "a" * 40, "b" * 40),),
        diff="+def add(a, b):\n+    return a - b\n",
    )


def test_the_reviewer_works_end_to_end_over_ollama() -> None:
    evidence = review_evidence()
    gates = (GateResult("pytest", False, "1 failed", failed_count=1),)
    answer = {"approve": False, "score": 3, "reasons": ["add() subtracts"]}
    with ScriptedOllamaServer([answer]) as server:
        llm = llm_at(server.url)
        llm.preflight()
        review, findings = Reviewer(llm, trust=0.8).review(evidence, gates)
    assert review == Review(approve=False, score=0.3, reasons=("add() subtracts",), trust=0.8)
    assert [(f.code, f.severity) for f in findings] == [("review_rejected", Severity.BLOCKING)]
    [chat] = chats(server)
    assert chat["format"] == REVIEW_SCHEMA
    assert evidence.task in chat["messages"][1]["content"]


def test_the_plugin_resolves_through_entry_points_with_its_options() -> None:
    registry = Registry.from_entry_points()
    plugin: object = registry.load(LLMS, "ollama")
    assert plugin is OllamaLLM
    choice = PluginChoice(name="ollama", options={"host": "http://gpu-box:11434", "model": "qwen3:32b"})
    llm = registry.create(LLMS, choice, "supervisor")  # builds only: no request is made
    assert isinstance(llm, OllamaLLM)
    assert (llm.config.host, llm.config.model) == ("http://gpu-box:11434", "qwen3:32b")
    with pytest.raises(ConfigError, match=r"supervisor\.options\.port"):
        registry.create(LLMS, PluginChoice(name="ollama", options={"port": 11434}), "supervisor")


@pytest.mark.parametrize(
    "settings",
    [{"temperature": -0.1}, {"timeout_s": 0}, {"num_ctx": 0}, {"retries": 11}, {"url": "http://x"}],
    ids=["negative-temperature", "zero-timeout", "zero-num-ctx", "too-many-retries", "unknown-key"],
)
def test_invalid_settings_are_rejected_at_load(settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        OllamaConfig.model_validate(settings)


def test_without_the_models_folder_token_counts_are_an_estimate_labelled_as_one(tmp_path: Path) -> None:
    counter = llm_at("http://gpu-box:11434", models_dir=tmp_path).tokenizer()  # another machine's server
    assert not counter.exact and counter.label.startswith("estimate")
    assert counter.count("") == 1
    assert counter.count("x" * 400) == 101


def test_the_fake_answers_the_official_client_like_ollama() -> None:
    """What users of `ScriptedOllamaServer` rely on beyond chat: the heartbeat and the model list."""
    with ScriptedOllamaServer(models=["qwen2.5-coder", "llama3.2:1b"]) as server:
        with urllib.request.urlopen(server.url + "/") as response:
            heartbeat = response.read().decode()
        with ollama.Client(host=server.url) as client:
            names = [model.model for model in client.list().models]
            client.show("qwen2.5-coder:latest")  # an untagged name is ":latest", as in Ollama
    assert heartbeat == "Ollama is running"
    assert names == ["qwen2.5-coder:latest", "llama3.2:1b"]


def test_importing_and_building_the_provider_loads_no_client() -> None:
    # In a fresh interpreter: the `ollama` client is imported on first request, not before, so
    # `overseer --help` (which imports every built-in through the CLI) does not pay for it.
    script = (
        "import sys\n"
        "from overseer.llm.ollama import OllamaLLM\n"
        "OllamaLLM().tokenizer().count('hello')\n"
        "print('ollama' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_review_survives_a_server_that_fails_once() -> None:
    """A server restarting under overseer (HTTP 503, then an answer): the provider asks again."""
    answer = {"approve": True, "score": 8, "reasons": ["adds add()"]}
    with ScriptedOllamaServer([OllamaErrorReply(503, "loading model"), answer]) as server:
        reviewer = Reviewer(llm_at(server.url, **FAST), trust=0.7)
        review, findings = reviewer.review(review_evidence(), (GateResult("pytest", True, "1 passed"),))
        assert len(chats(server)) == 2
    assert review == Review(approve=True, score=0.8, reasons=("adds add()",), trust=0.7)
    assert findings == ()


def test_a_trusted_review_from_a_server_that_stays_down_goes_to_a_human_not_the_agent() -> None:
    errors = [OllamaErrorReply(500, "out of memory")] * 3
    with ScriptedOllamaServer(errors) as server:
        reviewer = Reviewer(llm_at(server.url, retries=2, **FAST), trust=0.7)
        review, findings = reviewer.review(review_evidence(), (GateResult("pytest", True, "1 passed"),))
        assert len(chats(server)) == 3
    assert review is None
    [finding] = findings
    assert (finding.code, finding.severity, finding.route.value) == (
        "review_unavailable",
        Severity.BLOCKING,
        "overseer",
    )
    assert "out of memory" in finding.message and "attempts=3" in finding.message
