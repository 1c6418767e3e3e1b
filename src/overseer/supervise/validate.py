"""Validation: the agent's result and claims against the evidence (diff, gates, tool calls)."""

from __future__ import annotations

from collections.abc import Sequence

from overseer.domain import Evidence, Finding, GateResult
from overseer.supervise.claims import Claims
from overseer.supervise.policy import finding
from overseer.text import clip
from overseer.workspace.files import is_test_file

STAGE = "validate"


def _finding(code: str, message: str) -> Finding:
    return finding(STAGE, code, message)


def validate(evidence: Evidence, claims: Claims) -> tuple[Finding, ...]:
    """Findings about the run itself, before any gate runs."""
    findings = [*_run_problems(evidence), *_denials(evidence)]
    if evidence.cut_short:
        return tuple(findings)
    findings += _claim_problems(evidence, claims)
    findings += _test_edits(evidence)
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


def _denials(evidence: Evidence) -> list[Finding]:
    return [
        _finding("tool_denied", f"overseer refused a {call.name} call: {call.reason}")
        for call in evidence.result.denied_calls
    ]


def _claim_problems(evidence: Evidence, claims: Claims) -> list[Finding]:
    changed = set(evidence.changed_paths)
    if claims.failure:
        said = clip(evidence.result.text.strip(), 300)
        return [_finding("agent_reported_failure", f"the agent said it did not finish: {said}")]
    if claims.question and not changed:
        return [_finding("agent_question", f"the agent asks: {claims.question}")]
    if not changed:
        if claims.success:
            message = "the agent claimed success but no file in the workspace changed"
            return [_finding("claim_without_change", message)]
        return [_finding("no_change", "the attempt changed no file in the workspace")]
    return [
        _finding("false_claim", f"the agent said it created or changed {name}, but it did not")
        for name in claims.files
        if not _matches_any(name, changed)
    ]


def _matches_any(name: str, changed: set[str]) -> bool:
    return any(path == name or path.endswith("/" + name) for path in changed)


def _test_edits(evidence: Evidence) -> list[Finding]:
    edited = [c.path for c in evidence.changes if c.kind != "added" and is_test_file(c.path)]
    if not edited:
        return []
    message = f"the agent changed existing tests ({', '.join(edited)}): check that it did not weaken them"
    return [_finding("tests_modified", message)]


def contradictions(claims: Claims, gates: Sequence[GateResult]) -> tuple[Finding, ...]:
    """A claim that the tests pass, against the tests gate that says otherwise."""
    tests = next((g for g in gates if g.name == "tests"), None)
    if not claims.tests_pass or tests is None or tests.passed is not False:
        return ()
    total = tests.passed_count + tests.failed_count
    message = f"the agent said the tests pass, but overseer ran them: {tests.failed_count} of {total} failed"
    return (_finding("false_claim", message),)
