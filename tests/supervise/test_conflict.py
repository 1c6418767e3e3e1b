"""The judge's check of a reported conflict, on real attempts: real git snapshots, real pytest, real
doctest. A conflict that holds goes to a person with both sides; one that does not goes back to the
agent with what the check showed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from overseer.config import GatesConfig
from overseer.domain import AgentReport, Decision, Finding, Route, Verdict
from overseer.supervise.claims import read_claims
from overseer.supervise.conflict import check_conflict
from overseer.supervise.decide import DecisionEngine
from overseer.supervise.gates import GateContext
from overseer.supervise.validate import validate
from overseer.workspace.checkpoints import Checkpoints
from overseer.workspace.scratch import Scratch
from tests.supervise.attempts import Files, attempt

STUB = '''def mul(a, b):
    """Multiply two numbers.

    >>> mul(7, 0)
    0
    """
    raise NotImplementedError
'''
RIGHT = STUB.replace("raise NotImplementedError", "return a * b")
WRONG = STUB.replace("raise NotImplementedError", "return a + b")
TESTS = """from calc import mul


def test_mul():
    assert mul(4, 5) == 20


def test_mul_by_zero():
    assert mul(7, 0) is None
"""
BEFORE: Files = {"calc.py": STUB, "tests/test_calc.py": TESTS}
SPEC = ">>> mul(7, 0)\n0"
CLASH = "test_mul_by_zero expects None, the docstring says mul(7, 0) is 0"


def check(tmp_path: Path, after: Files, evidence: str, what: str = CLASH) -> Finding:
    attempted = attempt(tmp_path / "project", BEFORE, after, "Implement mul in calc.py.")
    with Scratch(Checkpoints(attempted.workspace)) as scratch:
        context = GateContext(attempted, GatesConfig(), scratch)
        return check_conflict(context, AgentReport("report_conflict", what, evidence), timeout_s=30)


def decided(found: Finding) -> tuple[Decision, str, str]:
    outcome = DecisionEngine(proceed_threshold=0.7, max_attempts=3).decide(Verdict((found,)), attempts_used=1)
    return outcome.decision, outcome.brief, outcome.feedback


def test_a_conflict_that_holds_goes_to_a_person_with_both_sides(tmp_path: Path) -> None:
    found = check(tmp_path, {"calc.py": RIGHT}, f"tests/test_calc.py::test_mul_by_zero\n{SPEC}")

    assert (found.code, found.route) == ("conflict_confirmed", Route.HUMAN)
    decision, brief, _ = decided(found)
    assert decision is Decision.CLARIFY
    assert "assert 0 is None" in brief  # the test's failing assertion, as pytest put it
    assert "assert mul(7, 0) is None" in brief  # the test's own code
    assert ">>> mul(7, 0)  ->  0 holds" in brief  # the spec line, checked on the code


def test_the_test_is_checked_in_its_original_form_when_the_agent_also_rewrote_it(tmp_path: Path) -> None:
    rewritten = TESTS.replace("is None", "== 0")
    found = check(tmp_path, {"calc.py": RIGHT, "tests/test_calc.py": rewritten}, f"test_mul_by_zero\n{SPEC}")

    assert found.code == "conflict_confirmed"
    assert "assert mul(7, 0) is None" in found.message


def test_a_named_test_that_passes_goes_back_to_the_agent(tmp_path: Path) -> None:
    found = check(tmp_path, {"calc.py": RIGHT}, "tests/test_calc.py::test_mul\n>>> mul(4, 5)\n20")

    assert (found.code, found.route) == ("conflict_refuted", Route.AGENT)
    decision, _, feedback = decided(found)
    assert decision is Decision.RETRY
    assert "tests/test_calc.py::test_mul passed on your code" in feedback


def test_a_spec_example_that_fails_on_the_code_goes_back_to_the_agent(tmp_path: Path) -> None:
    found = check(tmp_path, {"calc.py": WRONG}, "tests/test_calc.py::test_mul_by_zero\n>>> mul(4, 5)\n20")

    assert found.code == "conflict_refuted"
    assert "the spec's own example fails on your code" in found.message
    assert "gave 9" in found.message


def test_a_missing_test_goes_back_to_the_agent(tmp_path: Path) -> None:
    found = check(tmp_path, {"calc.py": RIGHT}, f"tests/test_calc.py::test_mul_by_seven\n{SPEC}")

    assert found.code == "conflict_refuted"
    assert "names tests/test_calc.py::test_mul_by_seven, which is not among the tests" in found.message


def test_a_report_naming_no_test_goes_back_to_the_agent(tmp_path: Path) -> None:
    found = check(tmp_path, {"calc.py": RIGHT}, SPEC, what="mul cannot be both")

    assert found.code == "conflict_refuted"
    assert "names no test" in found.message


def test_an_example_that_cannot_run_leaves_the_spec_side_to_a_person(tmp_path: Path) -> None:
    found = check(tmp_path, {"calc.py": RIGHT}, "tests/test_calc.py::test_mul_by_zero\n>>> multiply(7, 0)\n0")

    assert (found.code, found.route) == ("conflict_unchecked", Route.HUMAN)
    assert "NameError" in found.message and "assert 0 is None" in found.message
    assert decided(found)[0] is Decision.CLARIFY


def test_a_report_quoting_no_example_leaves_the_spec_side_to_a_person(tmp_path: Path) -> None:
    found = check(tmp_path, {"calc.py": RIGHT}, "tests/test_calc.py::test_mul_by_zero; the docstring says 0")

    assert found.code == "conflict_unchecked"
    assert "quotes no `>>>` example" in found.message


def test_without_snapshots_nothing_is_run_and_a_person_decides(tmp_path: Path) -> None:
    attempted = attempt(tmp_path / "project", BEFORE, {"calc.py": RIGHT}, "Implement mul in calc.py.")
    report = AgentReport("report_conflict", CLASH, f"tests/test_calc.py::test_mul_by_zero\n{SPEC}")

    found = check_conflict(GateContext(attempted, GatesConfig(), None), report, timeout_s=30)

    assert found.code == "conflict_unchecked" and "could not run the test" in found.message


# --- the other two ways out, taken at the agent's word ------------------------------------------------


def way_out(tmp_path: Path, report: AgentReport) -> tuple[Decision, str]:
    attempted = attempt(tmp_path / "project", BEFORE, {}, "Implement mul in calc.py.")  # nothing changed
    result = replace(attempted.result, text="I stopped.", reports=(report,))
    findings = validate(replace(attempted, result=result), read_claims(result.text))
    assert "no_change" not in {f.code for f in findings}  # the agent said why: that is not silence
    outcome = DecisionEngine(proceed_threshold=0.7, max_attempts=3).decide(Verdict(findings), attempts_used=1)
    return outcome.decision, outcome.brief


def test_ask_human_is_a_question_for_the_user(tmp_path: Path) -> None:
    decision, brief = way_out(tmp_path, AgentReport("ask_human", "Should mul accept strings?"))
    assert (decision, brief) == (Decision.CLARIFY, "the agent asks: Should mul accept strings?")


def test_cannot_finish_stops_for_a_person_with_the_reason(tmp_path: Path) -> None:
    decision, brief = way_out(tmp_path, AgentReport("cannot_finish", "calc.py is generated; the generator is gone"))
    assert decision is Decision.ESCALATE
    assert "the agent says it cannot finish: calc.py is generated; the generator is gone" in brief
