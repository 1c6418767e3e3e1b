"""OllamaLLM through the real `ollama` client, against `ScriptedOllamaServer`.

The server is a fake because no Ollama server can run on the test machines (no GPU, no model
weights to pull) and tests must not reach any model service. Everything else is real: the official
client, its HTTP requests over a real socket, the plugin registry and the reviewer. What the fake
received is checked, so the request Ollama would get (model, messages, schema) is tested too.
"""

from __future__ import annotations

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
from overseer.llm.ollama import OllamaConfig, OllamaLLM
from overseer.plugins import LLMS, Registry
from overseer.supervise.review import REVIEW_SCHEMA, Reviewer
from overseer.testing import OllamaErrorReply, ScriptedOllamaServer

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["answer"],
    "additionalProperties": False,
}
MODEL = "qwen2.5-coder:7b"


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


def test_an_unreachable_server_fails_preflight_with_a_hint(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(ConfigError, match="not reachable") as caught:
        llm_at(url).preflight()
    assert caught.value.context["host"] == url
    assert "ollama serve" in caught.value.hint
    assert "supervisor.options.host" in caught.value.hint


def test_a_server_that_never_answers_fails_preflight_after_the_timeout(silent_url: str) -> None:
    with pytest.raises(ConfigError, match="not reachable"):
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
    assert body["stream"] is False
    assert body["options"] == {"temperature": 0.0}


def test_temperature_and_num_ctx_reach_the_server() -> None:
    with ScriptedOllamaServer(['{"answer": "no"}']) as server:
        llm_at(server.url, temperature=0.3, num_ctx=8192).complete_json("s", "u", SCHEMA)
    assert chats(server)[0]["options"] == {"temperature": 0.3, "num_ctx": 8192}


def test_a_server_error_is_a_supervisor_error_carrying_its_message() -> None:
    with ScriptedOllamaServer([OllamaErrorReply(500, "CUDA error: out of memory")]) as server:
        with pytest.raises(SupervisorError, match="CUDA error: out of memory"):
            llm_at(server.url).complete_json("s", "u", SCHEMA)
        assert server.remaining == 0


def test_a_model_removed_after_preflight_is_a_supervisor_error_naming_ollama_pull() -> None:
    with ScriptedOllamaServer(['{"answer": "yes"}'], models=["llama3.2:1b"]) as server:
        with pytest.raises(SupervisorError) as caught:
            llm_at(server.url, model=MODEL).complete_json("s", "u", SCHEMA)
        assert server.remaining == 1  # refused before any answer was used
    assert caught.value.hint == f"run `ollama pull {MODEL}`"


@pytest.mark.parametrize(
    ("content", "error"),
    [("Sure! Here is my answer: yes", "invalid JSON"), ('["yes"]', "not an object"), ("", "invalid JSON")],
    ids=["prose", "array", "empty"],
)
def test_an_answer_that_is_not_a_json_object_is_a_supervisor_error(content: str, error: str) -> None:
    with ScriptedOllamaServer([content]) as server, pytest.raises(SupervisorError, match=error) as caught:
        llm_at(server.url).complete_json("s", "u", SCHEMA)
    assert caught.value.context["answer"] == content


def test_an_unreachable_server_is_a_supervisor_error_when_asked(closed_port: int) -> None:
    with pytest.raises(SupervisorError, match="did not answer"):
        llm_at(f"http://127.0.0.1:{closed_port}").complete_json("s", "u", SCHEMA)


def test_a_request_that_times_out_is_a_supervisor_error(silent_url: str) -> None:
    with pytest.raises(SupervisorError, match="did not answer") as caught:
        llm_at(silent_url, timeout_s=0.2).complete_json("s", "u", SCHEMA)
    assert "timed out" in str(caught.value)


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
    [{"temperature": -0.1}, {"timeout_s": 0}, {"num_ctx": 0}, {"url": "http://x"}],
    ids=["negative-temperature", "zero-timeout", "zero-num-ctx", "unknown-key"],
)
def test_invalid_settings_are_rejected_at_load(settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        OllamaConfig.model_validate(settings)


def test_count_tokens_is_an_estimate_of_four_characters_a_token() -> None:
    llm = OllamaLLM()
    assert llm.count_tokens("") == 1
    assert llm.count_tokens("x" * 400) == 101


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
        "OllamaLLM().count_tokens('hello')\n"
        "print('ollama' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_trusted_review_survives_a_server_that_fails_once() -> None:
    """A server restarting under overseer (HTTP 503, then an answer): the review is asked again."""
    answer = {"approve": True, "score": 8, "reasons": ["adds add()"]}
    with ScriptedOllamaServer([OllamaErrorReply(503, "loading model"), answer]) as server:
        reviewer = Reviewer(llm_at(server.url), trust=0.7, retry_wait_s=0.01)
        review, findings = reviewer.review(review_evidence(), (GateResult("pytest", True, "1 passed"),))
        assert len(chats(server)) == 2
    assert review == Review(approve=True, score=0.8, reasons=("adds add()",), trust=0.7)
    assert findings == ()


def test_a_trusted_review_from_a_server_that_stays_down_goes_to_a_human_not_the_agent() -> None:
    errors = [OllamaErrorReply(500, "out of memory")] * 3
    with ScriptedOllamaServer(errors) as server:
        reviewer = Reviewer(llm_at(server.url), trust=0.7, retries=2, retry_wait_s=0.01)
        review, findings = reviewer.review(review_evidence(), (GateResult("pytest", True, "1 passed"),))
        assert len(chats(server)) == 3
    assert review is None
    [finding] = findings
    assert (finding.code, finding.severity, finding.route.value) == ("review_unavailable", Severity.BLOCKING, "overseer")
