"""The tests gate: the workspace's test suite (or a configured command) in a real subprocess."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from overseer.domain import GateResult
from overseer.supervise.gates.base import STAGE, GateContext, GateOutcome
from overseer.supervise.gates.commands import CommandRun, run_command
from overseer.supervise.gates.pytest_output import TestCounts, parse_failures, parse_summary
from overseer.supervise.policy import finding
from overseer.text import clip_tail
from overseer.workspace.files import test_files

_OUTPUT_TAIL = 4000  # characters of a gate's output kept in its GateResult
_FEEDBACK_TAIL = 1500  # characters of raw output quoted in feedback when pytest's summary is missing
_MAX_FAILURES = 5  # failing tests listed in feedback; more would drown the first ones


def default_test_command() -> list[str]:
    """pytest in overseer's own interpreter; `-rfE` makes it list every failure with its reason.

    `-p no:cacheprovider` keeps `.pytest_cache` out of the workspace, where it would show up
    as a change the agent never made.
    """
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE"]


def tests_gate(ctx: GateContext) -> GateOutcome:
    """Run the test command and turn its exit code and pytest's summary into feedback."""
    workspace, config = ctx.evidence.workspace, ctx.config
    command = config.test_command
    if command is None:
        if not has_tests(workspace):
            return _no_tests("no tests found", "No test files (test_*.py, *_test.py) in the workspace.")
        command = default_test_command()
    shown = _show(command)
    try:
        run = run_command(command, workspace, config.test_timeout_s)
    except OSError as exc:  # FileNotFoundError, PermissionError: the command cannot start
        message = f"Test command `{shown}` could not be started: {exc}"
        return _failed_to_run("tests_not_run", f"could not start: {exc}", message, "")
    if run.exit_code is None:
        message = (
            f"Test command `{shown}` did not finish within {config.test_timeout_s:g}s and was stopped; "
            "a test may hang, wait for input or loop forever."
        )
        return _failed_to_run("tests_timeout", f"timed out after {config.test_timeout_s:g}s", message, run.output)
    return _judge_run(run, shown, default=config.test_command is None)


def _judge_run(run: CommandRun, shown: str, *, default: bool) -> GateOutcome:
    counts = parse_summary(run.output)
    passed_count = counts.passed if counts else 0
    failed_count = counts.failed + counts.errors if counts else 0
    output = clip_tail(run.output, _OUTPUT_TAIL)
    if run.exit_code == 0:
        summary = counts.raw if counts else f"`{shown}` exited with code 0"
        return GateResult("tests", True, summary, output, passed_count, failed_count, verifies=True), ()
    if default and run.exit_code == 5:  # pytest's "no tests collected": test files, but no tests
        return _no_tests("no tests ran", "Test files exist but pytest collected no tests from them.")
    message = failure_feedback(run, shown, counts)
    failed = finding(STAGE, "tests_failed", message)
    summary = f"{failed_count} of {counts.ran} tests failed" if counts else f"exited with code {run.exit_code}"
    return GateResult("tests", False, summary, output, passed_count, failed_count), (failed,)


def _no_tests(summary: str, message: str) -> GateOutcome:
    return GateResult(name="tests", passed=None, summary=summary), (finding(STAGE, "no_tests", message),)


def _failed_to_run(code: str, summary: str, message: str, output: str) -> GateOutcome:
    result = GateResult(name="tests", passed=False, summary=summary, output=clip_tail(output, _OUTPUT_TAIL))
    return result, (finding(STAGE, code, message),)


def _show(command: list[str]) -> str:
    """The command as the agent should read it: `python -m pytest`, not a long venv path."""
    program = "python" if command[0] == sys.executable else command[0]
    return shlex.join([program, *command[1:]])


def failure_feedback(run: CommandRun, shown: str, counts: TestCounts | None) -> str:
    """Feedback concrete enough to send to the agent as is: what failed and why."""
    if counts and counts.failed + counts.errors:
        headline = f"Tests failed: {counts.failed + counts.errors} of {counts.ran} failed ({counts.raw})."
    elif counts:
        headline = f"Test command `{shown}` exited with code {run.exit_code} although pytest reported: {counts.raw}."
    else:
        headline = f"Test command `{shown}` exited with code {run.exit_code}."
    failures = parse_failures(run.output)
    if not failures:
        return f"{headline}\nEnd of its output:\n{clip_tail(run.output.strip(), _FEEDBACK_TAIL)}"
    lines = [
        f"- {failure.test_id}: {failure.reason}" if failure.reason else f"- {failure.test_id}"
        for failure in failures[:_MAX_FAILURES]
    ]
    if len(failures) > _MAX_FAILURES:
        lines.append(f"- ... and {len(failures) - _MAX_FAILURES} more")
    return "\n".join([headline, *lines])


def has_tests(workspace: Path) -> bool:
    return next(test_files(workspace), None) is not None
