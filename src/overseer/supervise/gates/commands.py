"""Running a gate's command: its own process group, a timeout, and nothing left behind; and pytest
with overseer's plugin (and, when asked, under coverage.py), read back into per-test outcomes.

Commands run on the workspace's host (the scratch copies' host): on this machine with overseer's
own interpreter and files in place, on another with REMOTE_PYTHON and the plugin uploaded into the
scratch area; the files they write (pytest's report, coverage data) are read back through the host.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from overseer.errors import HostError
from overseer.supervise.gates.pytest_output import PytestReport, read_report
from overseer.workspace.host import Host
from overseer.workspace.local_host import LOCAL, is_local
from overseer.workspace.scratch import Scratch

REMOTE_PYTHON = "python3"
"""The interpreter the gates run on a remote host (the first `python3` on its PATH; not configurable
yet). It needs pytest and coverage.py for the tests gates, and Python 3.11 for the examples runner."""


CANNOT_START = (OSError, HostError)
"""What `run_command` raises when the command cannot start: no such program or directory on this
machine (OSError) or on another host, or the connection to it lost (HostError). Overseer's problem,
never the agent's."""


@dataclass(frozen=True)
class CommandRun:
    exit_code: int | None  # None: killed after the timeout
    output: str  # stdout and stderr, interleaved as they were written


def run_command(
    command: Sequence[str],
    cwd: PurePath,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    *,
    host: Host = LOCAL,
) -> CommandRun:
    """Run `command` in `cwd` on `host`; on timeout kill it and everything it started (the host
    gives it a process group of its own). A program that cannot start raises OSError (this machine)
    or HostError (another one)."""
    env = {
        "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ in the workspace from our own run
        "COLUMNS": "250",  # pytest trims failure reasons to the terminal width, 80 without a tty
        **(env or {}),
    }
    done = host.run(command, cwd=cwd, env=env, timeout_s=timeout_s, merge_stderr=True)
    return CommandRun(exit_code=done.exit_code, output=text_of(done.stdout))


def text_of(output: bytes) -> str:
    """A command's output as text, as Python's text mode reads it: UTF-8 (undecodable bytes
    replaced) with universal newlines."""
    return output.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def gate_python(host: Host) -> str:
    """The interpreter the gates run on `host`: overseer's own here, REMOTE_PYTHON elsewhere."""
    return sys.executable if is_local(host) else REMOTE_PYTHON


def read_text(host: Host, path: PurePath) -> str:
    """A file a gate's command wrote, as text; "" when there is none."""
    try:
        return text_of(host.read_bytes(path))
    except FileNotFoundError:
        return ""


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
    try:
        import coverage
    except ImportError:  # not installed where the tests run: no coverage data, the tests still run
        coverage = None
    if coverage is not None:
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
    coverage_file: PurePath | None = None  # coverage.py's data on the host, when the run was measured

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
    cwd: PurePath,
    timeout_s: float,
    private: PurePath,
    *,
    coverage: bool = False,
    tests: Sequence[str] = (),
    scratch: Scratch | None = None,
) -> SuiteRun:
    """pytest in `cwd` with overseer's plugin; its report (and coverage data) go to `private`, a
    directory of overseer's own that the tests never see. `tests`: node ids to run (default: all).
    `cwd` and `private` are on the scratch's host (this machine without a scratch)."""
    host = scratch.host if scratch is not None else LOCAL
    plugin = scratch.tool(_PLUGIN) if scratch is not None else _PLUGIN
    host.mkdir(private)
    report = private / "pytest-report.jsonl"
    host.unlink(report)
    data_file = private / "coverage.db" if coverage else None
    boot = [gate_python(host), "-c", _BOOT, str(plugin), str(report), str(data_file or "")]
    started = time.perf_counter()
    run = run_command([*boot, *PYTEST_ARGS, *tests], cwd, timeout_s, _PYTEST_ENV, host=host)
    seconds = time.perf_counter() - started
    text = read_text(host, report)
    return SuiteRun(run, read_report(text) if text else None, seconds, data_file)
