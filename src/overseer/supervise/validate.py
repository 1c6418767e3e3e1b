"""Validation: the agent's run and its own words, held against evidence overseer produced itself.

Two entry points, because the evidence arrives in two steps:

- `validate(evidence, claims)`, before any gate runs: how the run ended, refused tool calls, and
  what the agent's words ask for without any check (a question for the user, a confession), its
  reports through its honest way out included (agents/honesty.py). A reported conflict is the one
  report that needs a check first: `supervise/conflict.py` runs it with the gates.
  Edited tests are the tests gate's to report: it knows which originals it ran in their place.
- `check_claims(claims, evidence, gates)`, once the gates have run: every claim the agent made
  about files, tests and commands, each confirmed, refuted or unverifiable. A refuted claim is a
  `false_claim` finding whose message says what the evidence showed, so it can go back as feedback.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from overseer.domain import AgentReport, Claim, ClaimStatus, Evidence, FileChange, Finding, GateResult
from overseer.supervise.claims import Claims, Statement
from overseer.supervise.policy import finding
from overseer.text import clip

STAGE = "validate"
CONFIRMED, REFUTED, UNVERIFIABLE = ClaimStatus.CONFIRMED, ClaimStatus.REFUTED, ClaimStatus.UNVERIFIABLE
_QUOTE = 300  # characters of the agent's own words quoted in a finding


def _finding(code: str, message: str) -> Finding:
    return finding(STAGE, code, message)


def validate(evidence: Evidence, claims: Claims) -> tuple[Finding, ...]:
    """Findings about the run itself, before any gate runs."""
    findings = [*_run_problems(evidence), *_denials(evidence), *_outside(evidence)]
    if evidence.cut_short:
        return tuple(findings)
    findings += _what_the_agent_says(evidence, claims)
    return tuple(findings)


def _run_problems(evidence: Evidence) -> list[Finding]:
    if evidence.timed_out == "silence":
        return [_finding("timeout", "the agent went silent and overseer stopped the attempt")]
    if evidence.timed_out:
        return [_finding("timeout", "the attempt ran out of time and overseer stopped it")]
    if evidence.result.is_error:
        message = f"the agent's run ended in an error: {evidence.result.error or 'no detail given'}"
        return [_finding("agent_error", message)]
    return []


def _outside(evidence: Evidence) -> list[Finding]:
    """What the after-attempt check saw beyond the workspace: links out, and (sandbox off) writes."""
    links = [
        _finding(
            "symlink_outside",
            f"{path} is a symlink to {target}, outside the workspace: remove it, or copy what you need into it",
        )
        for path, target in evidence.outside_links
    ]
    files = [
        _finding("wrote_outside", f"{path} was {kind} outside the workspace during the attempt (the sandbox was off)")
        for path, kind in evidence.outside_files
    ]
    unchecked = [
        _finding("outside_unchecked", f"the check for files changed outside stopped at its bound under {root}")
        for root in evidence.outside_unchecked
    ]
    return [*links, *files, *unchecked]


def _denials(evidence: Evidence) -> list[Finding]:
    return [
        _finding("tool_denied", f"overseer refused a {call.name} call: {call.reason}")
        for call in evidence.result.denied_calls
    ]


def _what_the_agent_says(evidence: Evidence, claims: Claims) -> list[Finding]:
    """A question for the user, a confession, or an attempt that changed nothing.

    An offer of more work ("Should I also ...?") after work that changed files is no question: the
    task is done and the offer can wait. With nothing changed, the agent is waiting for an answer.
    """
    reports = evidence.result.reports
    found = [_reported(report) for report in reports if report.kind in _UNCHECKED_REPORTS]
    asked = claims.question or ("" if evidence.changes else claims.offer)
    if asked:
        found.append(_finding("agent_question", f"the agent asks: {clip(asked, _QUOTE)}"))
    if claims.failure:
        found.append(
            _finding("agent_reported_failure", f"the agent said it did not finish: {clip(claims.failure, _QUOTE)}")
        )
    if found or reports or evidence.changes or claims.files:  # a named file is refuted, precisely, by check_claims
        return found
    if claims.success:
        return [_finding("claim_without_change", "the agent claimed success but no file in the workspace changed")]
    return [_finding("no_change", "the attempt changed no file in the workspace")]


# ask_human and cannot_finish are taken at the agent's word; report_conflict is checked (conflict.py)
_UNCHECKED_REPORTS = ("ask_human", "cannot_finish")


def _reported(report: AgentReport) -> Finding:
    if report.kind == "ask_human":
        return _finding("agent_question", f"the agent asks: {clip(report.text, _QUOTE)}")
    return _finding("agent_cannot_finish", f"the agent says it cannot finish: {clip(report.text, _QUOTE)}")


# --- claims against the evidence ----------------------------------------------------------------------


def check_claims(
    claims: Claims, evidence: Evidence, gates: Sequence[GateResult]
) -> tuple[tuple[Claim, ...], tuple[Finding, ...]]:
    """Each claim confirmed, refuted or unverifiable; a `false_claim` finding for each refuted one."""
    checked = tuple(_check(statement, evidence, gates) for statement in claims.statements)
    return checked, _refutations(checked)


def contradictions(claims: Claims, gates: Sequence[GateResult]) -> tuple[Finding, ...]:
    """Only the tests claim against the tests gate (`check_claims` checks every claim)."""
    return _refutations(tuple(_check_tests(s, gates) for s in claims.statements if s.kind == "tests"))


def _refutations(checked: Sequence[Claim]) -> tuple[Finding, ...]:
    return tuple(_finding("false_claim", claim.detail) for claim in checked if claim.status is REFUTED)


def _check(statement: Statement, evidence: Evidence, gates: Sequence[GateResult]) -> Claim:
    if statement.kind == "tests":
        return _check_tests(statement, gates)
    if statement.kind == "command":
        return _check_command(statement, evidence)
    return _check_file(statement, evidence.changes)


def _claim(kind: str, statement: Statement, status: ClaimStatus, detail: str) -> Claim:
    return Claim(kind, clip(statement.words, _QUOTE), status, detail)


def _check_file(statement: Statement, changes: Sequence[FileChange]) -> Claim:
    name, created = statement.subject, statement.kind == "created"
    change = next((c for c in changes if _same_file(name, c.path)), None)
    if change is None:
        verb = "created" if created else "changed"
        elsewhere = f"it changed {_listed(c.path for c in changes)}" if changes else "it changed no file"
        return _claim("file", statement, REFUTED, f"the agent said it {verb} {name}, but {elsewhere}")
    if created and change.kind != "added":
        detail = f"the agent said it created {name}, but {change.path} existed before the attempt ({change.kind})"
        return _claim("file", statement, REFUTED, detail)
    return _claim("file", statement, CONFIRMED, f"{change.path} was {change.kind}")


def _same_file(named: str, path: str) -> bool:
    """The agent may name a file by its base name ("calc.py") or by an absolute path."""
    return named == path or path.endswith("/" + named) or named.endswith("/" + path)


def _listed(paths: Iterable[str]) -> str:
    names = list(paths)
    shown = ", ".join(names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _check_tests(statement: Statement, gates: Sequence[GateResult]) -> Claim:
    tests = next((g for g in gates if g.name == "tests"), None)
    if tests is None or tests.passed is None:
        detail = "overseer ran no tests" + (f": {tests.summary}" if tests and tests.summary else "")
        return _claim("tests", statement, UNVERIFIABLE, detail)
    if tests.passed:
        return _claim("tests", statement, CONFIRMED, f"overseer ran them: {tests.summary}")
    total = tests.passed_count + tests.failed_count
    result = f"{tests.failed_count} of {total} failed" if total else tests.summary
    return _claim("tests", statement, REFUTED, f"the agent said the tests pass, but overseer ran them: {result}")


# `python -m pytest` and `pytest` are one command; so are `uv run ruff` and `ruff`.
_LAUNCHER = re.compile(r"^(?:\S*python3?\s+-m|(?:uv|poetry|pipenv)\s+run)\s+")


def _check_command(statement: Statement, evidence: Evidence) -> Claim:
    calls = evidence.result.tool_calls
    ran = [str(c.input.get("command", "")) for c in calls if c.name == "Bash" and c.allowed]
    wanted = " ".join(_LAUNCHER.sub("", statement.subject).split())
    match = next((command for command in ran if wanted in " ".join(command.split())), None)
    if match is not None:
        return _claim("command", statement, CONFIRMED, f"it ran `{clip(match, 200)}`")
    if not calls:
        return _claim("command", statement, UNVERIFIABLE, "the agent's tool calls were not recorded")
    done = f"the commands it ran were {_listed(f'`{clip(c, 80)}`' for c in ran)}" if ran else "it ran no command"
    return _claim("command", statement, REFUTED, f"the agent said it ran `{statement.subject}`, but {done}")
