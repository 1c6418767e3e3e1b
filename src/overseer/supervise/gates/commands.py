"""Running a gate's command: its own process group, a timeout, and nothing left behind; and pytest
with overseer's plugin (and, when asked, under coverage.py), read back into per-test outcomes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from overseer.supervise.gates.pytest_output import PytestReport, read_report

_KILL_GRACE_S = 5.0  # how long to wait for output after killing a timed-out command


@dataclass(frozen=True)
class CommandRun:
    exit_code: int | None  # None: killed after the timeout
    output: str  # stdout and stderr, interleaved as they were written


def run_command(command: list[str], cwd: Path, timeout_s: float, env: Mapping[str, str] | None = None) -> CommandRun:
    """Run `command` in `cwd`; on timeout kill it and everything it started.

    Its own session (process group) lets the kill reach grandchildren too: a hung test server
    left behind would hold the output pipe open and keep overseer waiting forever.
    """
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ in the workspace from our own run
        "COLUMNS": "250",  # pytest trims failure reasons to the terminal width, 80 without a tty
        **(env or {}),
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


# --- pytest with overseer's plugin ----------------------------------------------------------------

PYTEST_ARGS = ("-q", "-rfE", "--continue-on-collection-errors", "-p", "no:cacheprovider", "-p", "no:randomly")
"""`-rfE` lists every failure with its reason; one test file that does not import must not stop the
others from running; no cache (no `.pytest_cache` litter, no `--lf` state carried between runs); no
random order, so that a test's outcome before and after the attempt is compared in the same order
and an order-dependent test cannot fake a regression."""

_PLUGIN = Path(__file__).with_name("pytest_plugin.py")
# `python -c` puts the working directory first on sys.path, as `python -m pytest` does. The plugin is
# loaded from its file: importing it by name would import overseer's gates package (and pydantic).
_BOOT = """\
import importlib.util, os, sys
import pytest
plugin_path, report, data_file, *args = sys.argv[1:]
spec = importlib.util.spec_from_file_location("overseer_pytest_plugin", plugin_path)
plugin = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plugin)
cov = None
if data_file:
    import coverage
    cov = coverage.Coverage(data_file=data_file, config_file=False, source=[os.getcwd()])
    cov.start()
try:
    status = pytest.main(args, plugins=[plugin.Recorder(report)])
finally:
    if cov is not None:
        cov.stop()
        cov.save()
sys.exit(int(status))
"""


@dataclass(frozen=True)
class SuiteRun:
    """One pytest run in one directory: the console, the plugin's report, the time it took."""

    run: CommandRun
    report: PytestReport | None  # None: pytest stopped before any test was collected (a conftest crashed)
    seconds: float
    coverage_file: Path | None = None  # coverage.py's data, when the run was measured

    @property
    def timed_out(self) -> bool:
        return self.run.exit_code is None

    @property
    def started(self) -> bool:
        """pytest got as far as collecting tests (with pytest-xdist only the outcomes say so)."""
        return self.report is not None and (self.report.collected is not None or bool(self.report.outcomes))


# The pytest plugins installed beside overseer are overseer's, not the project's (its tests run with
# overseer's interpreter): autoloaded, a dev install's hypothesis and pytest-cov add about 1.5 s to
# every run. A project that needs a plugin names it in its own config (`-p`) or in gates.test_command.
_PYTEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


def run_pytest(
    cwd: Path, timeout_s: float, private: Path, *, coverage: bool = False, tests: Sequence[str] = ()
) -> SuiteRun:
    """pytest in `cwd` with overseer's plugin; its report (and coverage data) go to `private`, a
    directory of overseer's own that the tests never see. `tests`: node ids to run (default: all)."""
    private.mkdir(parents=True, exist_ok=True)
    report = private / "pytest-report.jsonl"
    report.unlink(missing_ok=True)
    data_file = private / "coverage.db" if coverage else None
    command = [sys.executable, "-c", _BOOT, str(_PLUGIN), str(report), str(data_file or ""), *PYTEST_ARGS, *tests]
    started = time.perf_counter()
    run = run_command(command, cwd, timeout_s, _PYTEST_ENV)
    seconds = time.perf_counter() - started
    text = report.read_text(encoding="utf-8", errors="replace") if report.is_file() else ""
    return SuiteRun(run, read_report(text) if text else None, seconds, data_file)
