"""Tests the agent wrote must be able to fail, end to end: the real `claude` CLI, scripted.

The CLI talks to the scripted Messages API server (the remote model cannot be reached from tests,
and must not be); everything else is real: the workspace's git, the judge's scratch copies, pytest
on the code before and after the attempt, the store, and `overseer status` reading it back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from overseer.testing import Say, ScriptedAnthropicServer, Turn, Use, turn
from tests.conftest import Ran

Overseer = Callable[..., Ran]
Scripted = Callable[[Sequence[Turn]], ScriptedAnthropicServer]

CALC = "def add(a, b):\n    return a + b\n"
NONE_IS_ZERO = "def add(a, b):\n    return (a or 0) + (b or 0)\n"
TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n"
VACUOUS = TESTS + "\n\ndef test_add_zero():\n    assert add(0, 0) == 0\n"  # passes on the old add too
REAL = TESTS + "\n\ndef test_add_none():\n    assert add(None, 1) == 1\n"  # TypeError on the old add
# The retry makes the vacuous test test the change (deleting it would be weakening the tests).
FIXED = VACUOUS.replace("assert add(0, 0) == 0", "assert add(None, None) == 0")
TASK = "Make add in calc.py treat None as 0, and add a test for it to tests/test_calc.py."
FEEDBACK = "test_add_zero passes without your change; make it test what you changed"


@pytest.fixture
def calc(tmp_path: Path) -> Path:
    path = tmp_path / "calc-project"
    (path / "tests").mkdir(parents=True)
    (path / "calc.py").write_text(CALC)
    (path / "tests" / "test_calc.py").write_text(TESTS)
    return path


def attempt(calc: Path, tests: str, say: str) -> list[Turn]:
    return [
        turn(Use("Write", {"file_path": str(calc / "calc.py"), "content": NONE_IS_ZERO})),
        turn(Use("Write", {"file_path": str(calc / "tests" / "test_calc.py"), "content": tests})),
        turn(Say(say)),
    ]


def fail_first(attempt: dict[str, Any]) -> dict[str, Any]:
    gates: list[dict[str, Any]] = attempt["gates"]
    (gate,) = (g for g in gates if g["name"] == "fail_first")
    return gate


def test_a_vacuous_test_sends_the_attempt_back_naming_the_test(
    calc: Path, scripted: Scripted, overseer: Overseer
) -> None:
    server = scripted(
        [
            *attempt(calc, VACUOUS, "add now treats None as 0; I added test_add_zero."),
            *attempt(calc, FIXED, "test_add_zero now checks add(None, None), which fails on the old add."),
        ]
    )

    ran = overseer("do", "--json", "-w", str(calc), TASK)

    assert ran.code == 0, ran.err
    result: dict[str, Any] = ran.json()
    assert (result["status"], result["attempts"]) == ("completed", 2)
    first, second = result["history"]
    assert "vacuous_test" in {f["code"] for f in first["findings"]}
    assert FEEDBACK in first["feedback"]
    assert any(FEEDBACK in json.dumps(body["messages"]) for body in server.agent_requests[3:])  # the retry heard it
    assert fail_first(first)["details"]["pass_before"] == ["tests/test_calc.py::test_add_zero"]
    assert fail_first(second)["passed"] is True
    # "without the change" is the code before the task, not the first attempt's: there it fails
    assert fail_first(second)["details"]["tests"]["tests/test_calc.py::test_add_zero"]["before"] == "failed"
    assert "add(None, None)" in (calc / "tests" / "test_calc.py").read_text()


def test_a_real_test_passes_the_check_and_status_shows_it(calc: Path, scripted: Scripted, overseer: Overseer) -> None:
    scripted(attempt(calc, REAL, "add now treats None as 0; test_add_none covers it."))

    ran = overseer("do", "--json", "-w", str(calc), TASK)
    shown = overseer("status", "-w", str(calc)).out  # read back from the store, as a person sees it

    assert ran.code == 0, ran.err
    result: dict[str, Any] = ran.json()
    assert (result["status"], result["attempts"]) == ("completed", 1)
    codes = {f["code"] for f in result["findings"]}
    assert not codes & {"vacuous_test", "tests_pass_before"}, codes
    check = fail_first(result["history"][0])["details"]["tests"]["tests/test_calc.py::test_add_none"]
    assert check["before"] == "failed" and "TypeError" in check["reason"]
    assert "tests/test_calc.py::test_add_none fails without the change (failed: TypeError" in shown
