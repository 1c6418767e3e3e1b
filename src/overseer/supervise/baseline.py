"""The baseline: which of the workspace's tests pass and which fail on the code before an attempt.

Without it a failing test says nothing about the attempt: did the agent break it, or was it broken
already? The baseline runs in a scratch copy of the snapshot taken before the attempt, so it can run
while the agent works, and it is kept in `<workspace>/.overseer/baselines/<tree>.json`, keyed by
the snapshot's tree hash: an unchanged tree (a retry after a rollback, the next task on the same
code) is never run twice. A cached baseline is run again when the test command or the interpreter
changed, when it timed out under a shorter timeout, or when a module its tests missed is now
installed.

The copy and the run are on the workspace's host (the scratch's); the cache is overseer's own state,
always in the workspace directory on this machine. For a workspace on another host its key names that
host and the interpreter the tests run with there, and "now installed" is asked of that interpreter.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from overseer.config import GatesConfig
from overseer.supervise.gates.commands import (
    CANNOT_START,
    PYTEST_ARGS,
    SuiteRun,
    gate_python,
    run_command,
    run_pytest,
    text_of,
)
from overseer.supervise.gates.pytest_output import FAILING, crash_reason, missing_module
from overseer.supervise.gates.suites import has_tests, private_dir
from overseer.workspace.checkpoints import Checkpoints
from overseer.workspace.files import STATE_DIR
from overseer.workspace.host import Host
from overseer.workspace.local_host import is_local
from overseer.workspace.scratch import Scratch

logger = logging.getLogger(__name__)

_FORMAT = 1  # bump when the cached JSON changes shape: older files are then run again
# Run with the gates' interpreter on another host: what it is, and which of the modules named it finds.
_IDENTIFY = "import sys; print(sys.executable); print(sys.version)"
_FIND = """\
import importlib.util, sys
for name in sys.argv[1:]:
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        found = None
    if found is not None:
        print(name)
"""
_PROBE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Baseline:
    tree: str  # the git tree hash of the snapshot it was run on
    outcomes: dict[str, str]  # test id -> passed | failed | error | skipped | xfailed | xpassed
    usable: bool  # False: pytest gave no outcomes on this tree (it timed out, or could not start)
    note: str = ""  # why it is not usable, or what else is wrong (missing modules), for people
    seconds: float = 0.0  # how long the run took (the cached copy keeps the original run's time)
    reasons: dict[str, str] = field(default_factory=dict)  # test id -> why it failed or was skipped
    timed_out: bool = False
    exit_code: int | None = 0  # the command's exit code; what a configured command is judged by
    cached: bool = False  # read from the cache, not run now

    def passed(self) -> set[str]:
        return {test for test, outcome in self.outcomes.items() if outcome in ("passed", "xpassed")}

    def failing(self) -> set[str]:
        return {test for test, outcome in self.outcomes.items() if outcome in FAILING}

    @property
    def missing_modules(self) -> list[str]:
        """Modules the tests import that are not installed (not the agent's doing)."""
        found = {missing_module(self.reasons.get(test, "")) for test in self.failing()}
        return sorted(found - {""})


class Baselines:
    """Baselines of one workspace's trees, run once per tree and test command."""

    def __init__(self, workspace: Path | None, config: GatesConfig) -> None:
        """`workspace`: the workspace directory on this machine, whose `.overseer/baselines/` keeps
        them, even when the workspace's files are on another host; None: none are kept (each is run)."""
        self.config = config
        self.directory = workspace / STATE_DIR / "baselines" if workspace is not None else None
        self._command = config.test_command or ["pytest", *PYTEST_ARGS]

    def get(self, scratch: Scratch, sha: str) -> Baseline:
        """The baseline of snapshot `sha`: from the cache when its tree was run before, else run now
        in a scratch copy on the scratch's host (removed right after)."""
        tree = tree_of(scratch.checkpoints, sha)
        runner = self._runner(scratch.host) if self.directory is not None else {}
        cached = self._load(tree, runner, scratch.host)
        if cached is not None:
            return cached
        baseline = self._run(scratch, sha, tree)
        self._store(baseline, runner)
        return baseline

    def _run(self, scratch: Scratch, sha: str, tree: str) -> Baseline:
        timeout, command = self.config.test_timeout_s, self.config.test_command
        if command is None and not has_tests(scratch, sha):
            return Baseline(tree, {}, usable=True, note="no tests")
        copy = scratch.copy(sha, "baseline")
        try:
            if command is not None:
                return _command_baseline(command, copy, tree, timeout, scratch.host)
            suite = run_pytest(copy, timeout, private_dir(copy), scratch=scratch)
            return baseline_from(suite, tree, timeout, copy)
        finally:
            scratch.host.rmtree(copy)

    def _runner(self, host: Host) -> dict[str, Any]:
        """What the cached outcomes depend on besides the tree: the test command and the interpreter
        (overseer's own here; on another host, the one the gates run there)."""
        if is_local(host):
            return {"python": sys.executable, "command": self._command, "format": _FORMAT}
        return {"host": host.label, "python": _identify(host), "command": self._command, "format": _FORMAT}

    def _load(self, tree: str, runner: dict[str, Any], host: Host) -> Baseline | None:
        if self.directory is None:
            return None
        path = self.directory / f"{tree}.json"
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            baseline = Baseline(**{**stored["baseline"], "cached": True})
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            logger.warning("ignoring the unreadable cached baseline %s: %s", path, exc)
            return None
        return baseline if self._still_valid(stored, baseline, runner, host) else None

    def _still_valid(self, stored: dict[str, Any], baseline: Baseline, runner: dict[str, Any], host: Host) -> bool:
        if stored.get("runner") != runner:
            return False
        if baseline.timed_out and self.config.test_timeout_s > float(stored.get("timeout_s", 0)):
            return False  # it might finish with the time it has now
        return not installed(host, baseline.missing_modules)

    def _store(self, baseline: Baseline, runner: dict[str, Any]) -> None:
        if self.directory is None:
            return
        record = {"runner": runner, "timeout_s": self.config.test_timeout_s}
        record["baseline"] = {**dataclasses.asdict(baseline), "cached": False}
        path = self.directory / f"{baseline.tree}.json"
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(record, indent=1), encoding="utf-8")
            partial.replace(path)  # atomic: a reader never sees half a file
        except OSError as exc:  # a read-only workspace: the baseline still serves this attempt
            logger.warning("could not cache the baseline in %s: %s", path, exc)


