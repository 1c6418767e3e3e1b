"""The tests gate: the tests the agent cannot game, run by overseer in copies the agent cannot touch.

With the attempt's snapshots (the usual case) it compares three pytest runs: the baseline (the
code before the attempt), the original tests against the new code, and the tests as the agent left
them (see suites.py and compare.py). Without snapshots it runs the suite once in the workspace and
judges by that run alone. A configured `gates.test_command` gives no per-test outcomes: it is judged
by its exit code, run with the original tests, and never verifies when it filters tests away.
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from overseer.domain import Finding, GateResult
from overseer.supervise.gates.base import STAGE, GateContext, GateOutcome
from overseer.supervise.gates.commands import CANNOT_START, CommandRun, run_command
from overseer.supervise.gates.compare import clean_reason, compare
from overseer.supervise.gates.pytest_output import (
    TestCounts,
    crash_reason,
    parse_failures,
    parse_summary,
)
from overseer.supervise.gates.suites import (
    AfterRuns,
    after_runs,
    edits_to_tests,
    has_tests,
    original_test_files,
    put_back,
)
from overseer.supervise.gates.tests_report import EMPTY, OUTPUT_TAIL, findings_of, result_of
from overseer.supervise.policy import finding
from overseer.supervise.tamper import command_filters
from overseer.text import clip_tail
from overseer.workspace.files import test_files
from overseer.workspace.host import Host

if TYPE_CHECKING:  # baseline.py runs pytest with the gates' runner: a run-time import would be a cycle
    from overseer.supervise.baseline import Baseline

_FEEDBACK_TAIL = 1500  # characters of raw output quoted in feedback when pytest's summary is missing
_MAX_FAILURES = 5  # failing tests listed in feedback; more would drown the first ones


def default_test_command() -> list[str]:
    """pytest in overseer's own interpreter; `-rfE` makes it list every failure with its reason.

    `-p no:cacheprovider` keeps `.pytest_cache` out of the workspace, where it would show up
    as a change the agent never made.
    """
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE"]


def tests_gate(ctx: GateContext) -> GateOutcome:
    evidence, scratch = ctx.evidence, ctx.scratch
    if scratch is None or not (evidence.checkpoint_before and evidence.checkpoint_after):
        return workspace_gate(ctx)
    if ctx.config.test_command is not None:
        return _command_gate(ctx, ctx.config.test_command)
    if not (has_tests(scratch, evidence.checkpoint_before) or has_tests(scratch, evidence.checkpoint_after)):
        return _no_tests("no tests found", "No test files (test_*.py, *_test.py) before or after the attempt.")
    return judge_runs(ctx, _baseline(ctx), after_runs(ctx))


def _baseline(ctx: GateContext) -> Baseline:
    """The baseline the judge ran while the agent worked, else the cached one, else run now."""
    if ctx.baseline is not None:
        return ctx.baseline
    from overseer.supervise.baseline import Baselines, kept_in  # here: baseline.py imports this package

    assert ctx.scratch is not None
    kept = kept_in(ctx.evidence.workspace, ctx.host, ctx.local_workspace)
    return Baselines(kept, ctx.config).get(ctx.scratch, ctx.evidence.checkpoint_before)


# --- the snapshots' runs ----------------------------------------------------------------------------


def judge_runs(ctx: GateContext, baseline: Baseline, runs: AfterRuns) -> GateOutcome:
    """The baseline and the runs after the attempt, turned into the gate's result and findings."""
    problem = _originals_problem(baseline, runs, ctx.config.test_timeout_s)
    if problem is not None:
        return problem
    originals = runs.originals.report or EMPTY
    agent_findings = [] if runs.single else _agent_problem(runs, ctx.config.test_timeout_s)
    agent = None if runs.single else (runs.agent.report or EMPTY)
    roots = (runs.originals_root, runs.agent_root)
    seen = compare(baseline, originals, agent, runs.edits, ctx.evidence.task, roots)
    findings = [*findings_of(seen, runs), *agent_findings]
    if not originals.outcomes and not seen.new_tests and not findings:
        return _no_tests("no tests ran", "Test files exist but pytest collected no tests from them.")
    return result_of(seen, baseline, runs, findings), tuple(findings)


