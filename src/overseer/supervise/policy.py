"""The policy: one table that says, for every finding code, how grave it is and who must act on it.

Rules as data: a stage that finds something names its code and says what it saw; the table alone
decides the severity (does it stop the attempt?) and the route (does it go back to the agent as
feedback, to a human as a brief, or is it overseer's own problem that the agent must never hear
about?). Users can override any row from configuration (`policy: {code: {severity, route}}`).

A code missing from the table is a bug: `Policy.finding` raises, and a test walks every code the
stages can emit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from overseer.domain import Finding, Route, Severity

B, W, I = Severity.BLOCKING, Severity.WARNING, Severity.INFO  # noqa: E741 (a table reads better short)
AGENT, HUMAN, OVERSEER, NOBODY = Route.AGENT, Route.HUMAN, Route.OVERSEER, Route.NOBODY


@dataclass(frozen=True)
class Rule:
    severity: Severity
    route: Route
    means: str  # one line for the docs and for `--help`-style listings


RULES: dict[str, Rule] = {
    # validate: the run itself and the agent's own words
    "timeout": Rule(B, AGENT, "overseer stopped the agent (wall clock or silence)"),
    "agent_error": Rule(B, AGENT, "the agent's run ended in an error"),
    "tool_denied": Rule(W, AGENT, "overseer's guard refused a tool call"),
    "agent_reported_failure": Rule(B, AGENT, "the agent said its own work failed or is unfinished"),
    "agent_question": Rule(B, HUMAN, "the agent asks the user something (or offers more work, having changed nothing)"),
    "claim_without_change": Rule(B, AGENT, "the agent claimed success but nothing changed"),
    # the agent's honest way out (agents/honesty.py), checked by supervise/conflict.py
    "conflict_confirmed": Rule(B, HUMAN, "the agent reports a test that contradicts the spec, and the check agrees"),
    "conflict_unchecked": Rule(B, HUMAN, "a reported conflict whose test fails but whose spec side could not be run"),
    "conflict_refuted": Rule(B, AGENT, "a reported conflict that overseer's check does not bear out"),
    "agent_cannot_finish": Rule(B, HUMAN, "the agent says it cannot finish the task, and why"),
    "no_change": Rule(B, AGENT, "the attempt changed no file"),
    "false_claim": Rule(B, AGENT, "a claim about files, tests or commands is refuted by overseer's own evidence"),
    # gates: checks overseer runs itself
    "syntax_error": Rule(B, AGENT, "a changed Python file does not compile"),
    "tests_failed": Rule(B, AGENT, "tests fail on the new code"),
    "regression": Rule(B, AGENT, "a test that passed before the attempt fails after it"),
    "new_test_failed": Rule(B, AGENT, "a test the agent added or edited fails"),
    "preexisting_failures": Rule(I, NOBODY, "tests that failed before the attempt still fail: not the agent's doing"),
    "tests_timeout": Rule(B, AGENT, "the tests hung on the new code"),
    "tests_not_run": Rule(B, OVERSEER, "overseer could not start the test command"),
    "tests_unusable": Rule(W, HUMAN, "the tests cannot run even on the code before the attempt"),
    "no_tests": Rule(I, NOBODY, "the workspace has no tests"),
    "tests_weakened": Rule(B, AGENT, "the agent deleted, skipped or xfailed tests or narrowed what is collected"),
    "tests_filtered": Rule(W, HUMAN, "the configured test command runs only some tests: it cannot verify the work"),
    "tests_modified": Rule(W, AGENT, "the agent edited existing tests; they do not count in its favour"),
    "original_test_changed": Rule(B, HUMAN, "an original test fails on the new code and the agent rewrote it"),
    # fail_first: blocking only when the attempt changed code and no test it wrote fails without the
    # change; beside one that does, or when only tests changed, passing before is right (gates/fail_first.py)
    "vacuous_test": Rule(B, AGENT, "the attempt changed code, and every test it wrote passes without the change too"),
    "tests_pass_before": Rule(I, NOBODY, "new tests pass on the old code: next to ones that fail first, or tests-only"),
    "example_refuted": Rule(B, AGENT, "a `>>>` example of the task or of changed code gives another result"),
    "uncovered_changes": Rule(W, AGENT, "changed lines that no test executes"),
    "lint_problems": Rule(W, AGENT, "the project's linters report new problems on changed lines"),
    "gate_unavailable": Rule(I, OVERSEER, "a gate could not run; it counts as nothing verified"),
    "acceptance_failed": Rule(B, AGENT, "a check a trusted supervisor model wrote from the task fails on the new code"),
    "acceptance_broken": Rule(I, OVERSEER, "an acceptance check does not fit the code (its own error): not counted"),
    "acceptance_unavailable": Rule(I, OVERSEER, "the supervisor model wrote no usable acceptance checks, or none ran"),
    "symlink_outside": Rule(B, AGENT, "the agent made a symlink in the workspace that points outside it"),
    "wrote_outside": Rule(B, HUMAN, "a file outside the workspace changed during the attempt (sandbox off)"),
    "outside_unchecked": Rule(I, NOBODY, "the check for writes outside the workspace stopped at its bound"),
    # scope: what the attempt touched
    "unrequested_deletion": Rule(B, HUMAN, "a file the task did not name was deleted"),
    "unrequested_rename": Rule(B, HUMAN, "a file the task did not name was renamed"),
    "secret_file_changed": Rule(B, HUMAN, "a file that looks like a secret (.env, a key) changed"),
    "ci_changed": Rule(W, HUMAN, "CI configuration changed"),
    "dependencies_changed": Rule(W, HUMAN, "a lock file or dependency list changed"),
    "diff_too_large": Rule(W, HUMAN, "the diff is far larger than the task suggests"),
    "binary_changed": Rule(I, NOBODY, "a binary file changed; no gate can read it"),
    # review: the supervisor model's opinion
    "review_rejected": Rule(B, AGENT, "a trusted supervisor model rejected the attempt, with reasons"),
    "review_opinion": Rule(I, NOBODY, "an untrusted supervisor model's rejection: shown, decides nothing"),
    "review_unavailable": Rule(B, OVERSEER, "a trusted supervisor model gave no review, even when asked again"),
    "review_missing": Rule(I, NOBODY, "an untrusted supervisor model gave no review: nothing was lost"),
    # decide: what the history of the task shows
    "stuck": Rule(B, HUMAN, "two attempts in a row failed the same way"),
    "unverified": Rule(B, HUMAN, "nothing overseer ran could verify the work"),
}


class UnknownFindingCode(KeyError):
    pass


class Policy:
    """The table, with the user's overrides applied; builds every Finding."""

    def __init__(self, overrides: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.rules = dict(RULES)
        for code, change in (overrides or {}).items():
            if code not in self.rules:
                raise UnknownFindingCode(code)
            rule = self.rules[code]
            self.rules[code] = Rule(
                Severity(change.get("severity", rule.severity)), Route(change.get("route", rule.route)), rule.means
            )

    def finding(self, stage: str, code: str, message: str) -> Finding:
        rule = self.rules.get(code)
        if rule is None:
            raise UnknownFindingCode(code)
        return Finding(stage, code, rule.severity, message, rule.route)

    def apply(self, findings: Iterable[Finding]) -> tuple[Finding, ...]:
        """The same findings, classified by this table (the user's overrides included)."""
        return tuple(self.finding(f.stage, f.code, f.message) for f in findings)


DEFAULT_POLICY = Policy()


def finding(stage: str, code: str, message: str) -> Finding:
    """A Finding under the packaged table (stages use this; the judge re-applies the user's table)."""
    return DEFAULT_POLICY.finding(stage, code, message)


def render_markdown(policy: Policy = DEFAULT_POLICY) -> str:
    """The table as docs/policy.md shows it (a test keeps the page equal to this)."""
    lines = [
        "# The policy table",
        "",
        "Generated from `src/overseer/supervise/policy.py` by `python -m overseer.supervise.policy`; a test",
        "keeps it current. Override any row in configuration: `policy: {CODE: {severity: ..., route: ...}}`.",
        "",
        "- **severity**: `blocking` stops the attempt; `warning` lowers the confidence; `info` is for the record.",
        "- **route**: `agent` goes back in the retry's feedback; `human` stops the task with a brief;",
        "  `overseer` is overseer's own failure and never reaches the agent; `nobody` is shown only.",
        "",
        "| code | severity | route | means |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| `{code}` | {rule.severity} | {rule.route} | {rule.means} |" for code, rule in policy.rules.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
