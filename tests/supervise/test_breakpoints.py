"""Breakpoint rules: which one stops an attempt, and why."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from overseer.config import BreakpointRule
from overseer.domain import Decision, Finding, Outcome, Severity, Verdict
from overseer.errors import ConfigError
from overseer.supervise.breakpoints import Breakpoints, Situation

PROCEED = Outcome(Decision.PROCEED)
GOOD = Verdict(findings=(), confidence=0.9)
QUIET = Situation(attempt=2, tags=frozenset(), changed=("src/app.py",), diff_lines=10, spent_s=60.0, costs=(0.1,))


def rules(**named: dict[str, Any] | None) -> Breakpoints:
    return Breakpoints(
        {name: None if rule is None else BreakpointRule.model_validate(rule) for name, rule in named.items()}
    )


def fired(
    points: Breakpoints, situation: Situation = QUIET, verdict: Verdict = GOOD, outcome: Outcome = PROCEED
) -> str:
    found = points.check(outcome, verdict, situation)
    return "" if found is None else f"{found.rule}: {found.reason}"


def test_a_quiet_attempt_passes_every_rule() -> None:
    points = rules(
        migrations={"paths": ["migrations/**", "*.sql"]},
        big={"diff_lines_over": 400},
        unsure={"confidence_under": 0.8},
        ci={"findings": ["ci_changed"]},
        new={"first_attempt_tagged": "risky"},
        slow={"task_minutes_over": 30},
        dear={"task_cost_usd_over": 5},
    )
    assert fired(points) == ""


@pytest.mark.parametrize(
    ("rule", "situation", "reason"),
    [
        (
            {"paths": ["migrations/**"]},
            {"changed": ("app.py", "migrations/0002_add.py")},
            "it changed migrations/0002_add.py",
        ),
        ({"paths": ["*.sql"]}, {"changed": ("db/schema.sql",)}, "it changed db/schema.sql"),
        ({"diff_lines_over": 400}, {"diff_lines": 401}, "its diff has 401 lines (over 400)"),
        ({"first_attempt_tagged": "risky"}, {"attempt": 1, "tags": frozenset({"risky"})}, "tagged 'risky'"),
        ({"task_minutes_over": 1}, {"spent_s": 61.0}, "the task has run 1.0 min (over 1)"),
        ({"task_cost_usd_over": 0.5}, {"costs": (0.3, 0.3)}, "the task has cost $0.60 (over $0.5)"),
        ({"task_cost_usd_over": 5}, {"costs": (0.3, None)}, "cost is unknown"),
    ],
)
def test_each_condition_fires_and_says_why(rule: dict[str, Any], situation: dict[str, Any], reason: str) -> None:
    assert reason in fired(rules(mine=rule), replace(QUIET, **situation))


@pytest.mark.parametrize(
    ("rule", "situation"),
    [
        ({"paths": ["migrations/**"]}, {"changed": ("src/migrations.py",)}),
        ({"diff_lines_over": 400}, {"diff_lines": 400}),
        ({"first_attempt_tagged": "risky"}, {"attempt": 2, "tags": frozenset({"risky"})}),
        ({"first_attempt_tagged": "risky"}, {"attempt": 1, "tags": frozenset({"other"})}),
        ({"task_cost_usd_over": 1}, {"costs": (0.5, 0.5)}),
    ],
)
def test_a_condition_that_does_not_hold_lets_the_attempt_go(rule: dict[str, Any], situation: dict[str, Any]) -> None:
    assert fired(rules(mine=rule), replace(QUIET, **situation)) == ""


def test_a_finding_code_stops_a_retry_too() -> None:
    verdict = Verdict(findings=(Finding("scope", "ci_changed", Severity.WARNING, "CI changed"),), confidence=0.9)
    retry = Outcome(Decision.RETRY, feedback="fix it")
    assert fired(rules(ci={"findings": ["ci_changed"]}), verdict=verdict, outcome=retry) == "ci: finding ci_changed"


def test_confidence_counts_only_before_an_attempt_proceeds() -> None:
    points = rules(unsure={"confidence_under": 0.95})
    assert fired(points) == "unsure: it would proceed at confidence 0.90 (under 0.95)"
    assert fired(points, outcome=Outcome(Decision.RETRY, feedback="again")) == ""


@pytest.mark.parametrize("decision", [Decision.ESCALATE, Decision.CLARIFY])
def test_an_attempt_that_stops_already_opens_no_breakpoint(decision: Decision) -> None:
    assert fired(rules(any_diff={"diff_lines_over": 0}), outcome=Outcome(decision, brief="stop")) == ""


def test_the_first_rule_in_config_order_is_the_one_recorded() -> None:
    points = rules(first={"diff_lines_over": 5}, second={"paths": ["src/**"]})
    assert fired(points).startswith("first: ")  # both hold
    assert fired(rules(second={"paths": ["src/**"]}, first={"diff_lines_over": 5})).startswith("second: ")


def test_a_rule_set_to_null_is_removed() -> None:
    assert fired(rules(big={"diff_lines_over": 0}, gone=None)) == "big: its diff has 10 lines (over 0)"
    assert fired(rules(big=None)) == ""


def test_a_rule_needs_a_condition_and_known_finding_codes() -> None:
    with pytest.raises(ValidationError, match="needs a condition"):
        BreakpointRule.model_validate({})
    with pytest.raises(ConfigError, match="no finding code 'ci_changd'"):
        rules(typo={"findings": ["ci_changd"]})


def test_the_tool_rules_go_to_the_agent() -> None:
    points = rules(push={"tool": "Bash(git push*)"}, big={"diff_lines_over": 5})
    assert points.tool_rules == {"push": "Bash(git push*)"}


@given(st.lists(st.sampled_from(["a.py", "migrations/1.py", "x/y.sql", "README.md"]), max_size=4), st.integers(0, 900))
def test_a_breakpoint_fires_exactly_when_one_of_its_conditions_holds(changed: list[str], lines: int) -> None:
    points = rules(mine={"paths": ["migrations/**", "*.sql"], "diff_lines_over": 400})
    situation = replace(QUIET, changed=tuple(changed), diff_lines=lines)
    expected = lines > 400 or any(p.startswith("migrations/") or p.endswith(".sql") for p in changed)
    assert bool(fired(points, situation)) == expected
