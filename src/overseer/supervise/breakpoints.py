"""Breakpoints: the user's rules for when a task stops for a human (`breakpoints:` in config).

The judge and the decision engine say whether an attempt is good; a breakpoint says that, good or
not, a person looks before it goes further: it touched `migrations/**`, its diff is large, a finding
the user cares about came up, the task carries a tag that wants a first look, or the task has spent
its time or money. Rules are checked after the decision, on attempts that would proceed or retry
(those that stop already stop). The first rule that fires, in config order, is recorded with why.

`tool` rules are not checked here: the agent defers a matching call (agents/claude_code.py) and the
task waits with the call pending.

Conservative where the rule cannot be evaluated: a cost budget with an attempt whose cost the agent
did not report counts as spent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pathspec

from overseer.config import BreakpointRule
from overseer.domain import Decision, Outcome, Verdict
from overseer.errors import ConfigError
from overseer.supervise.policy import RULES


@dataclass(frozen=True)
class Situation:
    """What the rules look at once an attempt is judged."""

    attempt: int  # the attempt's number within its task
    tags: frozenset[str]
    changed: tuple[str, ...]  # workspace-relative paths the attempt added, modified or deleted
    diff_lines: int  # added + removed lines
    spent_s: float  # wall time of the task's attempts so far, this one included
    costs: tuple[float | None, ...]  # each attempt's reported cost; None where the agent reported none


@dataclass(frozen=True)
class Fired:
    rule: str
    reason: str

    def outcome(self) -> Outcome:
        brief = f"breakpoint {self.rule}: {self.reason}"
        return Outcome(Decision.ESCALATE, brief=brief, reasons=(brief,))


class Breakpoints:
    def __init__(self, rules: Mapping[str, BreakpointRule | None]) -> None:
        self.rules = {name: rule for name, rule in rules.items() if rule is not None}
        unknown = sorted({code for rule in self.rules.values() for code in rule.findings} - RULES.keys())
        if unknown:
            raise ConfigError(
                f"invalid configuration: breakpoints: no finding code {unknown[0]!r}", hint="see docs/policy.md"
            )
        self._paths = {name: pathspec.GitIgnoreSpec.from_lines(rule.paths) for name, rule in self.rules.items()}

    @property
    def tool_rules(self) -> dict[str, str]:
        """name -> tool pattern, for the agent to defer matching calls."""
        return {name: rule.tool for name, rule in self.rules.items() if rule.tool}

    def check(self, outcome: Outcome, verdict: Verdict, situation: Situation) -> Fired | None:
        """The first rule that stops this attempt; None lets the decision stand."""
        if outcome.decision not in (Decision.PROCEED, Decision.RETRY):
            return None  # it stops already
        for name, rule in self.rules.items():
            if reason := _first(_reasons(rule, self._paths[name], outcome, verdict, situation)):
                return Fired(name, reason)
        return None


def _reasons(
    rule: BreakpointRule, paths: pathspec.GitIgnoreSpec, outcome: Outcome, verdict: Verdict, situation: Situation
) -> Iterable[str]:
    if touched := [path for path in situation.changed if paths.match_file(path)]:
        yield f"it changed {_some(touched)} (paths {', '.join(rule.paths)})"
    if rule.diff_lines_over is not None and situation.diff_lines > rule.diff_lines_over:
        yield f"its diff has {situation.diff_lines} lines (over {rule.diff_lines_over})"
    proceeding = outcome.decision is Decision.PROCEED
    if proceeding and rule.confidence_under is not None and verdict.confidence < rule.confidence_under:
        yield f"it would proceed at confidence {verdict.confidence:.2f} (under {rule.confidence_under:.2f})"
    if found := sorted({f.code for f in verdict.findings} & set(rule.findings)):
        yield f"finding {', '.join(found)}"
    tag = rule.first_attempt_tagged
    if tag is not None and situation.attempt == 1 and tag in situation.tags:
        yield f"the first attempt of a task tagged {tag!r}"
    if rule.task_minutes_over is not None and situation.spent_s > rule.task_minutes_over * 60:
        yield f"the task has run {situation.spent_s / 60:.1f} min (over {rule.task_minutes_over:g})"
    if rule.task_cost_usd_over is not None:
        yield from _cost(rule.task_cost_usd_over, situation.costs)


def _cost(budget: float, costs: Sequence[float | None]) -> Iterable[str]:
    if any(cost is None for cost in costs):
        yield f"an attempt's cost is unknown, so the ${budget:g} budget may be spent"
    elif (spent := sum(cost for cost in costs if cost is not None)) > budget:
        yield f"the task has cost ${spent:.2f} (over ${budget:g})"


def _first(reasons: Iterable[str]) -> str:
    return next(iter(reasons), "")


def _some(paths: Sequence[str], shown: int = 3) -> str:
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    return ", ".join(paths[:shown]) + more
