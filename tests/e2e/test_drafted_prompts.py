"""Prompt drafting end to end: `overseer do` with the supervisor on a real llama.cpp server.

The supervisor is real: llama-cpp-python's OpenAI-compatible server serving the packaged model,
trusted here (`supervisor.trust: 0.7`) so that it drafts. The tiny model's brief is poor and it may
give none at all; what is tested is the road, not its wisdom: whoever wrote the prompt is
recorded, and what was recorded is what the agent got. The agent's model is the one fake: the real
`claude` CLI talks to the scripted Messages API server (the remote model must not be reached).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from overseer.testing import Say, ScriptedAnthropicServer, ScriptedOllamaServer, Turn, Use, turn
from overseer.testing.llama_server import LlamaCppServer
from tests.conftest import SERVED_MODEL, Ran

Overseer = Callable[..., Ran]
Scripted = Callable[[Sequence[Turn]], ScriptedAnthropicServer]

TASK = "Fix add(a, b) in calc.py: add(2, 3) must return 5."


FIXED = "def add(a, b):\n    return a + b\n"


@pytest.fixture
def calc(tmp_path: Path) -> Path:
    """calc.py with a wrong add() and the test that says so."""
    path = tmp_path / "calc"
    (path / "tests").mkdir(parents=True)
    (path / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (path / "tests" / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    )
    return path


def fix(calc: Path) -> list[Turn]:
    """The agent's turns: write the right add(), say so."""
    return [turn(Use("Write", {"file_path": str(calc / "calc.py"), "content": FIXED})), turn(Say("Fixed add."))]


def texts(body: dict[str, Any]) -> str:
    """Everything the agent's model was sent as user text, joined."""
    parts = []
    for message in body["messages"]:
        content = message["content"]
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        parts += [block.get("text", "") for block in blocks if block.get("type") == "text"]
    return "\n".join(parts)


def test_a_trusted_supervisor_drafts_the_prompt_and_the_agent_gets_what_was_recorded(
    calc: Path,
    scripted: Scripted,
    overseer: Overseer,
    llama_server: LlamaCppServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agent = scripted(fix(calc))
    settings = {
        "SUPERVISOR__NAME": "openai",
        "SUPERVISOR__TRUST": "0.7",
        "SUPERVISOR__OPTIONS__BASE_URL": llama_server.base_url,
        "SUPERVISOR__OPTIONS__MODEL": SERVED_MODEL,
        "SUPERVISOR__OPTIONS__RESPONSE_FORMAT": "json_object",
        "SUPERVISOR__OPTIONS__CONTEXT_SIZE": "2048",
        "SUPERVISOR__OPTIONS__MAX_TOKENS": "256",
        "SUPERVISOR__OPTIONS__TEMPERATURE": "0",
        "GATES__ACCEPTANCE": "false",  # the tiny model's checks would be noise; drafting is what is tested
        "LIMITS__MAX_ATTEMPTS": "1",
    }
    for name, value in settings.items():
        monkeypatch.setenv(f"OVERSEER_{name}", value)

    ran = overseer("do", "--json", "-w", str(calc), TASK)
    timeline = overseer("history", "1", "--json", "-w", str(calc)).json()["timeline"]

    assert ran.code in (0, 3), ran.err  # the trusted tiny model's review may stop it: not what is tested
    [attempt] = [entry for entry in timeline if entry["type"] == "attempt"]
    [author] = [entry for entry in timeline if entry["type"] == "prompt"]
    assert author["source"] in ("supervisor", "template")
    if author["source"] == "supervisor":
        assert author["template"] == "drafted.j2" and author["draft"]["criteria"]
        assert "overseer's supervisor read the task" in attempt["prompt"]
    else:  # the model's answer was unusable: the templates wrote it, and the record says why
        assert author["template"] == "task.j2" and "draft was unusable" in author["note"]
    assert TASK in attempt["prompt"]
    assert attempt["prompt"].strip() in texts(agent.agent_requests[0])  # what was recorded is what was sent
    assert (calc / "calc.py").read_text() == FIXED


def test_the_drafted_brief_reaches_the_agent_and_the_supervisors_answers_stream_to_the_console(
    calc: Path, scripted: Scripted, overseer: Overseer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A capable supervisor through Ollama: `ScriptedOllamaServer` plays it, since no Ollama server can
    run here and the tiny model cannot be made to brief well on demand."""
    agent = scripted(fix(calc))
    brief = {"criteria": ["add(2, 3) returns 5"], "read_first": ["calc.py", "nowhere.py"], "do_not_touch": ["tests/**"]}
    approve = {"approve": True, "score": 9, "reasons": ["adds correctly"]}
    with ScriptedOllamaServer([brief, approve], chunk_delay_s=0.01) as supervisor:
        monkeypatch.setenv("OVERSEER_SUPERVISOR__NAME", "ollama")
        monkeypatch.setenv("OVERSEER_SUPERVISOR__OPTIONS__HOST", supervisor.url)
        monkeypatch.setenv("OVERSEER_GATES__ACCEPTANCE", "false")
        ran = overseer("do", "-w", str(calc), TASK)

    assert ran.code == 0, ran.err
    sent = texts(agent.agent_requests[0])
    assert TASK in sent and "Acceptance criteria (your work is checked against them):\n- add(2, 3) returns 5" in sent
    assert "- calc.py\n" in sent and "nowhere.py" not in sent and "- tests/**" in sent
    assert 'supervisor: {"criteria": ["add(2, 3) returns 5"]' in ran.err  # the answers, shown as they came
    assert '"approve": true' in ran.err
