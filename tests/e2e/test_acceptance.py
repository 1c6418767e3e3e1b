"""Acceptance checks end to end: `overseer do` with a trusted supervisor served by Ollama.

Two fakes, for the two models that cannot run here: the real `claude` CLI talks to the scripted
Messages API server (the remote model must not be reached from tests), and the supervisor is the
real `ollama` plugin talking to `ScriptedOllamaServer` (no capable model can run on the test
machines), scripted to write the checks and the review. Everything else is real: the CLI, the
workspace's git, the judge's scratch copies, pytest and the checks in subprocesses, the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from overseer.testing import Say, ScriptedAnthropicServer, ScriptedOllamaServer, Turn, Use, turn
from tests.conftest import Ran

Overseer = Callable[..., Ran]
Scripted = Callable[[Sequence[Turn]], ScriptedAnthropicServer]

STUB = 'def mul(a, b):\n    """Return the product of a and b."""\n    raise NotImplementedError\n'
WEAK_TESTS = "from calc import mul\n\n\ndef test_mul():\n    assert mul(2, 2) == 4\n"  # 2 + 2 == 2 * 2 too
TASK = "Implement mul(a, b) in calc.py: it returns the product of a and b."
PRODUCTS = {"name": "products", "source": "from calc import mul\n\nassert mul(3, 4) == 12, mul(3, 4)\n"}
APPROVE = {"approve": True, "score": 9, "reasons": ["does the task"]}
BRIEF = {"criteria": ["mul(3, 4) returns 12"], "read_first": ["calc.py"], "do_not_touch": ["tests/test_calc.py"]}
RETRY_BRIEF = {"what_was_wrong": ["mul adds"], "next_steps": ["multiply a by b"]}


def implement(calc: Path, body: str, say: str) -> list[Turn]:
    code = STUB.replace("raise NotImplementedError", body)
    return [turn(Use("Write", {"file_path": str(calc / "calc.py"), "content": code})), turn(Say(say))]


@pytest.fixture
def calc(tmp_path: Path) -> Path:
    """calc.py with a `mul` stub (no docstring example) and one test that `a + b` passes as well."""
    path = tmp_path / "calc-project"
    (path / "tests").mkdir(parents=True)
    (path / "calc.py").write_text(STUB)
    (path / "tests" / "test_calc.py").write_text(WEAK_TESTS)
    return path


def test_a_check_from_the_task_sends_a_wrong_mul_back_and_confirms_the_fix(
    calc: Path, scripted: Scripted, overseer: Overseer, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted([*implement(calc, "return a + b", "Implemented mul."), *implement(calc, "return a * b", "Fixed mul.")])
    answers: list[dict[str, Any]] = [BRIEF, {"checks": [PRODUCTS]}, RETRY_BRIEF, {"checks": [PRODUCTS]}, APPROVE]
    with ScriptedOllamaServer(answers) as supervisor:
        monkeypatch.setenv("OVERSEER_SUPERVISOR__NAME", "ollama")
        monkeypatch.setenv("OVERSEER_SUPERVISOR__OPTIONS__HOST", supervisor.url)
        ran = overseer("do", "--json", "-w", str(calc), TASK)
    stored = overseer("status", "--json", "-w", str(calc)).json()["tasks"][0]  # read back from the store

    assert ran.code == 0, ran.err
    result: dict[str, Any] = ran.json()
    assert (result["status"], result["attempts"], result["verified"]) == ("completed", 2, True)
    first = result["history"][0]
    assert "acceptance_failed" in {f["code"] for f in first["findings"]}
    assert "assert mul(3, 4) == 12" in first["feedback"] and "AssertionError: 7" in first["feedback"]
    (checked,) = (g for g in stored["history"][1]["gates"] if g["name"] == "acceptance")
    assert (checked["passed"], checked["verifies"], checked["summary"]) == (True, True, "1 check(s): 1 confirmed")
    record = checked["details"]["checks"][0]  # "before" the second attempt is the first one's `a + b`
    assert (record["status"], record["source"], record["before"]["error"]) == (
        "confirmed",
        PRODUCTS["source"],
        "AssertionError: 7",
    )
    chats = [body["format"]["required"] for body in supervisor.requests if "messages" in body]
    asked = [body["messages"][-1]["content"] for body in supervisor.requests if "messages" in body]
    assert "told it would be checked on:\n- mul(3, 4) returns 12" in asked[1]  # the brief's criteria, checked
    assert "told it would be checked on" in asked[3]  # on the retry too: the first brief's
    # the first brief, the checks, the retry's brief, the checks again, one review (none of the blocked attempt)
    assert chats == [
        ["criteria", "read_first", "do_not_touch"],
        ["checks"],
        ["what_was_wrong", "next_steps"],
        ["checks"],
        ["approve", "score", "reasons"],
    ]
    assert "return a * b" in (calc / "calc.py").read_text()
