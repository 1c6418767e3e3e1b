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
        reasons = tuple(f.message for f in verdict.blocking)
        if not reasons and verdict.confidence >= self.proceed_threshold:
            return Outcome(Decision.PROCEED, reasons=(f"confidence {verdict.confidence:.2f}",))
        if not reasons:
            reasons = (f"confidence {verdict.confidence:.2f} is below {self.proceed_threshold:.2f}",)
        if attempts_used < self.max_attempts:
            return Outcome(Decision.RETRY, feedback=self._feedback(verdict, reasons), reasons=reasons)
        brief = f"stopped after {attempts_used} attempt(s) without an acceptable result: " + "; ".join(reasons)
        return Outcome(Decision.ESCALATE, brief=brief, reasons=reasons)

    def _feedback(self, verdict: Verdict, reasons: tuple[str, ...]) -> str:
        warnings = [f.message for f in verdict.findings if f.severity is Severity.WARNING]
        return render("feedback.j2", problems=reasons, warnings=warnings)
