"""What a failed attempt looks like, in short digests: two attempts with the same digest failed the same way.

The decision engine compares an attempt's signature with the previous one's (`decide.repeated`):
the same failing tests, the same blocking findings or an identical diff on two attempts in a row
mean a third would fail the same way, so the task goes to a human with a brief saying what repeats.
The keys are worded for that brief ("stuck: the same failing tests as on the previous attempt").

What varies between two runs of the same failure is left out: durations, counts, memory addresses
and temp paths in messages; the order in which tests failed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

from overseer.domain import Finding, GateResult, Severity
from overseer.supervise.gates.pytest_output import parse_failures

FAILING_TESTS, FINDINGS, DIFF = "failing tests", "findings", "diff"

# What changes from run to run in the same failure's message: temp paths, addresses, numbers.
_VOLATILE = (
    (re.compile(r"(?:/tmp|/var/folders|/private/var)/\S+"), "<tmp>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<addr>"),
    (re.compile(r"(?<![A-Za-z_])\d+(?:\.\d+)?"), "<n>"),  # "in 0.03s", "line 12"; not the 1 of test_case1
)


def signature(findings: Sequence[Finding], gates: Sequence[GateResult], diff: str) -> dict[str, str]:
    """Digests of the failing tests, the blocking findings and the diff; "" for what there is none of."""
    blocking = {(f.code, normalise(f.message)) for f in findings if f.severity is Severity.BLOCKING}
    return {
        FAILING_TESTS: digest(failing_tests(gates)),
        FINDINGS: digest(f"{code}: {message}" for code, message in blocking),
        DIFF: digest([diff] if diff.strip() else []),
    }


def failing_tests(gates: Sequence[GateResult]) -> set[str]:
    """Test ids that failed in any test gate: from its details when it recorded them, else read from
    pytest's output."""
    failed: set[str] = set()
    for gate in gates:
        if "failed_tests" in gate.details:
            failed.update(str(test_id) for test_id in gate.details["failed_tests"])
        elif gate.passed is False and "test" in gate.name:
            failed.update(failure.test_id for failure in parse_failures(gate.output))
    return failed


def normalise(message: str) -> str:
    for pattern, placeholder in _VOLATILE:
        message = pattern.sub(placeholder, message)
    return " ".join(message.split())


def digest(items: Iterable[str]) -> str:
    """A short stable digest of a set of strings (order does not count); "" for none."""
    unique = sorted(set(items))
    if not unique:
        return ""
    return hashlib.sha256("\n".join(unique).encode()).hexdigest()[:16]
