"""The fail-first gate: a test the attempt wrote must fail without the attempt's change.

A test that passes on the code before the attempt would have passed had the agent changed nothing:
it does not test the change. Agents write such tests often (they assert what the code already did,
or nothing that matters), and the tests gate cannot tell, since on the new code they pass as a real
test would. So every test the agent added or edited, and that passes on the new code, runs once
more: in a scratch copy of the code before the change, with the test-related files (tests,
conftest.py, helpers, pytest's configuration) copied in as the attempt left them.

"Before the change" is the snapshot before the task's first attempt (`Evidence.task_checkpoint`),
not the one before this attempt: a retry builds on the earlier attempts' work, and a retry that only
fixes its test would otherwise run it on code that already has the change.

- It fails there (or errors, or is not even collected): it tests the change. A test of a function
  the attempt added errors before it (ImportError, AttributeError, NameError), which is the proof.
- It passes there: it does not test the change.

How grave that is depends on the rest of the attempt:
- it changed code (a Python file that is no test) and none of its tests fails without the change:
  nothing it wrote tests what it did. Blocking (`vacuous_test`), back to the agent, each test named.
  A refactoring's characterisation tests are caught too; override the row for such work.
- some other test of the attempt fails first: the passing ones guard behaviour the change must keep;
- it changed no code (a task that adds tests for existing code): its tests must pass on the old code.
The last two are recorded (`tests_pass_before`, info) and shown, never held against it.

Cheap: one pytest run, of the files that hold the tests to check (node ids would abort the whole
run on the one id the old code does not collect), bounded by `gates.test_timeout_s`. Which tests
pass on the new code it reads from the tests gate's run, so it runs after that gate, and not at all
with a configured test command (no per-test outcomes) or without snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath
from typing import Any

from overseer.domain import FileChange, Finding, GateResult
from overseer.supervise.gates.base import STAGE, GateContext, GateOutcome
from overseer.supervise.gates.commands import SuiteRun, run_pytest
from overseer.supervise.gates.compare import clean_reason
from overseer.supervise.gates.pytest_output import PytestReport, crash_reason
from overseer.supervise.gates.suites import TestFileEdit, after_runs, bring_in, edits_to_tests, has_tests, private_dir
from overseer.supervise.gates.tests_report import EMPTY
from overseer.supervise.policy import finding
from overseer.supervise.tamper import edited_tests, find_tests
from overseer.workspace.files import is_test_file, touches_tests

NAME = "fail_first"
_MAX_CHECKED = 50  # tests checked in one attempt; more are listed as unchecked
_MAX_LISTED = 10  # tests named in one finding
_PASSING = frozenset({"passed", "xpassed"})
_MAX_PARSED_BYTES = 1_000_000  # a larger test file (generated data) is not read for its tests
NOT_REACHED = "not reached"  # the run was stopped before the test: no verdict either way


@dataclass(frozen=True)
class Check:
    """One test of the attempt on the code before it: pytest's outcome there, and why."""

    test: str
    before: str  # pytest's word, "not collected", "did not finish", or NOT_REACHED
    reason: str = ""

    @property
    def fails_first(self) -> bool:
        return self.before not in _PASSING and self.before != NOT_REACHED

    @property
    def passes_before(self) -> bool:
        return self.before in _PASSING

    def line(self) -> str:
        reason = f" ({self.reason})" if self.reason else ""
        return f"- {self.test}: {self.before} without the change{reason}"


def fail_first_gate(ctx: GateContext) -> GateOutcome:
    evidence, scratch = ctx.evidence, ctx.scratch
    if scratch is None or not (evidence.checkpoint_before and evidence.checkpoint_after):
        return GateResult(NAME, None, "no snapshots to run the tests on"), ()
    if ctx.config.test_command is not None:
        return GateResult(NAME, None, "a configured test command gives no per-test outcomes"), ()
    if not has_tests(scratch, evidence.checkpoint_after):
        return GateResult(NAME, None, "no tests"), ()
    start = evidence.task_checkpoint or evidence.checkpoint_before
    changes = evidence.changes
    if start != evidence.checkpoint_before:  # a retry: "without the change" is the task's starting point
        changes = scratch.checkpoints.changes(start, evidence.checkpoint_after)
    edits = edits_to_tests(scratch, changes)
    written = _written(edits, after_runs(ctx).agent.report or EMPTY)  # the tests gate's run, not a new one
    if not written:
        return GateResult(NAME, None, "no test added or changed that passes on the new code"), ()
    checked = written[:_MAX_CHECKED]
    root = scratch.copy(start, "fail-first")
    bring_in(root, edits, scratch.host)
    files = sorted({test.split("::", 1)[0] for test in checked})
    run = run_pytest(root, ctx.config.test_timeout_s, private_dir(root), tests=files, scratch=scratch)
    checks = _checks(checked, run, root)
    code_changed = changed_code(changes)
    findings = _findings(checks, code_changed)
    return _result(checks, written[_MAX_CHECKED:], code_changed, run, findings), tuple(findings)


