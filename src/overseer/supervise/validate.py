"""Validation: the agent's result and claims against the evidence (diff, gates, tool calls)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from overseer.supervise.claims import Claims
from overseer.supervise.evidence import Evidence, Finding, GateResult, Severity

STAGE = "validate"


def _finding(code: str, severity: Severity, message: str) -> Finding:
    return Finding(STAGE, code, severity, message)


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
        return [_finding("timeout", Severity.BLOCKING, "the agent went silent and overseer stopped the attempt")]
    if evidence.timed_out:
        return [_finding("timeout", Severity.BLOCKING, "the attempt ran out of time and overseer stopped it")]
    if evidence.result.is_error:
        message = f"the agent's run ended in an error: {evidence.result.error or 'no detail given'}"
        return [_finding("agent_error", Severity.BLOCKING, message)]
    return []


def _denials(evidence: Evidence) -> list[Finding]:
    return [
        _finding("tool_denied", Severity.WARNING, f"overseer refused a {call.name} call: {call.reason}")
        for call in evidence.result.denied_calls
    ]


def _claim_problems(evidence: Evidence, claims: Claims) -> list[Finding]:
    changed = set(evidence.changed_paths)
    if claims.failure:
        said = evidence.result.text.strip()[:300]
        return [_finding("agent_reported_failure", Severity.BLOCKING, f"the agent said it did not finish: {said}")]
    if claims.question and not changed:
        return [_finding("agent_question", Severity.BLOCKING, f"the agent asks: {claims.question}")]
    if not changed:
        if claims.success:
            message = "the agent claimed success but no file in the workspace changed"
            return [_finding("claim_without_change", Severity.BLOCKING, message)]
        return [_finding("no_change", Severity.BLOCKING, "the attempt changed no file in the workspace")]
    return [
        _finding("false_claim", Severity.BLOCKING, f"the agent said it created or changed {name}, but it did not")
        for name in claims.files
        if not _matches_any(name, changed)
    ]


def _matches_any(name: str, changed: set[str]) -> bool:
    return any(path == name or path.endswith("/" + name) for path in changed)


def _test_edits(evidence: Evidence) -> list[Finding]:
    edited = [c.path for c in evidence.changes if c.kind != "added" and _is_test_file(c.path)]
    if not edited:
        return []
    message = f"the agent changed existing tests ({', '.join(edited)}): check that it did not weaken them"
    return [_finding("tests_modified", Severity.WARNING, message)]


def _is_test_file(path: str) -> bool:
    name = PurePosixPath(path).name
    return name.startswith("test_") or name.endswith("_test.py") or "/tests/" in f"/{path}"


def contradictions(claims: Claims, gates: Sequence[GateResult]) -> tuple[Finding, ...]:
    """A claim that the tests pass, against the tests gate that says otherwise."""
    tests = next((g for g in gates if g.name == "tests"), None)
    if not claims.tests_pass or tests is None or tests.passed is not False:
        return ()
    total = tests.passed_count + tests.failed_count
    message = f"the agent said the tests pass, but overseer ran them: {tests.failed_count} of {total} failed"
    return (_finding("false_claim", Severity.BLOCKING, message),)
