"""Confidence: one number from all the signals, weighted by how much each can be trusted.

The gates are run by overseer itself, so they weigh most; validation says how honest and clean
the run was; the LLM review weighs least (a small local model judges badly). Any blocking finding
caps the confidence, whatever the rest says.
"""

from __future__ import annotations

from collections.abc import Sequence

from overseer.domain import Finding, GateResult, Review, Severity

WEIGHTS = {"gates": 0.55, "validation": 0.25, "review": 0.20}
BLOCKED_CAP = 0.3
UNVERIFIED = 0.6  # gate score when no gate applied: nothing contradicts the agent, nothing confirms it


def confidence(findings: Sequence[Finding], gates: Sequence[GateResult], review: Review | None) -> float:
    score = (
        WEIGHTS["gates"] * gate_score(gates)
        + WEIGHTS["validation"] * validation_score(findings)
        + WEIGHTS["review"] * (review.score if review else 0.5)
    )
    if any(f.severity is Severity.BLOCKING for f in findings):
        score = min(score, BLOCKED_CAP)
    return round(max(0.0, min(1.0, score)), 3)


def gate_score(gates: Sequence[GateResult]) -> float:
    applied = [g for g in gates if g.passed is not None]
    if not applied:
        return UNVERIFIED
    return 1.0 if all(g.passed for g in applied) else 0.0


def validation_score(findings: Sequence[Finding]) -> float:
    warnings = sum(1 for f in findings if f.severity is Severity.WARNING and f.stage != "review")
    return max(0.4, 1.0 - 0.15 * warnings)