def _written(edits: tuple[TestFileEdit, ...], agent: PytestReport) -> list[str]:
    """The tests added or edited since the start (by name, in the files' two versions) that pass on
    the new code: a failing one is already the tests gate's finding."""
    whole: set[str] = set()  # new test files: every test in them
    names: set[str] = set()  # `path::test` or `path::TestClass::test`, new or changed
    for edit in edits:
        if edit.after is None or not is_test_file(edit.path) or len(edit.after) > _MAX_PARSED_BYTES:
            continue
        if edit.before is None:
            whole.add(edit.path)
            continue
        before, after = edit.text(edit.before) or "", edit.text(edit.after) or ""
        added = find_tests(after).keys() - find_tests(before).keys()
        names |= {f"{edit.path}::{test}" for test in (*added, *edited_tests(before, after))}
    return [
        test
        for test, outcome in sorted(agent.outcomes.items())
        if "::" in test and outcome == "passed" and (test.split("::", 1)[0] in whole or test.split("[", 1)[0] in names)
    ]


def _checks(tests: list[str], run: SuiteRun, root: PurePath) -> list[Check]:
    report = run.report or EMPTY
    checks = []
    for test in tests:
        file = test.split("::", 1)[0]
        outcome = report.outcomes.get(test) or report.outcomes.get(file)
        reason = report.reasons.get(test) or report.reasons.get(file, "")
        if outcome is not None:
            checks.append(Check(test, outcome, clean_reason(reason, (root,))))
        elif run.timed_out:
            stuck = report.running == test
            checks.append(Check(test, "did not finish" if stuck else NOT_REACHED))
        elif not run.started:  # pytest stopped before collecting: a conftest needs the new code
            checks.append(Check(test, "error", clean_reason(crash_reason(run.run.output), (root,))))
        else:
            checks.append(Check(test, "not collected"))
    return checks


def changed_code(changes: tuple[FileChange, ...]) -> bool:
    """The attempt changed code, not only tests: a Python file that is no test-related file."""
    return any(
        PurePosixPath(change.path).suffix in (".py", ".pyi") and not touches_tests(change.path) for change in changes
    )


def _findings(checks: list[Check], code_changed: bool) -> list[Finding]:
    passing = [check for check in checks if check.passes_before]
    if not passing:
        return []
    names = [check.test.split("::", 1)[1] for check in passing]
    if code_changed and not any(check.fails_first for check in checks):
        return [finding(STAGE, "vacuous_test", _vacuous_message(passing, names))]
    why = (
        "the attempt changed no code, so they test what was there"
        if not code_changed
        else "other tests of the attempt fail without the change, so these guard what it must keep"
    )
    message = f"{_listing(passing)} pass on the code before the attempt too ({why})."
    return [finding(STAGE, "tests_pass_before", message)]


def _vacuous_message(passing: list[Check], names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    verb = "passes" if len(passing) == 1 else "pass"
    more = f" (and {len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else ""
    return (
        f"{shown}{more} {verb} without your change; make {'it' if len(passing) == 1 else 'them'} test what "
        f"you changed: a test of the change must fail on the code before it.\n{_listing(passing)}"
    )


def _listing(checks: list[Check]) -> str:
    lines = [check.line() for check in checks[:_MAX_LISTED]]
    if len(checks) > _MAX_LISTED:
        lines.append(f"- ... and {len(checks) - _MAX_LISTED} more")
    return "\n".join(lines)


def _result(
    checks: list[Check], unchecked: list[str], code_changed: bool, run: SuiteRun, findings: list[Finding]
) -> GateResult:
    failing = [check for check in checks if check.fails_first]
    passing = [check for check in checks if check.passes_before]
    vacuous = any(f.code == "vacuous_test" for f in findings)
    details: dict[str, Any] = {
        "tests": {check.test: {"before": check.before, "reason": check.reason} for check in checks},
        "fail_first": [check.test for check in failing],
        "pass_before": [check.test for check in passing],
        "unchecked": unchecked,
        "code_changed": code_changed,
        "seconds": round(run.seconds, 3),
    }
    summary = f"{len(failing)} of {len(checks)} new or changed test(s) fail without the change"
    if not failing and not passing:
        return GateResult(NAME, None, summary + " (no verdict: the run was stopped)", details=details)
    return GateResult(NAME, not vacuous, summary, details=details)