def kept_in(workspace: Path, host: Host, local_workspace: Path | None) -> Path | None:
    """The workspace directory on this machine that keeps the baselines: `local_workspace` when it
    is known, else the workspace itself when its files are here; None (nothing kept) otherwise."""
    if local_workspace is not None:
        return local_workspace
    return workspace if is_local(host) else None


def installed(host: Host, modules: Sequence[str]) -> list[str]:
    """Which of `modules` the gates' interpreter on `host` can import now."""
    if not modules:
        return []
    if is_local(host):
        return [module for module in modules if _found(module)]
    try:
        done = host.run([gate_python(host), "-c", _FIND, *modules], timeout_s=_PROBE_TIMEOUT_S)
    except CANNOT_START as exc:
        logger.warning("could not ask %s which modules are installed now: %s", host.label, exc)
        return []
    return text_of(done.stdout).split() if done.exit_code == 0 else []


def _found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # "a.b" when a itself is gone
        return False


def _identify(host: Host) -> str:
    """The gates' interpreter on another host, as its path and version (what a cache key must name)."""
    python = gate_python(host)
    try:
        done = host.run([python, "-c", _IDENTIFY], timeout_s=_PROBE_TIMEOUT_S)
    except CANNOT_START as exc:
        return f"{python}: {exc}"
    if done.exit_code != 0:
        return f"{python}: exit code {done.exit_code}"
    return " ".join(text_of(done.stdout).split())


def baseline_from(suite: SuiteRun, tree: str, timeout_s: float, copy: PurePath) -> Baseline:
    """Read a pytest run on the code before the attempt (in `copy`, on its host) into a Baseline."""
    seconds = round(suite.seconds, 3)
    inside = f"{copy}{os.sep if isinstance(copy, Path) else '/'}"  # how paths in the copy begin
    report = suite.report
    if suite.timed_out:
        stuck = f" (it hung in {report.running})" if report and report.running else ""
        note = f"the tests did not finish within {timeout_s:g}s even before the attempt{stuck}"
        return Baseline(tree, {}, False, note, seconds, timed_out=True, exit_code=None)
    if report is None or not suite.started:  # (both: so that type checkers know the report is there)
        reason = crash_reason(suite.run.output).replace(inside, "")
        note = f"pytest could not start even before the attempt: {reason}"
        return Baseline(tree, {}, False, note, seconds, exit_code=suite.run.exit_code)
    reasons = {test: reason.replace(inside, "") for test, reason in report.reasons.items()}
    baseline = Baseline(tree, report.outcomes, True, "", seconds, reasons, exit_code=suite.run.exit_code)
    return dataclasses.replace(baseline, note=_note(baseline))


def _note(baseline: Baseline) -> str:
    if baseline.missing_modules:
        return f"the tests need modules that are not installed: {', '.join(baseline.missing_modules)}"
    errors = sorted(test for test in baseline.failing() if "::" not in test)
    if errors and not any(outcome != "error" for outcome in baseline.outcomes.values()):
        return "no test file could be collected: " + "; ".join(f"{t}: {baseline.reasons.get(t, '')}" for t in errors)
    return ""


def _command_baseline(command: list[str], copy: PurePath, tree: str, timeout_s: float, host: Host) -> Baseline:
    """A configured command gives no per-test outcomes: only whether it passed, failed or hung."""
    try:
        run = run_command(command, copy, timeout_s, host=host)
    except CANNOT_START as exc:
        return Baseline(tree, {}, False, f"the test command could not start: {exc}", exit_code=None)
    if run.exit_code is None:
        note = f"the test command did not finish within {timeout_s:g}s even before the attempt"
        return Baseline(tree, {}, False, note, timed_out=True, exit_code=None)
    return Baseline(tree, {}, True, exit_code=run.exit_code)


def tree_of(checkpoints: Checkpoints, sha: str) -> str:
    """The tree hash of snapshot `sha`: the same files give the same hash, whatever the commit."""
    return checkpoints.tree(sha)
