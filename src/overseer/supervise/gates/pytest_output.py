"""pytest's output, read: the console's summary counts and failures, and the per-test report of
overseer's own plugin. Pure functions, so they can be tested on captured output without running
anything."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


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


# --- the report of overseer's own plugin (pytest_plugin.py) ------------------------------------------

FAILING = frozenset({"failed", "error"})  # outcomes that say the code (or the test) is wrong
NOT_RUN = frozenset({"skipped", "xfailed"})  # outcomes that prove nothing either way


@dataclass(frozen=True)
class PytestReport:
    """What overseer's plugin saw: every test's outcome, and how far pytest got."""

    outcomes: dict[str, str]  # node id -> outcome; a file that did not import is an "error" under its path
    reasons: dict[str, str]  # node id -> why it failed, was skipped or xfailed ("" when pytest gave none)
    collected: tuple[str, ...] | None  # the tests pytest was about to run; None: collection never finished
    running: str  # a test that started and never finished (the run was killed in it), else ""
    exit_status: int | None  # None: pytest never finished (killed, or crashed before its summary)

    @property
    def ran(self) -> int:
        """Tests that ran to a verdict: skipped and xfailed ones say nothing about the code."""
        return sum(outcome not in NOT_RUN for outcome in self.outcomes.values())

    def with_outcome(self, *outcomes: str) -> list[str]:
        return sorted(test for test, outcome in self.outcomes.items() if outcome in outcomes)


def read_report(text: str) -> PytestReport:
    """Read the plugin's JSON lines; a torn last line (the run was killed mid-write) is ignored."""
    outcomes: dict[str, str] = {}
    reasons: dict[str, str] = {}
    collected: tuple[str, ...] | None = None
    started: list[str] = []
    exit_status: int | None = None
    for record in _records(text):
        if "collected" in record:
            collected = tuple(record["collected"])
        elif "collect_error" in record:
            outcomes[record["collect_error"]] = "error"
            reasons[record["collect_error"]] = record.get("reason", "")
        elif "start" in record:
            started.append(record["start"])
        elif "test" in record and _replaces(outcomes.get(record["test"]), record["outcome"]):
            outcomes[record["test"]] = record["outcome"]
            reasons[record["test"]] = record.get("reason", "")
        elif "exit" in record:
            exit_status = int(record["exit"])
    running = started[-1] if started and started[-1] not in outcomes else ""
    return PytestReport(outcomes, reasons, collected, running, exit_status)


def _records(text: str) -> list[dict[str, Any]]:
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _replaces(old: str | None, new: str) -> bool:
    """A test reports up to three times (setup, call, teardown): the first verdict stands, except
    that an error in teardown spoils a pass."""
    return old is None or (new == "error" and old not in FAILING)


def crash_reason(output: str) -> str:
    """Why pytest stopped before running any test ("ImportError while loading conftest ..."): the
    last exception line of its output, else its last line."""
    lines = [line.rstrip() for line in _ANSI.sub("", output).splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("E "):
            return line[1:].strip()
    return lines[-1].strip() if lines else ""


_MISSING_MODULE = re.compile(r"No module named '(?P<module>[\w.]+)'")


def missing_module(reason: str) -> str:
    """The top-level module a ModuleNotFoundError names ("" when the reason is another error)."""
    match = _MISSING_MODULE.search(reason)
    return match["module"].split(".")[0] if match else ""
