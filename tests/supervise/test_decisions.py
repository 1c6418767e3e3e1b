"""Validation, confidence and the decision: every branch reached by an input that leads there."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from overseer.domain import (
    AgentResult,
    ClaimStatus,
    Decision,
    Evidence,
    FileChange,
    Finding,
    GateResult,
    Review,
    Route,
    Severity,
    ToolCall,
    Verdict,
)
from overseer.supervise.claims import read_claims
from overseer.supervise.confidence import confidence
from overseer.supervise.decide import DecisionEngine
from overseer.supervise.policy import DEFAULT_POLICY
from overseer.supervise.validate import check_claims, contradictions, validate


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
        (evidence("I created calc.py and util.py."), []),  # check_claims refutes each file by name
        (evidence("I could not finish the task.", "calc.py"), ["agent_reported_failure"]),
        (evidence("empty input cannot raise now; 3 passed", "calc.py"), []),
        (evidence("Which format do you want, JSON or YAML?"), ["agent_question"]),
        (evidence("Implemented it in calc.py. Which format do you want, JSON or YAML?", "calc.py"), ["agent_question"]),
        (evidence("Done. Should I also update the README? Tests pass.", "calc.py"), []),
        (evidence("Would you like me to go ahead and rename the module?"), ["agent_question"]),
        (
            evidence("Added JSON output; couldn't get YAML to work. Which one matters more to you?", "calc.py"),
            ["agent_question", "agent_reported_failure"],
        ),
        (evidence("Fixed calc.py.", "calc.py", denied=True), ["tool_denied"]),
    ],
)
def test_validation_findings(ev: Evidence, expected: list[str]) -> None:
    assert codes(ev) == expected


def test_findings_quote_the_sentence_that_says_it() -> None:
    ev = evidence("Implemented the parser in parse.py. I could not get the date handling to work.", "parse.py")
    [finding] = validate(ev, read_claims(ev.result.text))
    assert finding.message == "the agent said it did not finish: I could not get the date handling to work."


def test_every_claim_is_confirmed_refuted_or_unverifiable() -> None:
    text = "I created util.py and updated calc.py. I ran `make lint`; all tests pass."
    ev = evidence(text, "calc.py", "util.py")  # util.py is "modified": it existed before the attempt
    failed = GateResult("tests", False, "1 failed", passed_count=2, failed_count=1)

    checked, findings = check_claims(read_claims(text), ev, [failed])

    assert [(c.kind, c.status) for c in checked] == [
        ("file", ClaimStatus.REFUTED),
        ("file", ClaimStatus.CONFIRMED),
        ("command", ClaimStatus.UNVERIFIABLE),  # no tool calls were recorded for this agent
        ("tests", ClaimStatus.REFUTED),
    ]
    assert [f.message for f in findings] == [
        "the agent said it created util.py, but util.py existed before the attempt (modified)",
        "the agent said the tests pass, but overseer ran them: 1 of 3 failed",
    ]
    assert {f.code for f in findings} == {"false_claim"}


def test_a_file_claim_with_nothing_changed_is_refuted_by_name() -> None:
    ev = evidence("I updated calc.py and util.py.")
    _, findings = check_claims(read_claims(ev.result.text), ev, [])
    assert [f.message for f in findings] == [
        "the agent said it changed calc.py, but it changed no file",
        "the agent said it changed util.py, but it changed no file",
    ]


def test_a_command_claim_against_the_shell_commands_the_agent_ran() -> None:
    bash = ToolCall("t2", "Bash", {"command": "/venv/bin/python -m pytest -q tests/"})
    refused = ToolCall("t3", "Bash", {"command": "make lint"}, allowed=False, reason="not allowed")
    result = AgentResult(session_id="s", is_error=False, text="", tool_calls=(bash, refused))
    ev = Evidence(task="t", attempt=1, workspace=Path("."), result=result, changes=())

    claims = read_claims("I ran `python -m pytest -q` and `make lint`.")
    checked, findings = check_claims(claims, ev, [])

    assert [c.status for c in checked] == [ClaimStatus.CONFIRMED, ClaimStatus.REFUTED]
    assert findings[0].message.startswith("the agent said it ran `make lint`, but the commands it ran were `/venv")


def test_a_tests_claim_contradicted_by_the_gate() -> None:
    failed = GateResult("tests", False, "1 failed", passed_count=2, failed_count=1)
    [finding] = contradictions(read_claims("All tests pass."), [failed])
    assert finding.severity is Severity.BLOCKING and "1 of 3 failed" in finding.message
    assert contradictions(read_claims("All tests pass."), [GateResult("tests", True, "3 passed")]) == ()


def test_confidence_is_high_when_tests_verify_and_low_when_anything_blocks() -> None:
    passed = [GateResult("tests", True, "3 passed", passed_count=3, verifies=True)]
    good = confidence([], passed, Review(True, 0.9))
    assert good >= 0.7
    assert confidence([], [GateResult("tests", False, "no", failed_count=1)], Review(True, 1.0)) < 0.5
    blocking = Finding("validate", "false_claim", Severity.BLOCKING, "m")
    assert confidence([blocking], passed, Review(True, 1.0)) < 0.5
    # an untrusted review (trust 0) moves nothing
    assert confidence([], passed, Review(False, 0.0)) == confidence([], passed, Review(True, 1.0))


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


def test_what_the_after_attempt_check_saw_outside_becomes_findings_for_the_right_person() -> None:
    ev = replace(
        evidence("Implemented calc.py.", "calc.py"),
        outside_links=(("data", "/etc"),),
        outside_files=(("/home/u/.bashrc", "modified"),),
        outside_unchecked=("/home/u",),
    )
    found = {f.code: f for f in DEFAULT_POLICY.apply(validate(ev, read_claims(ev.result.text)))}
    assert (found["symlink_outside"].severity, found["symlink_outside"].route) == (Severity.BLOCKING, Route.AGENT)
    assert (found["wrote_outside"].severity, found["wrote_outside"].route) == (Severity.BLOCKING, Route.HUMAN)
    assert "/home/u/.bashrc was modified" in found["wrote_outside"].message
    assert found["outside_unchecked"].severity is Severity.INFO
    outcome = ENGINE.decide(Verdict(tuple(found.values()), gates=VERIFIED, confidence=0.9), 1)
    assert outcome.decision is Decision.ESCALATE and ".bashrc" in outcome.brief
