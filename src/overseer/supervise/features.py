"""The evidence as numbers: the fixed set of features the confidence is computed from.

The calibration (a logistic regression, `calibration.py`) turns these into the probability that an
attempt is good. Every feature is a plain float, 0 when its evidence is missing (a gate that did
not run, a workspace without tests), so an old model reads new evidence and a new model reads old
evidence without crashing: a feature a model does not know is ignored, one it knows but cannot find
counts 0. Counts are capped at `MAX_COUNT` so one noisy gate cannot outweigh everything else.

Each feature also carries a hand-set prior weight: its sign says which way the evidence points,
its size how strongly. The first packaged calibration was made of these priors; a fit keeps a
feature's prior when its sample never showed that feature (a bench run without lint problems
cannot say what lint problems are worth). Adding a feature: add it to `FEATURES`; the next
`make bench-supervision ARGS=--fit` (or `overseer calibrate`) weighs it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from overseer.domain import Claim, ClaimStatus, Finding, GateResult, Review, Route, Severity, Verdict

MAX_COUNT = 3


@dataclass(frozen=True)
class Feature:
    means: str
    prior: float  # the hand-set weight (logit units) used until a sample shows the feature


FEATURES: dict[str, Feature] = {
    "any_blocking": Feature("1 if any finding blocks the attempt", -2.5),
    "blocking_agent": Feature("1 if a blocking finding is the agent's to fix", 0.0),
    "blocking_human": Feature("1 if a blocking finding only a human can settle", 0.0),
    "blocking_overseer": Feature("1 if overseer itself failed to judge (a gate or the reviewer did not run)", 0.0),
    "tests_ran": Feature("1 if the workspace's tests ran", 0.0),
    "tests_passed": Feature("1 if they passed", 0.3),
    "tests_failed_ratio": Feature("failed tests / tests run", -1.5),
    "regressions": Feature("1 if a test that passed before the attempt fails after it", -1.0),
    "examples_confirmed": Feature("1 if `>>>` examples ran and all gave the documented result", 0.3),
    "examples_refuted": Feature("1 if an example gave another result", -1.0),
    "acceptance_confirmed": Feature("1 if acceptance checks passed that fail on the code before the attempt", 0.5),
    "acceptance_refuted": Feature("1 if an acceptance check written from the task failed", -1.0),
    "tests_fail_first": Feature("1 if tests the attempt wrote fail on the code before it: they test the change", 0.4),
    "vacuous_tests": Feature("1 if the attempt changed code and all the tests it wrote pass without it", -1.0),
    "verified": Feature("1 if a check overseer ran confirmed the work (Verdict.verified)", 1.3),
    "uncovered_ratio": Feature("share of the changed lines no test executes (1 when only a finding says so)", -0.8),
    "lint_problems": Feature("1 if the project's linters report new problems on changed lines", -0.3),
    "other_gates_failed": Feature("number of failed gates this module has no feature for (capped)", -1.0),
    "warnings": Feature("number of warnings, the review's excluded (capped)", -0.4),
    "refuted_claims": Feature("number of the agent's claims overseer's evidence refutes (capped)", -0.8),
    "confirmed_claims": Feature("number of claims it confirms (capped)", 0.1),
    "confessed": Feature("1 if the agent said it did not finish", -1.0),
    "review_score_weighted": Feature("the supervisor model's score times its trust (0 when untrusted)", 1.0),
    "review_rejected_trusted": Feature("1 if a trusted supervisor model rejected the attempt", -2.0),
    "tampered": Feature("1 if tests were deleted, skipped, weakened or rewritten", -1.5),
    "scope_flags": Feature("1 if the attempt touched what the task did not ask for (deletions, CI...)", -1.0),
    "no_change": Feature("1 if the attempt changed nothing", -1.5),
}
PRIOR_INTERCEPT = 0.4  # with the priors: blocked ~0.1, verified by tests ~0.85, nothing verified ~0.6

# Finding codes (see policy.py) that set a feature to 1 whatever the gates say.
_CODE_FEATURES: dict[str, str] = {
    "regression": "regressions",
    "example_refuted": "examples_refuted",
    "acceptance_failed": "acceptance_refuted",
    "vacuous_test": "vacuous_tests",
    "lint_problems": "lint_problems",
    "agent_reported_failure": "confessed",
    "tests_weakened": "tampered",
    "tests_modified": "tampered",
    "original_test_changed": "tampered",
    "unrequested_deletion": "scope_flags",
    "unrequested_rename": "scope_flags",
    "secret_file_changed": "scope_flags",
    "ci_changed": "scope_flags",
    "dependencies_changed": "scope_flags",
    "diff_too_large": "scope_flags",
    "no_change": "no_change",
    "claim_without_change": "no_change",
    "uncovered_changes": "uncovered_ratio",
}
_KNOWN_GATES = {"tests", "fail_first", "examples", "acceptance", "coverage", "lint", "syntax"}


def features(
    findings: Sequence[Finding],
    gates: Sequence[GateResult],
    review: Review | None,
    claims: Iterable[Claim] = (),
) -> dict[str, float]:
    """Every feature in `FEATURES`, in that order, from one attempt's evidence."""
    values = dict.fromkeys(FEATURES, 0.0)
    values.update(_finding_features(findings))
    values.update(_gate_features({g.name: g for g in gates if g.passed is not None}, values))
    values.update(_claim_features(tuple(claims)))
    values.update(_review_features(review))
    values["verified"] = float(Verdict(tuple(findings), tuple(gates), review).verified)
    return values