def _originals_problem(baseline: Baseline, runs: AfterRuns, timeout_s: float) -> GateOutcome | None:
    """The original tests hung or pytest could not start: on the new code only, the attempt's fault;
    before the attempt as well, the tests cannot judge it."""
    run = runs.originals
    output = clip_tail(run.run.output, OUTPUT_TAIL)
    if run.timed_out:
        stuck = f"; it was stopped in {run.report.running}" if run.report and run.report.running else ""
        if baseline.timed_out:
            return _unusable(f"The tests cannot judge this attempt: {baseline.note}.", output)
        took = f" (before the attempt they took {baseline.seconds:.1f}s)" if baseline.usable else ""
        message = (
            f"The tests did not finish within {timeout_s:g}s on the new code{took}{stuck}. "
            "A test may hang, wait for input or loop forever."
        )
        return _failed_to_run("tests_timeout", f"timed out after {timeout_s:g}s", message, output)
    if not run.started:
        if not baseline.usable and not baseline.timed_out:
            return _unusable(f"The tests cannot judge this attempt: {baseline.note}.", output)
        reason = clean_reason(crash_reason(run.run.output), (runs.originals_root,))
        message = f"pytest could not start on the new code (it did before the attempt): {reason}"
        return _failed_to_run("tests_failed", "pytest could not start", message, output)
    return None


def _agent_problem(runs: AfterRuns, timeout_s: float) -> list[Finding]:
    run = runs.agent
    if run.timed_out:
        stuck = f"; it was stopped in {run.report.running}" if run.report and run.report.running else ""
        message = f"The tests as the attempt left them did not finish within {timeout_s:g}s{stuck}."
        return [finding(STAGE, "new_test_failed", message)]
    if not run.started:
        reason = clean_reason(crash_reason(run.run.output), (runs.agent_root,))
        message = f"pytest could not start with the attempt's test changes: {reason}"
        return [finding(STAGE, "new_test_failed", message)]
    return []


def _unusable(message: str, output: str) -> GateOutcome:
    result = GateResult("tests", None, "the tests cannot run, even before the attempt", output)
    return result, (finding(STAGE, "tests_unusable", message),)


# --- a configured test command, in the snapshots' copies --------------------------------------------


def _command_gate(ctx: GateContext, command: list[str]) -> GateOutcome:
    """Judged by its exit code, as there are no per-test outcomes; it runs with the original tests
    put back, and with the agent's when the attempt changed them."""
    scratch, evidence, timeout = ctx.scratch, ctx.evidence, ctx.config.test_timeout_s
    assert scratch is not None
    baseline = _baseline(ctx)
    edits = edits_to_tests(scratch, evidence.changes)
    originals = scratch.copy(evidence.checkpoint_after, "originals")
    put_back(originals, edits, scratch.host)
    outcome = _run_command_gate(command, originals, timeout, baseline, scratch.host)
    result, findings = outcome
    extra: list[Finding] = []
    if edits and result.passed:
        agent_root = scratch.copy(evidence.checkpoint_after, "agent")
        agent = _run_command_gate(command, agent_root, timeout, baseline, scratch.host)
        if agent[0].passed is False:
            message = "With the attempt's own test changes the test command fails:\n" + agent[1][0].message
            extra.append(finding(STAGE, "new_test_failed", message))
    filters = command_filters(command, original_test_files(scratch, originals, evidence.checkpoint_after, edits))
    if filters:
        message = (
            f"The test command `{_show(command)}` runs only some of the tests ({', '.join(filters)}): "
            "its result cannot verify the work."
        )
        extra.append(finding(STAGE, "tests_filtered", message))
        result = dataclasses.replace(result, verifies=False)
    return result, (*findings, *extra)


def _run_command_gate(
    command: list[str], cwd: PurePath, timeout_s: float, baseline: Baseline, host: Host
) -> GateOutcome:
    shown = _show(command)
    try:
        run = run_command(command, cwd, timeout_s, host=host)
    except CANNOT_START as exc:
        message = f"Test command `{shown}` could not be started: {exc}"
        return _failed_to_run("tests_not_run", f"could not start: {exc}", message, "")
    if run.exit_code is None:
        if baseline.timed_out:
            return _unusable(f"The test command cannot judge this attempt: {baseline.note}.", run.output)
        message = f"Test command `{shown}` did not finish within {timeout_s:g}s on the new code and was stopped."
        return _failed_to_run("tests_timeout", f"timed out after {timeout_s:g}s", message, run.output)
    result, findings = _judge_run(run, shown, default=False)
    if findings and baseline.usable and baseline.exit_code not in (0, None):
        note = f" (it failed before the attempt too, with exit code {baseline.exit_code})"
        findings = tuple(finding(STAGE, f.code, f.message + note) for f in findings)
    return result, findings


# --- without snapshots: the workspace itself ---------------------------------------------------------


def workspace_gate(ctx: GateContext) -> GateOutcome:
    """Run the test command in the workspace and judge by that one run (no baseline to compare)."""
    workspace, config = ctx.evidence.workspace, ctx.config
    command = config.test_command
    if command is None:
        if not has_test_files(workspace):
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
    output = clip_tail(run.output, OUTPUT_TAIL)
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
    result = GateResult(name="tests", passed=False, summary=summary, output=clip_tail(output, OUTPUT_TAIL))
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


def has_test_files(workspace: Path) -> bool:
    return next(test_files(workspace), None) is not None
