"""Validation, confidence and the decision: every branch reached by an input that leads there."""

from __future__ import annotations

from pathlib import Path

import pytest

from overseer.domain import (
    AgentResult,
    Decision,
    Evidence,
    FileChange,
    Finding,
    GateResult,
    Review,
    Severity,
    ToolCall,
    Verdict,
)
from overseer.supervise.claims import read_claims
from overseer.supervise.confidence import BLOCKED_CAP, confidence
from overseer.supervise.decide import DecisionEngine
from overseer.supervise.validate import contradictions, validate


def evidence(text: str, *paths: str, is_error: bool = False, denied: bool = False, timed_out: str = "") -> Evidence:
    calls = (ToolCall("t1", "Write", {"file_path": "/etc/x"}, allowed=False, reason="outside"),) if denied else ()
    result = AgentResult(
        session_id="s",
        is_error=is_error,
        text=text,
        error="API Error: 400" if is_error else "",
        tool_calls=calls,
    )
    changes = tuple(FileChange(p, "modified", "a", "b") for p in paths)
    return Evidence(task="t", attempt=1, workspace=Path("."), result=result, changes=changes, timed_out=timed_out)


def codes(ev: Evidence) -> list[str]:
    return [f.code for f in validate(ev, read_claims(ev.result.text))]


def test_clean_attempt_has_no_findings() -> None:
    assert codes(evidence("Implemented calc.py.", "calc.py")) == []


@pytest.mark.parametrize(
    ("ev", "expected"),
    [
        (evidence("Done!", is_error=True), ["agent_error"]),
        (evidence("", timed_out="silence"), ["timeout"]),
        (evidence("Done! All tests pass."), ["claim_without_change"]),
        (evidence("Looked around."), ["no_change"]),
        (evidence("I created calc.py and util.py.", "calc.py"), ["false_claim"]),
        (evidence("I could not finish the task.", "calc.py"), ["agent_reported_failure"]),
        (evidence("Which format do you want, JSON or YAML?"), ["agent_question"]),
        (evidence("Fixed calc.py.", "calc.py", "tests/test_calc.py"), ["tests_modified"]),
        (evidence("Fixed calc.py.", "calc.py", denied=True), ["tool_denied"]),
    ],
)
def test_validation_findings(ev: Evidence, expected: list[str]) -> None:
    assert codes(ev) == expected


def test_a_tests_claim_contradicted_by_the_gate() -> None:
    failed = GateResult("tests", False, "1 failed", passed_count=2, failed_count=1)
    [finding] = contradictions(read_claims("All tests pass."), [failed])
    assert finding.severity is Severity.BLOCKING and "1 of 3 failed" in finding.message
    assert contradictions(read_claims("All tests pass."), [GateResult("tests", True, "3 passed")]) == ()


def test_confidence_follows_the_gates_and_is_capped_by_blocking_findings() -> None:
    passed = [GateResult("tests", True, "ok")]
    good = confidence([], passed, Review(True, 0.9))
    assert good > 0.9
    assert confidence([], [GateResult("tests", False, "no")], Review(True, 1.0)) < 0.5
    blocking = Finding("validate", "x", Severity.BLOCKING, "m")
    assert confidence([blocking], passed, Review(True, 1.0)) == BLOCKED_CAP
    # the review alone moves the score by at most its weight
    assert good - confidence([], passed, Review(False, 0.0)) <= 0.2


VERIFIED = (GateResult("tests", True, "3 passed", verifies=True),)


def verdict(*findings: Finding, score: float = 0.9, verified: bool = True) -> Verdict:
    return Verdict(findings=findings, gates=VERIFIED if verified else (), confidence=score)


ENGINE = DecisionEngine(proceed_threshold=0.7, max_attempts=3)
BLOCKER = Finding("gates", "tests_failed", Severity.BLOCKING, "1 of 3 tests failed: test_x")


def test_proceed_when_confident_and_unblocked() -> None:
    assert ENGINE.decide(verdict(), 1).decision is Decision.PROCEED


def test_retry_carries_the_findings_as_feedback() -> None:
    outcome = ENGINE.decide(verdict(BLOCKER, score=0.3), 1)
    assert outcome.decision is Decision.RETRY
    assert "1 of 3 tests failed: test_x" in outcome.feedback


def test_warnings_below_the_threshold_are_sent_back() -> None:
    denied = Finding("validate", "tool_denied", Severity.WARNING, "overseer refused a Write call: outside")
    outcome = ENGINE.decide(verdict(denied, score=0.6), 2)
    assert outcome.decision is Decision.RETRY and "refused a Write call" in outcome.feedback


def test_nothing_to_fix_and_nothing_verified_goes_to_a_human_at_once() -> None:
    outcome = ENGINE.decide(verdict(score=0.58, verified=False), 1)
    assert outcome.decision is Decision.ESCALATE
    assert "nothing verified this attempt" in outcome.brief


def test_escalate_when_the_budget_is_spent() -> None:
    outcome = ENGINE.decide(verdict(BLOCKER, score=0.3), 3)
    assert outcome.decision is Decision.ESCALATE
    assert "stopped after 3 attempt(s)" in outcome.brief and "test_x" in outcome.brief


def test_clarify_when_the_agent_asks() -> None:
    question = Finding("validate", "agent_question", Severity.BLOCKING, "the agent asks: JSON or YAML?")
    outcome = ENGINE.decide(verdict(question, score=0.3), 1)
    assert outcome.decision is Decision.CLARIFY and "JSON or YAML?" in outcome.brief
