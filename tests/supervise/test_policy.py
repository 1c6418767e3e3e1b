"""The policy table: every code a stage can emit has a row, overrides work, and findings reach whom
the table says (the agent hears only of what it can fix; overseer's own failures never reach it)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import overseer
from overseer.domain import Decision, Finding, GateResult, Route, Severity, Verdict
from overseer.supervise.decide import DecisionEngine
from overseer.supervise.policy import DEFAULT_POLICY, RULES, Policy, UnknownFindingCode, finding, render_markdown

SOURCE = Path(overseer.__file__).parent


def code_parameters(trees: list[ast.Module]) -> dict[str, int]:
    """Functions that take a finding code: name -> the position of their `code` argument at a call
    (`finding(stage, code, message)`, `_finding(code, message)`, helpers that pass a code on)."""
    positions = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                names = [arg.arg for arg in node.args.args]
                if "code" in names:
                    positions[node.name] = names.index("code") - (names[:1] in (["self"], ["cls"]))
    return positions


def literal_codes(node: ast.expr) -> Iterator[str]:
    """The string literals an argument can be: `"x"`, or both branches of `"x" if ... else "y"`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from literal_codes(node.body)
        yield from literal_codes(node.orelse)


def emitted_codes() -> dict[str, str]:
    """Every finding code written as a literal anywhere under src/overseer -> where it is."""
    files = sorted(SOURCE.rglob("*.py"))
    trees = [ast.parse(path.read_text(encoding="utf-8")) for path in files]
    takes_code = code_parameters(trees)
    found: dict[str, str] = {}
    for path, tree in zip(files, trees, strict=True):
        for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
            name = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
            if name not in takes_code:
                continue
            position = takes_code[name]
            args = [*call.args[position : position + 1], *(k.value for k in call.keywords if k.arg == "code")]
            for code in (code for arg in args for code in literal_codes(arg)):
                found.setdefault(code, f"{path.relative_to(SOURCE)}:{call.lineno}")
    return found


def test_the_scan_finds_the_codes_of_every_stage() -> None:
    """The scan is not vacuous: codes from validation, the gates (also through a helper that passes the
    code on), and the review (both branches of a conditional) are all found."""
    found = emitted_codes()
    assert {"timeout", "agent_question", "false_claim", "syntax_error", "tests_failed", "tests_not_run"} <= set(found)
    assert {"review_unavailable", "review_missing"} <= set(found)


def test_every_code_the_source_emits_has_a_row() -> None:
    missing = {code: where for code, where in emitted_codes().items() if code not in RULES}
    assert missing == {}, "finding codes without a row in supervise/policy.py RULES"


def test_every_row_says_what_it_means() -> None:
    assert all(rule.means.strip() for rule in RULES.values())


def test_an_unknown_code_raises() -> None:
    with pytest.raises(UnknownFindingCode):
        finding("gates", "no_such_code", "m")
    with pytest.raises(UnknownFindingCode):
        Policy({"no_such_code": {"severity": "info"}})


def test_an_override_changes_its_row_only() -> None:
    strict = Policy({"no_tests": {"severity": "blocking", "route": "human"}, "tests_modified": {"route": "nobody"}})

    assert strict.finding("gates", "no_tests", "m") == Finding("gates", "no_tests", Severity.BLOCKING, "m", Route.HUMAN)
    assert strict.finding("validate", "tests_modified", "m").severity is RULES["tests_modified"].severity
    assert strict.finding("validate", "tests_modified", "m").route is Route.NOBODY
    assert strict.finding("gates", "tests_failed", "m") == DEFAULT_POLICY.finding("gates", "tests_failed", "m")
    assert DEFAULT_POLICY.finding("gates", "no_tests", "m").severity is Severity.INFO  # the packaged table is untouched


def test_an_override_with_a_bad_value_raises() -> None:
    with pytest.raises(ValueError, match="fatal"):
        Policy({"no_tests": {"severity": "fatal"}})


def test_apply_reclassifies_findings_under_the_users_table() -> None:
    quiet = Policy({"lint_problems": {"severity": "info", "route": "nobody"}})
    [applied] = quiet.apply([finding("gates", "lint_problems", "E501 in calc.py:3")])
    assert (applied.severity, applied.route, applied.message) == (Severity.INFO, Route.NOBODY, "E501 in calc.py:3")


# --- routing: the table decides who hears of a finding --------------------------------------------------

ENGINE = DecisionEngine(proceed_threshold=0.7, max_attempts=3)
VERIFIED = (GateResult("tests", True, "3 passed", passed_count=3, verifies=True),)


def decide(*findings: Finding) -> tuple[Decision, str, str]:
    outcome = ENGINE.decide(Verdict(findings=findings, gates=VERIFIED, confidence=0.5), 1)
    return outcome.decision, outcome.feedback, outcome.brief


def message(code: str) -> str:
    return f"<what {code} saw>"


@pytest.mark.parametrize("code", sorted(RULES))
def test_each_code_reaches_whom_its_row_names(code: str) -> None:
    """AGENT findings are feedback (blocking ones always, warnings when the confidence is low); HUMAN
    ones stop for a person; OVERSEER and NOBODY ones never reach the agent."""
    rule = RULES[code]
    decision, feedback, brief = decide(finding("any", code, message(code)))

    if rule.route is Route.AGENT and rule.severity is not Severity.INFO:
        assert decision is Decision.RETRY and message(code) in feedback
        return
    assert message(code) not in feedback
    if rule.severity is Severity.BLOCKING:
        assert decision in (Decision.ESCALATE, Decision.CLARIFY) and message(code) in brief
    if rule.route is Route.OVERSEER and rule.severity is Severity.BLOCKING:
        assert "overseer could not judge" in brief


def test_in_a_mixed_verdict_the_agent_hears_only_of_its_own_work() -> None:
    """One blocking finding the agent can fix, next to every finding that is not the agent's to fix
    and does not stop the attempt: the retry's feedback names the first and none of the others."""
    others = [
        finding("any", code, message(code))
        for code, rule in RULES.items()
        if rule.route is not Route.AGENT and rule.severity is not Severity.BLOCKING
    ]
    assert others, "the table has non-blocking findings for others"

    decision, feedback, _ = decide(finding("gates", "tests_failed", message("tests_failed")), *others)

    assert decision is Decision.RETRY and message("tests_failed") in feedback
    assert [f.code for f in others if f.message in feedback] == []


def test_overseers_own_blocking_failure_stops_without_blaming_the_agent() -> None:
    own = [code for code, rule in RULES.items() if rule.route is Route.OVERSEER and rule.severity is Severity.BLOCKING]
    assert own, "some failure of overseer's own blocks an attempt (a test command that cannot start)"

    decision, feedback, brief = decide(
        finding("gates", "tests_failed", message("tests_failed")), *(finding("gates", c, message(c)) for c in own)
    )

    assert decision is Decision.ESCALATE and feedback == ""
    assert all(message(code) in brief for code in own)


def test_docs_policy_md_is_current() -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "policy.md"
    assert page.read_text(encoding="utf-8") == render_markdown(), (
        "docs/policy.md is stale: run `.venv/bin/python -m overseer.supervise.policy > docs/policy.md`"
    )
