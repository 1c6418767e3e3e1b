"""Stuck detection: attempts that fail the same way have the same signature, and the decision stops.

The tests gate's output comes from real pytest runs on a small workspace, so the signature is tried
on what it will meet: durations that differ from run to run, failures listed in pytest's order.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from overseer.domain import Decision, Finding, GateResult, Verdict
from overseer.supervise.decide import DecisionEngine, repeated
from overseer.supervise.gates.pytest_output import parse_summary
from overseer.supervise.policy import finding
from overseer.supervise.signature import signature

TESTS = """\
from calc import mul


def test_mul():
    assert mul(4, 5) == 20


def test_zero():
    assert mul(0, 7) == 0
"""
STUB = "def mul(a, b):\n    raise NotImplementedError\n"
ADDS = "def mul(a, b):\n    return a + b\n"  # both tests fail
OFF_BY_ONE = "def mul(a, b):\n    return a * b + 1\n"  # both tests fail, with other values
ZERO_WRONG = "def mul(a, b):\n    return a * b if a else 7\n"  # only test_zero fails


Attempt = tuple[tuple[Finding, ...], tuple[GateResult, ...], str]


@pytest.fixture(scope="module")
def attempt(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Attempt]:
    """Each attempt's code is run once per module (a pytest run takes seconds on a busy machine)."""
    runs: dict[str, Attempt] = {}

    def run(code: str) -> Attempt:
        if code not in runs:
            runs[code] = _attempt(tmp_path_factory.mktemp("attempt"), code)
        return runs[code]

    return run


def _attempt(workspace: Path, code: str) -> Attempt:
    """Write `code` as calc.py, run pytest on it for real, and return the findings, gates and diff."""
    (workspace / "test_calc.py").write_text(TESTS)
    (workspace / "calc.py").write_text(code)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE"],
        cwd=workspace,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},  # only pytest itself: faster, and the same here
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    diff = "".join(difflib.unified_diff(STUB.splitlines(True), code.splitlines(True), "a/calc.py", "b/calc.py"))
    counts = parse_summary(run.stdout)
    assert counts is not None, run.stdout
    if run.returncode == 0:
        return (), (GateResult("tests", True, counts.raw, run.stdout, counts.passed, verifies=True),), diff
    gate = GateResult("tests", False, counts.raw, run.stdout, counts.passed, counts.failed)
    return (finding("gates", "tests_failed", f"Tests failed: {counts.raw}"),), (gate,), diff


def test_two_attempts_failing_the_same_tests_repeat_the_failing_tests(attempt: Callable[[str], Attempt]) -> None:
    first = signature(*attempt(ADDS))
    second = signature(*attempt(OFF_BY_ONE))

    assert first["failing tests"] and first["failing tests"] == second["failing tests"]
    assert first["diff"] != second["diff"]
    assert "the same failing tests" in repeated(first, second)
    assert "the same diff" not in repeated(first, second)


def test_a_different_failure_repeats_nothing(attempt: Callable[[str], Attempt]) -> None:
    first = signature(*attempt(ADDS))
    second = signature(*attempt(ZERO_WRONG))

    assert second["failing tests"] not in ("", first["failing tests"])
    assert repeated(first, second) == ""


def test_an_identical_diff_repeats(attempt: Callable[[str], Attempt]) -> None:
    findings, gates, diff = attempt(ADDS)
    reworded = (finding("gates", "tests_failed", "Tests failed again: test_mul, test_zero"),)

    assert "the same diff" in repeated(signature(findings, gates, diff), signature(reworded, (), diff))
    assert "the same diff" not in repeated(signature(findings, gates, diff), signature(reworded, (), diff + "+\n"))


def test_durations_and_addresses_do_not_make_findings_differ() -> None:
    before = finding("gates", "tests_failed", "1 failed in 0.03s: <Thing object at 0x7f3a2c1d0e50> in /tmp/pytest-7/x")
    after = finding("gates", "tests_failed", "1 failed in 1.20s: <Thing object at 0x7f00aa11bb22> in /tmp/pytest-9/x")
    other = finding("gates", "tests_failed", "1 failed in 0.03s: test_case2 raised")
    one = finding("gates", "tests_failed", "1 failed in 0.03s: test_case1 raised")

    assert signature([before], [], "")["findings"] == signature([after], [], "")["findings"] != ""
    assert signature([one], [], "")["findings"] != signature([other], [], "")["findings"]


def test_only_blocking_findings_count() -> None:
    warning = finding("validate", "tool_denied", "overseer refused a Write call: outside the workspace")
    assert signature([warning], [], "")["findings"] == ""


def test_nothing_failing_is_an_empty_signature_and_never_repeats() -> None:
    passing = signature((), (GateResult("tests", True, "2 passed", passed_count=2, verifies=True),), "")

    assert passing == {"failing tests": "", "findings": "", "diff": ""}
    assert repeated(passing, passing) == ""


def test_recorded_failed_tests_win_over_the_output_and_order_does_not_count() -> None:
    gate = GateResult(
        "tests", False, "2 failed", output="FAILED t.py::test_other", details={"failed_tests": ["a", "b"]}
    )
    reordered = GateResult("original tests", False, "2 failed", details={"failed_tests": ["b", "a"]})

    assert signature([], [gate], "")["failing tests"] == signature([], [reordered], "")["failing tests"]
    assert (
        signature([], [gate], "")["failing tests"]
        != signature([], [GateResult("tests", False, "", gate.output)], "")["failing tests"]
    )


def test_the_decision_stops_an_attempt_stuck_on_the_same_tests(attempt: Callable[[str], Attempt]) -> None:
    engine = DecisionEngine(proceed_threshold=0.7, max_attempts=5)
    first = attempt(ADDS)
    second = attempt(OFF_BY_ONE)
    verdict = Verdict(findings=second[0], gates=second[1], confidence=0.2, signature=signature(*second))

    outcome = engine.decide(verdict, 2, previous=signature(*first))

    assert outcome.decision is Decision.ESCALATE
    assert "stuck: the same failing tests" in outcome.brief and "Tests failed" in outcome.brief
    assert engine.decide(verdict, 2, previous=None).decision is Decision.RETRY
