"""The agent's honest way out, end to end: the real `claude` CLI calls overseer's own tool
`mcp__overseer__report_conflict` (an in-process MCP server), and the real judge checks the report
with real pytest and doctest in scratch copies. The model is the scripted Messages API server.

A conflict that holds ends in `clarify` with both sides in the brief; a false one goes back to the
agent with what the check showed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from overseer.redact import Redactor
from overseer.state.store import Store, sqlite_url
from overseer.testing import Say, ScriptedAnthropicServer, Turn, Use, turn
from tests.conftest import Ran

Overseer = Callable[..., Ran]
Scripted = Callable[[Sequence[Turn]], ScriptedAnthropicServer]

STUB = '''def mul(a, b):
    """Multiply two numbers.

    >>> mul(7, 0)
    0
    """
    raise NotImplementedError
'''
RIGHT = STUB.replace("    raise NotImplementedError\n", "    return a * b\n")
WRONG = STUB.replace("    raise NotImplementedError\n", "    return a + b\n")
TESTS = """from calc import mul


def test_mul():
    assert mul(4, 5) == 20


def test_mul_by_zero():
    assert mul(7, 0) == 0
"""
CONTRADICTING = TESTS.replace("assert mul(7, 0) == 0", "assert mul(7, 0) is None")
TASK = "Implement mul in calc.py."
REPORT = "mcp__overseer__report_conflict"
EVIDENCE = "tests/test_calc.py::test_mul_by_zero\n>>> mul(7, 0)\n0"


def project(root: Path, tests: str) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(STUB)
    (root / "tests" / "test_calc.py").write_text(tests)
    return root


def write(path: Path, content: str) -> Turn:
    return turn(Use("Write", {"file_path": str(path), "content": content}))


def report_conflict(what: str) -> Turn:
    return turn(Use(REPORT, {"what": what, "evidence": EVIDENCE}))


def stored_events(workspace: Path, task_id: int, kind: str) -> list[dict[str, Any]]:
    store = Store.open(sqlite_url(workspace / ".overseer" / "state.db"), redactor=Redactor([]))
    try:
        return [e.data for a in store.attempts(task_id) for e in store.events(a.id) if e.kind == kind]
    finally:
        store.close()


def test_a_conflict_that_holds_ends_in_clarify_with_both_sides_in_the_brief(
    tmp_path: Path, scripted: Scripted, overseer: Overseer
) -> None:
    calc = project(tmp_path / "calc", CONTRADICTING)
    server = scripted(
        [
            write(calc / "calc.py", RIGHT),
            report_conflict("test_mul_by_zero expects None, but the docstring says mul(7, 0) is 0"),
            turn(Say("I implemented mul as its docstring says; test_mul_by_zero contradicts it, so I reported it.")),
        ]
    )

    ran = overseer("do", "--json", "-w", str(calc), TASK)

    assert ran.code == 3, ran.err
    result = ran.json()
    assert (result["status"], result["decision"], result["attempts"]) == ("needs_human", "clarify", 1)
    assert "conflict_confirmed" in {f["code"] for f in result["findings"]}
    brief = result["error"]
    assert "assert 0 is None" in brief and "assert mul(7, 0) is None" in brief  # the test's side
    assert ">>> mul(7, 0)  ->  0 holds on the agent's code" in brief  # the spec's side
    status = overseer("status", "--json", "-w", str(calc)).json()["tasks"][0]
    assert (status["status"], status["decision"], status["error"]) == ("needs_human", "clarify", brief)
    [report] = stored_events(calc, result["task_id"], "report")
    assert (report["kind"], report["evidence"]) == ("report_conflict", EVIDENCE)
    calls = stored_events(calc, result["task_id"], "tool_call")
    assert [c["allowed"] for c in calls if c["tool"] == REPORT] == [True]
    offered = {tool["name"] for tool in server.agent_requests[0]["tools"]}
    assert {REPORT, "mcp__overseer__ask_human", "mcp__overseer__cannot_finish"} <= offered
    assert "report_conflict(what, evidence)" in json.dumps(server.agent_requests[0]["messages"])  # the prompt


def test_a_false_conflict_report_goes_back_to_the_agent_with_what_the_check_showed(
    tmp_path: Path, scripted: Scripted, overseer: Overseer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OVERSEER_LIMITS__MAX_ATTEMPTS", "2")
    calc = project(tmp_path / "calc", TESTS)  # the tests agree with the docstring
    server = scripted(
        [
            write(calc / "calc.py", WRONG),
            report_conflict("test_mul_by_zero cannot pass with the docstring as written"),
            turn(Say("test_mul_by_zero contradicts the spec; I reported it.")),
            write(calc / "calc.py", RIGHT),
            turn(Say("Fixed mul in calc.py; it multiplies now. 2 passed.")),
        ]
    )

    ran = overseer("do", "--json", "-w", str(calc), TASK)

    assert ran.code == 0, ran.err
    result = ran.json()
    assert (result["status"], result["attempts"]) == ("completed", 2)
    first = result["history"][0]
    assert first["decision"] == "retry"
    assert "conflict_refuted" in {f["code"] for f in first["findings"]}
    assert "the spec's own example fails on your code" in first["feedback"] and "gave 7" in first["feedback"]
    said = [json.dumps(body["messages"]) for body in server.agent_requests]
    shown = [i for i, messages in enumerate(said) if "the spec's own example fails on your code" in messages]
    assert shown[:1] == [3]  # the retry's first request carries what the check showed
    assert server.remaining == 0
