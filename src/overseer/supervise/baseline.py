"""The baseline: which of the workspace's tests pass and which fail on the code before an attempt.

Without it a failing test says nothing about the attempt: did the agent break it, or was it broken
already? The baseline runs in a scratch copy of the snapshot taken before the attempt, so it can run
while the agent works, and it is kept in `<workspace>/.overseer/baselines/<tree>.json`, keyed by
the snapshot's tree hash: an unchanged tree (a retry after a rollback, the next task on the same
code) is never run twice. A cached baseline is run again when the test command or the interpreter
changed, when it timed out under a shorter timeout, or when a module its tests missed is now
installed.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from overseer.config import GatesConfig
from overseer.supervise.gates.commands import PYTEST_ARGS, SuiteRun, run_command, run_pytest
from overseer.supervise.gates.pytest_output import FAILING, crash_reason, missing_module
from overseer.workspace.checkpoints import Checkpoints
from overseer.workspace.files import test_files
from overseer.workspace.scratch import Scratch

logger = logging.getLogger(__name__)

_FORMAT = 1  # bump when the cached JSON changes shape: older files are then run again


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

    def __init__(self, workspace: Path, config: GatesConfig) -> None:
        self.config = config
        self.directory = workspace / ".overseer" / "baselines"
        command = config.test_command or ["pytest", *PYTEST_ARGS]
        self._runner = {"python": sys.executable, "command": command, "format": _FORMAT}

    def get(self, scratch: Scratch, sha: str) -> Baseline:
        """The baseline of snapshot `sha`: from the cache when its tree was run before, else run now
        in a scratch copy (removed right after)."""
        tree = tree_of(scratch.checkpoints, sha)
        cached = self._load(tree)
        if cached is not None:
            return cached
        copy = scratch.local_copy(sha, "baseline")
        try:
            baseline = self._run(copy, tree)
        finally:
            shutil.rmtree(copy, ignore_errors=True)
        self._store(baseline)
        return baseline

    def _run(self, copy: Path, tree: str) -> Baseline:
        timeout = self.config.test_timeout_s
        if self.config.test_command is not None:
            return _command_baseline(self.config.test_command, copy, tree, timeout)
        if next(test_files(copy), None) is None:
            return Baseline(tree, {}, usable=True, note="no tests")
        suite = run_pytest(copy, timeout, copy.with_name(copy.name + ".run"))
        return baseline_from(suite, tree, timeout, copy)

    def _load(self, tree: str) -> Baseline | None:
        path = self.directory / f"{tree}.json"
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            baseline = Baseline(**{**stored["baseline"], "cached": True})
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            logger.warning("ignoring the unreadable cached baseline %s: %s", path, exc)
            return None
        return baseline if self._still_valid(stored, baseline) else None

    def _still_valid(self, stored: dict[str, Any], baseline: Baseline) -> bool:
        if stored.get("runner") != self._runner:
            return False
        if baseline.timed_out and self.config.test_timeout_s > float(stored.get("timeout_s", 0)):
            return False  # it might finish with the time it has now
        return not any(importlib.util.find_spec(module) for module in baseline.missing_modules)

    def _store(self, baseline: Baseline) -> None:
        record = {"runner": self._runner, "timeout_s": self.config.test_timeout_s}
        record["baseline"] = {**dataclasses.asdict(baseline), "cached": False}
        path = self.directory / f"{baseline.tree}.json"
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(record, indent=1), encoding="utf-8")
            partial.replace(path)  # atomic: a reader never sees half a file
        except OSError as exc:  # a read-only workspace: the baseline still serves this attempt
            logger.warning("could not cache the baseline in %s: %s", path, exc)


def baseline_from(suite: SuiteRun, tree: str, timeout_s: float, copy: Path) -> Baseline:
    """Read a pytest run on the code before the attempt into a Baseline."""
    seconds = round(suite.seconds, 3)
    report = suite.report
    if suite.timed_out:
        stuck = f" (it hung in {report.running})" if report and report.running else ""
        note = f"the tests did not finish within {timeout_s:g}s even before the attempt{stuck}"
        return Baseline(tree, {}, False, note, seconds, timed_out=True, exit_code=None)
    if report is None or not suite.started:  # (both: so that type checkers know the report is there)
        reason = crash_reason(suite.run.output).replace(f"{copy}{os.sep}", "")
        note = f"pytest could not start even before the attempt: {reason}"
        return Baseline(tree, {}, False, note, seconds, exit_code=suite.run.exit_code)
    reasons = {test: reason.replace(f"{copy}{os.sep}", "") for test, reason in report.reasons.items()}
    baseline = Baseline(tree, report.outcomes, True, "", seconds, reasons, exit_code=suite.run.exit_code)
    return dataclasses.replace(baseline, note=_note(baseline))


def _note(baseline: Baseline) -> str:
    if baseline.missing_modules:
        return f"the tests need modules that are not installed: {', '.join(baseline.missing_modules)}"
    errors = sorted(test for test in baseline.failing() if "::" not in test)
    if errors and not any(outcome != "error" for outcome in baseline.outcomes.values()):
        return "no test file could be collected: " + "; ".join(f"{t}: {baseline.reasons.get(t, '')}" for t in errors)
    return ""


def _command_baseline(command: list[str], copy: Path, tree: str, timeout_s: float) -> Baseline:
    """A configured command gives no per-test outcomes: only whether it passed, failed or hung."""
    try:
        run = run_command(command, copy, timeout_s)
    except OSError as exc:
        return Baseline(tree, {}, False, f"the test command could not start: {exc}", exit_code=None)
    if run.exit_code is None:
        note = f"the test command did not finish within {timeout_s:g}s even before the attempt"
        return Baseline(tree, {}, False, note, timed_out=True, exit_code=None)
    return Baseline(tree, {}, True, exit_code=run.exit_code)


def tree_of(checkpoints: Checkpoints, sha: str) -> str:
    """The tree hash of snapshot `sha`: the same files give the same hash, whatever the commit."""
    return checkpoints.tree(sha)
