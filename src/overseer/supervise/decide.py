"""The decision: proceed, retry with feedback, ask for clarification, or stop for a human."""

from __future__ import annotations

from overseer.supervise.evidence import Decision, Outcome, Severity, Verdict
from overseer.supervise.prompts import render


class DecisionEngine:
    def __init__(self, *, proceed_threshold: float, max_attempts: int) -> None:
        self.proceed_threshold = proceed_threshold
        self.max_attempts = max_attempts

    def decide(self, verdict: Verdict, attempts_used: int) -> Outcome:
        """`attempts_used` counts this attempt, within the current budget."""
        question = next((f for f in verdict.findings if f.code == "agent_question"), None)
        if question is not None:
            return Outcome(Decision.CLARIFY, brief=question.message, reasons=(question.message,))
        problems = tuple(f.message for f in verdict.blocking)
        if not problems and verdict.confidence >= self.proceed_threshold:
            return Outcome(Decision.PROCEED, reasons=(f"confidence {verdict.confidence:.2f}",))
        warnings = tuple(f.message for f in verdict.findings if f.severity is Severity.WARNING)
        if not problems and not warnings:
            # Nothing is wrong and nothing confirms the work (no tests ran): a retry would have
            # nothing to fix, so a human looks at it now instead of after futile attempts.
            brief = (
                f"nothing verified this attempt (confidence {verdict.confidence:.2f}, "
                f"below {self.proceed_threshold:.2f}): no test ran and no finding says what to fix; review it"
            )
            return Outcome(Decision.ESCALATE, brief=brief, reasons=(brief,))
        if attempts_used < self.max_attempts:
            feedback = render("feedback.j2", problems=problems or warnings, warnings=warnings if problems else ())
            return Outcome(Decision.RETRY, feedback=feedback, reasons=problems or warnings)
        reasons = problems or warnings
        brief = f"stopped after {attempts_used} attempt(s) without an acceptable result: " + "; ".join(reasons)
        return Outcome(Decision.ESCALATE, brief=brief, reasons=reasons)