def _finding_features(findings: Sequence[Finding]) -> dict[str, float]:
    blocking = [f for f in findings if f.severity is Severity.BLOCKING]
    warnings = [f for f in findings if f.severity is Severity.WARNING and f.stage != "review"]
    values = {
        "any_blocking": float(bool(blocking)),
        "blocking_agent": _any(f.route is Route.AGENT for f in blocking),
        "blocking_human": _any(f.route is Route.HUMAN for f in blocking),
        "blocking_overseer": _any(f.route is Route.OVERSEER for f in blocking),
        "warnings": _capped(len(warnings)),
    }
    values.update(dict.fromkeys({_CODE_FEATURES[f.code] for f in findings if f.code in _CODE_FEATURES}, 1.0))
    return values


def _gate_features(applied: Mapping[str, GateResult], seen: Mapping[str, float]) -> dict[str, float]:
    """Features from the gates that ran; a finding-set 1 is never lowered by a gate's details."""
    values: dict[str, float] = {}
    if tests := applied.get("tests"):
        values.update(_test_features(tests))
    if examples := applied.get("examples"):
        values["examples_confirmed"] = float(examples.passed is True)
        values["examples_refuted"] = max(seen["examples_refuted"], float(examples.passed is False))
    if acceptance := applied.get("acceptance"):  # a check that passes before too is neither
        values["acceptance_confirmed"] = float(acceptance.passed is True)
        values["acceptance_refuted"] = max(seen["acceptance_refuted"], float(acceptance.passed is False))
    if fail_first := applied.get("fail_first"):
        values["tests_fail_first"] = float(_size(fail_first.details.get("fail_first")) > 0)
    if coverage := applied.get("coverage"):  # the gate's own ratio is finer than the finding's 1
        values["uncovered_ratio"] = _uncovered_ratio(coverage) or seen["uncovered_ratio"]
    if lint := applied.get("lint"):
        values["lint_problems"] = max(seen["lint_problems"], float(lint.passed is False))
    values["regressions"] = max(seen["regressions"], values.pop("regressions", 0.0))
    others = [g for name, g in applied.items() if name not in _KNOWN_GATES and g.passed is False]
    values["other_gates_failed"] = _capped(len(others))
    return values


def _test_features(tests: GateResult) -> dict[str, float]:
    ran = tests.passed_count + tests.failed_count
    return {
        "tests_ran": 1.0,
        "tests_passed": float(tests.passed is True),
        "tests_failed_ratio": tests.failed_count / ran if ran else float(tests.passed is False),
        "regressions": float(_size(tests.details.get("regressions")) > 0),
    }


def _uncovered_ratio(coverage: GateResult) -> float:
    """The coverage gate's share of uncovered changed lines: `uncovered_ratio` in its details, or
    `uncovered_lines` over `changed_lines` (counts or collections of line numbers)."""
    details = coverage.details
    if isinstance(ratio := details.get("uncovered_ratio"), int | float):
        return min(1.0, max(0.0, float(ratio)))
    changed = _size(details.get("changed_lines"))
    return min(1.0, _size(details.get("uncovered_lines")) / changed) if changed else 0.0


def _claim_features(claims: Sequence[Claim]) -> dict[str, float]:
    return {
        "refuted_claims": _capped(sum(1 for c in claims if c.status is ClaimStatus.REFUTED)),
        "confirmed_claims": _capped(sum(1 for c in claims if c.status is ClaimStatus.CONFIRMED)),
    }


def _review_features(review: Review | None) -> dict[str, float]:
    if review is None:
        return {}
    return {
        "review_score_weighted": review.score * review.trust,
        "review_rejected_trusted": float(review.trusted and not review.approve),
    }


def _size(value: Any) -> int:
    """A detail that is a count or a collection of items, as a count (anything else: 0)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    return len(value) if isinstance(value, Collection) and not isinstance(value, str) else 0


def _capped(count: int) -> float:
    return float(min(count, MAX_COUNT))


def _any(flags: Iterable[bool]) -> float:
    return float(any(flags))
