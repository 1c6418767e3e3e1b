"""Quality gates: checks overseer runs itself, so an attempt is judged on results, not on claims.

Two gates for now, each a small function that turns the workspace into a `GateResult` and the
findings the agent must hear about:

- syntax: every Python file the agent added or modified must compile;
- tests: the workspace's test suite (or a configured command) runs in a real subprocess.

A gate that does not apply (no Python changed, no tests) reports `passed=None`, never a pass:
"nothing was checked" must not read as "all is well". The pytest output parsers are pure
functions so they can be tested on captured output without running anything.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from overseer.supervise.evidence import Evidence, Finding, GateResult, Severity

_STAGE = "gates"
_OUTPUT_TAIL = 4000  # characters of a gate's output kept in its GateResult
_FEEDBACK_TAIL = 1500  # characters of raw output quoted in feedback when pytest's summary is missing
_MAX_FAILURES = 5  # failing tests listed in feedback; more would drown the first ones
_KILL_GRACE_S = 5.0  # how long to wait for output after killing a timed-out command

# pytest's own norecursedirs defaults, plus overseer's state and virtualenvs: a test file there is
# not the project's.
_IGNORED_DIRS = frozenset({"node_modules", "venv", "build", "dist", "CVS", "_darcs", "{arch}", "__pycache__"})

GateOutcome = tuple[GateResult, tuple[Finding, ...]]


class GatesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    syntax: bool = True
    tests: bool = True
    # None: run pytest when the workspace has test files; a configured command always runs.
    test_command: list[str] | None = Field(default=None, min_length=1)
    test_timeout_s: float = Field(default=300, gt=0)


def default_test_command() -> list[str]:
    """pytest in overseer's own interpreter; `-rfE` makes it list every failure with its reason.

    `-p no:cacheprovider` keeps `.pytest_cache` out of the workspace, where it would show up
    as a change the agent never made.
    """
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE"]


def run_gates(evidence: Evidence, config: GatesConfig) -> tuple[tuple[GateResult, ...], tuple[Finding, ...]]:
    """Run the enabled gates in order; every gate runs even when an earlier one fails, so one
    retry's feedback carries every problem at once."""
    outcomes: list[GateOutcome] = []
    if config.syntax:
        outcomes.append(syntax_gate(evidence))
    if config.tests:
        outcomes.append(tests_gate(evidence.workspace, config))
    results = tuple(result for result, _ in outcomes)
    findings = tuple(finding for _, gate_findings in outcomes for finding in gate_findings)
    return results, findings


# --- syntax gate ---------------------------------------------------------------------------------


def syntax_gate(evidence: Evidence) -> GateOutcome:
    """Compile every added or modified `.py` file; files the agent did not touch are not its fault."""
    paths = [
        change.path
        for change in evidence.changes
        if change.kind in ("added", "modified") and change.path.endswith(".py")
    ]
    paths = [path for path in paths if (evidence.workspace / path).is_file()]
    if not paths:
        return GateResult(name="syntax", passed=None, summary="no Python files changed"), ()
    errors = [error for path in paths if (error := syntax_error(evidence.workspace, path))]
    findings = tuple(Finding(_STAGE, "syntax_error", Severity.BLOCKING, error) for error in errors)
    if not errors:
        summary = f"{len(paths)} changed Python file(s) compile"
    else:
        summary = f"{len(errors)} of {len(paths)} changed Python file(s) do not compile"
    result = GateResult(
        name="syntax",
        passed=not errors,
        summary=summary,
        output="\n".join(errors),
        passed_count=len(paths) - len(errors),
        failed_count=len(errors),
    )
    return result, findings


def syntax_error(workspace: Path, path: str) -> str:
    """Return "path line N: message" if the file does not compile, else "".

    `compile` rather than `ast.parse`: it also catches errors found after parsing, such as
    `return` outside a function. Bytes, so a PEP 263 encoding line is honoured.
    """
    source = (workspace / path).read_bytes()
    try:
        with warnings.catch_warnings():
            # An invalid escape sequence warns but runs: not this gate's business.
            warnings.simplefilter("ignore")
            compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f" line {exc.lineno}" if exc.lineno else ""
        return f"{path}{where}: {exc.msg}"
    except ValueError as exc:  # null bytes in the source
        return f"{path}: {exc}"
    return ""


