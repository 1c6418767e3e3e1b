"""The decision: proceed, retry with feedback, ask for clarification, or stop for a human.

Read top to bottom, first match wins:

1. the agent asked a question, or reported a test that
   contradicts the spec and the check did not refute it -> clarify (a conflict with both sides)
2. a blocking finding only a human can settle        -> escalate, with the brief
3. a blocking finding that is overseer's own failure -> escalate, as overseer's problem (the agent
                                                        never hears of it)
4. the same failure as the previous attempt          -> escalate: a retry would fail the same way
5. a blocking finding the agent can fix              -> retry with feedback (escalate when the budget
                                                        is spent)
6. not confident, with warnings the agent can fix    -> retry with feedback
7. nothing verified the work (and policy says stop)  -> escalate with a brief
8. confident enough                                  -> proceed
9. otherwise                                         -> escalate: nothing to fix, nothing confirms it

Feedback carries only findings routed to the agent: overseer's own troubles are never the agent's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from overseer.domain import Decision, Finding, Outcome, Route, Severity, Verdict
from overseer.supervise.prompts import render

# What only the user can answer: the agent's question, and a conflict of the tests with the spec.
CLARIFY = frozenset({"agent_question", "conflict_confirmed", "conflict_unchecked"})


class DecisionEngine:
    def __init__(self, *, proceed_threshold: float, max_attempts: int, stop_unverified: bool = True) -> None:
        self.proceed_threshold = proceed_threshold
        self.max_attempts = max_attempts
        self.stop_unverified = stop_unverified

    def decide(self, verdict: Verdict, attempts_used: int, previous: Mapping[str, str] | None = None) -> Outcome:
        """`attempts_used` counts this attempt within the current budget; `previous` is the last
        attempt's `Verdict.signature`, if there was one in this budget."""
        blocking = verdict.blocking
        if questions := tuple(f for f in blocking if f.code in CLARIFY):
            reasons = tuple(f.message for f in questions)
            return Outcome(Decision.CLARIFY, brief="\n\n".join(reasons), reasons=reasons)
        if human := _routed(blocking, Route.HUMAN):
            return _escalate("a person must decide: ", human)
        if own := _routed(blocking, Route.OVERSEER):
            return _escalate("overseer could not judge this attempt (its own problem, not the agent's): ", own)
        if repeat := repeated(previous, verdict.signature) if blocking else "":
            return _escalate(
                f"stuck: {repeat} as on the previous attempt, so a retry would fail the same way: ", blocking
            )
        if blocking:
            return self._retry_or_stop(verdict, attempts_used, blocking)
        confident = verdict.confidence >= self.proceed_threshold
        fixable = _routed(_warnings(verdict), Route.AGENT)
        if fixable and not confident:
            return self._retry_or_stop(verdict, attempts_used, fixable)
        if self.stop_unverified and not verdict.verified:
            brief = (
                f"nothing verified this attempt (confidence {verdict.confidence:.2f}): no test, example or trusted "
                "review confirmed the work; review the diff, or set decide.stop_unverified: false"
            )
            return Outcome(Decision.ESCALATE, brief=_with_findings(brief, verdict.findings), reasons=(brief,))
        if confident:
            return Outcome(Decision.PROCEED, reasons=(f"confidence {verdict.confidence:.2f}",))
        brief = (
            f"confidence {verdict.confidence:.2f} is below {self.proceed_threshold:.2f} and no finding says what to fix"
        )
        return Outcome(Decision.ESCALATE, brief=_with_findings(brief, verdict.findings), reasons=(brief,))

    def _retry_or_stop(self, verdict: Verdict, attempts_used: int, problems: Sequence[Finding]) -> Outcome:
        reasons = tuple(f.message for f in problems)
        if attempts_used >= self.max_attempts:
            return _escalate(f"stopped after {attempts_used} attempt(s) without an acceptable result: ", problems)
        notes = tuple(f.message for f in _routed(_warnings(verdict), Route.AGENT) if f not in problems)
        feedback = render("feedback.j2", problems=reasons, warnings=notes)
        return Outcome(Decision.RETRY, feedback=feedback, reasons=reasons)


def repeated(previous: Mapping[str, str] | None, current: Mapping[str, str]) -> str:
    """What repeats between two attempts' failure signatures ("" when nothing does)."""
    if not previous:
        return ""
    same = [what for what, value in current.items() if value and previous.get(what) == value]
    return " and ".join(f"the same {what}" for what in same)


def _routed(findings: Sequence[Finding], route: Route) -> tuple[Finding, ...]:
    return tuple(f for f in findings if f.route is route)


def _warnings(verdict: Verdict) -> tuple[Finding, ...]:
    return tuple(f for f in verdict.findings if f.severity is Severity.WARNING)


def _escalate(headline: str, findings: Sequence[Finding]) -> Outcome:
    reasons = tuple(f.message for f in findings)
    return Outcome(Decision.ESCALATE, brief=headline + "; ".join(reasons), reasons=reasons)


def _with_findings(brief: str, findings: Sequence[Finding]) -> str:
    shown = [f.message for f in findings if f.severity is not Severity.INFO or f.route is Route.HUMAN]
    return brief if not shown else brief + ". Also seen: " + "; ".join(shown)
