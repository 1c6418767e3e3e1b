"""pytest's console output, read: the summary counts and the failures. Pure functions, so they can be
tested on captured output without running anything."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class TestCounts:
    __test__ = False  # not a test class, whatever its name says

    passed: int
    failed: int
    errors: int
    skipped: int
    raw: str  # the counts as pytest wrote them: "1 failed, 2 passed, 1 warning"

    @property
    def ran(self) -> int:
        return self.passed + self.failed + self.errors


@dataclass(frozen=True)
class TestFailure:
    __test__ = False

    test_id: str  # "tests/test_x.py::test_y", or a file for a collection error
    reason: str  # the first line of the error, "" when pytest gave none


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# "==== 1 failed, 2 passed in 0.03s ====", "3 passed in 61.2s (0:01:01)", "no tests ran in 0.01s"
_SUMMARY = re.compile(r"^=*\s*(?P<counts>no tests ran|\d+ \w+(?:, \d+ \w+)*) in [\d.]+s(?: \([\d:]+\))?\s*=*$")
_COUNT = re.compile(r"(\d+) (\w+)")
_SHORT_SUMMARY = re.compile(r"^(?P<kind>FAILED|ERROR) (?P<id>.+?)(?: - (?P<reason>.*))?$")
_EXCEPTION_LINE = re.compile(r"^E\s+(?P<line>[\w.]*(?:Error|Exception|Exit|Interrupt)\b.*)$")


def parse_summary(output: str) -> TestCounts | None:
    """Read the counts from pytest's final summary line; None if the output has none."""
    for line in reversed(_ANSI.sub("", output).splitlines()):
        match = _SUMMARY.match(line.strip())
        if match:
            return _counts(match["counts"])
    return None


def _counts(raw: str) -> TestCounts:
    found: dict[str, int] = {}
    for number, word in _COUNT.findall(raw):
        found[word.removesuffix("s")] = int(number)  # "errors" and "error" are the same count
    return TestCounts(
        passed=found.get("passed", 0),
        failed=found.get("failed", 0),
        errors=found.get("error", 0),
        skipped=found.get("skipped", 0),
        raw=raw,
    )


def parse_failures(output: str) -> tuple[TestFailure, ...]:
    """The FAILED/ERROR lines of pytest's short test summary (`-rfE`), in order."""
    lines = _ANSI.sub("", output).splitlines()
    failures = []
    for line in lines:
        match = _SHORT_SUMMARY.match(line)
        if match:
            reason = match["reason"] or _collection_error(lines, match["id"])
            failures.append(TestFailure(match["id"], reason.strip()))
    return tuple(failures)


def _collection_error(lines: list[str], test_id: str) -> str:
    """pytest prints no reason for some collection errors (a SyntaxError, an ImportError):
    take the exception line from that file's "ERROR collecting" section instead."""
    header = f" ERROR collecting {test_id} "
    start = next((i for i, line in enumerate(lines) if header in line), None)
    if start is None:
        return ""
    for line in lines[start + 1 :]:
        if line.startswith("____") or line.startswith("===="):  # the next section
            break
        match = _EXCEPTION_LINE.match(line)
        if match:
            return match["line"]
    return ""