# --- tests gate ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandRun:
    exit_code: int | None  # None: killed after the timeout
    output: str  # stdout and stderr, interleaved as they were written


def tests_gate(workspace: Path, config: GatesConfig) -> GateOutcome:
    """Run the test command and turn its exit code and pytest's summary into feedback."""
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
    output = run.output[-_OUTPUT_TAIL:]
    if run.exit_code == 0:
        summary = counts.raw if counts else f"`{shown}` exited with code 0"
        return GateResult("tests", True, summary, output, passed_count, failed_count), ()
    if default and run.exit_code == 5:  # pytest's "no tests collected": test files, but no tests
        return _no_tests("no tests ran", "Test files exist but pytest collected no tests from them.")
    message = failure_feedback(run, shown, counts)
    finding = Finding(_STAGE, "tests_failed", Severity.BLOCKING, message)
    summary = f"{failed_count} of {counts.ran} tests failed" if counts else f"exited with code {run.exit_code}"
    return GateResult("tests", False, summary, output, passed_count, failed_count), (finding,)


def _no_tests(summary: str, message: str) -> GateOutcome:
    finding = Finding(_STAGE, "no_tests", Severity.INFO, message)
    return GateResult(name="tests", passed=None, summary=summary), (finding,)


def _failed_to_run(code: str, summary: str, message: str, output: str) -> GateOutcome:
    finding = Finding(_STAGE, code, Severity.BLOCKING, message)
    return GateResult(name="tests", passed=False, summary=summary, output=output[-_OUTPUT_TAIL:]), (finding,)


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
        return f"{headline}\nEnd of its output:\n{run.output[-_FEEDBACK_TAIL:].strip()}"
    lines = [
        f"- {failure.test_id}: {failure.reason}" if failure.reason else f"- {failure.test_id}"
        for failure in failures[:_MAX_FAILURES]
    ]
    if len(failures) > _MAX_FAILURES:
        lines.append(f"- ... and {len(failures) - _MAX_FAILURES} more")
    return "\n".join([headline, *lines])


def has_tests(workspace: Path) -> bool:
    return next(_test_files(workspace), None) is not None


def _test_files(workspace: Path) -> Iterator[Path]:
    """Files pytest would collect by default, skipping hidden dirs (.git, .venv, .overseer...)."""
    for root, dirs, files in os.walk(workspace):
        dirs[:] = [d for d in dirs if not (d.startswith(".") or d.endswith(".egg") or d in _IGNORED_DIRS)]
        for name in files:
            if name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")):
                yield Path(root, name)


def run_command(command: list[str], cwd: Path, timeout_s: float) -> CommandRun:
    """Run `command` in `cwd`; on timeout kill it and everything it started.

    Its own session (process group) lets the kill reach grandchildren too: a hung test server
    left behind would hold the output pipe open and keep overseer waiting forever.
    """
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ in the workspace from our own run
        "COLUMNS": "250",  # pytest trims failure reasons to the terminal width, 80 without a tty
    }
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,  # a test waiting for input must fail, not hang
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=os.name == "posix",
    ) as proc:
        try:
            output, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return CommandRun(exit_code=None, output=_kill(proc))
        return CommandRun(exit_code=proc.returncode, output=output)


def _kill(proc: subprocess.Popen[str]) -> str:
    """Kill the process group and return whatever output it had written."""
    if os.name == "posix":
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.kill()
    try:
        output, _ = proc.communicate(timeout=_KILL_GRACE_S)
    except subprocess.TimeoutExpired:  # a grandchild escaped the group and holds the pipe
        proc.kill()
        return ""
    return output


# --- pytest output parsing (pure) ----------------------------------------------------------------


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
