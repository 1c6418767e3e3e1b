"""The tests gate's judgment: the runs after an attempt compared with the baseline before it.

Pure: reports in, a `Comparison` out, so every rule is shown on small hand-made reports.

- The originals run decides about the code: a test that passed before and fails there is a
  regression; one that failed before and fails the same way is pre-existing, not the agent's doing;
  one that failed before and fails differently now (or that the task names) is what the attempt is
  about, and it still fails.
- The agent's run never counts in the attempt's favour where it differs: a test it skipped,
  xfailed, deleted or stopped collecting is a weakening; its new tests must pass; an original test
  that fails on the new code but whose rewritten version passes is a change of behaviour, for a
  person to accept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from overseer.supervise.gates.pytest_output import FAILING, NOT_RUN, PytestReport, missing_module
from overseer.supervise.gates.suites import TestFileEdit
from overseer.supervise.tamper import Weakening, edited_tests, weakenings
from overseer.workspace.files import is_test_file

if TYPE_CHECKING:  # baseline.py runs pytest with the gates' runner: a run-time import would be a cycle
    from overseer.supervise.baseline import Baseline

_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_MAX_PARSED_BYTES = 1_000_000  # a larger test file (generated data) is put back, but not read


@dataclass(frozen=True)
class Failure:
    test: str
    reason: str
    before: str = ""  # why it failed before the attempt, when it did

    def line(self) -> str:
        reason = f": {self.reason}" if self.reason else ""
        before = f" (before the attempt: {self.before})" if self.before and self.before != self.reason else ""
        return f"- {self.test}{reason}{before}"


@dataclass
class Comparison:
    regressions: list[Failure] = field(default_factory=list)  # passed before, fail now
    still_failing: list[Failure] = field(default_factory=list)  # failed before, fail differently now
    preexisting: list[Failure] = field(default_factory=list)  # failed before, fail the same way now
    missing_modules: dict[str, str] = field(default_factory=dict)  # test file -> module not installed
    fixed: list[str] = field(default_factory=list)  # failed before, pass now
    weakened: list[Weakening] = field(default_factory=list)
    changed_originals: list[Failure] = field(default_factory=list)  # fail now, rewritten versions pass
    new_tests: list[str] = field(default_factory=list)
    new_failures: list[Failure] = field(default_factory=list)  # the agent's new or edited tests fail
    edited: list[str] = field(default_factory=list)  # original tests the agent changed
    support_edits: list[str] = field(default_factory=list)  # other test-related files it changed


def compare(
    baseline: Baseline,
    originals: PytestReport,
    agent: PytestReport | None,
    edits: tuple[TestFileEdit, ...],
    task: str,
    roots: tuple[PurePath, ...] = (),
) -> Comparison:
    """`agent` is None when the agent's run is the originals run (no test-related file changed)."""
    seen = Comparison()
    _judge_originals(seen, baseline, originals, task, roots)
    if agent is not None:
        _judge_agent(seen, baseline, originals, agent, edits, roots)
    return seen


# --- the original tests on the new code -------------------------------------------------------------


def _judge_originals(
    seen: Comparison, baseline: Baseline, run: PytestReport, task: str, roots: tuple[PurePath, ...]
) -> None:
    for test, outcome in sorted(run.outcomes.items()):
        # A test in a file that did not import before the attempt failed with the file.
        known = test if test in baseline.outcomes else _file(test)
        was, was_reason = baseline.outcomes.get(known), clean_reason(baseline.reasons.get(known, ""), roots)
        reason = clean_reason(run.reasons.get(test, ""), roots)
        if outcome in FAILING:
            _judge_failure(seen, Failure(test, reason, was_reason), was, task)
        elif was in FAILING:
            seen.fixed.append(test)
        elif outcome in NOT_RUN and was == "passed":
            seen.weakened.append(Weakening(test, f"it passed before the attempt and is {outcome} on the new code"))
    for test in sorted(baseline.passed() - run.outcomes.keys()):
        file_error = run.outcomes.get(_file(test)) == "error"
        reason = clean_reason(run.reasons.get(_file(test), ""), roots) if file_error else "it is no longer collected"
        seen.regressions.append(Failure(test, reason))


def _judge_failure(seen: Comparison, failure: Failure, was: str | None, task: str) -> None:
    if was == "passed" or was == "xpassed":
        seen.regressions.append(failure)
    elif (module := missing_module(failure.reason)) and module == missing_module(failure.before):
        seen.missing_modules[failure.test] = module  # fails for want of a package, before and after
    elif was in FAILING and failure.reason == failure.before and not _named_in(task, failure.test):
        seen.preexisting.append(failure)
    else:  # it failed before (or did not exist), and the attempt changed how: the attempt is about it
        seen.still_failing.append(failure)


def _named_in(task: str, test: str) -> bool:
    """The task names the test, its function or its file: it asks for that test to pass."""
    path, _, rest = test.partition("::")
    names = [path, Path(path).name, *(part.split("[")[0] for part in rest.split("::") if part)]
    return any(re.search(rf"(?<![\w/.]){re.escape(name)}(?![\w])", task) for name in names if name)


# --- the tests as the agent left them ---------------------------------------------------------------


def _judge_agent(
    seen: Comparison,
    baseline: Baseline,
    originals: PytestReport,
    agent: PytestReport,
    edits: tuple[TestFileEdit, ...],
    roots: tuple[PurePath, ...],
) -> None:
    for edit in edits:
        _read_edit(seen, edit)
    _skipped_by_agent(seen, baseline, agent)
    _no_longer_collected(seen, originals, agent)
    _changed_behaviour(seen, agent)
    original_ids = originals.outcomes.keys() | baseline.outcomes.keys()
    seen.new_tests = sorted(test for test in agent.outcomes if test not in original_ids)
    edited = set(seen.edited)
    already = {failure.test for failure in seen.regressions + seen.changed_originals}
    for test in sorted(agent.outcomes):
        mine = test in seen.new_tests or _base(test) in edited
        if mine and agent.outcomes[test] in FAILING and test not in already:
            seen.new_failures.append(Failure(test, clean_reason(agent.reasons.get(test, ""), roots)))


def _read_edit(seen: Comparison, edit: TestFileEdit) -> None:
    """What one edit to a test-related file did: weakened tests, edited tests, edited support."""
    readable = max(len(edit.before or b""), len(edit.after or b"")) <= _MAX_PARSED_BYTES
    if readable:
        seen.weakened += weakenings(edit.path, edit.text(edit.before), edit.text(edit.after))
    if edit.before is None:
        return  # a new file edits nothing: its tests, if any, are new tests
    if readable and edit.after is not None and is_test_file(edit.path):
        changed = edited_tests(edit.text(edit.before) or "", edit.text(edit.after) or "")
        seen.edited += [f"{edit.path}::{test}" for test in changed]
    elif not is_test_file(edit.path) or not readable:
        seen.support_edits.append(edit.path)


def _skipped_by_agent(seen: Comparison, baseline: Baseline, agent: PytestReport) -> None:
    for test in sorted(baseline.passed()):
        outcome = agent.outcomes.get(test)
        if outcome in NOT_RUN and not _covered(seen.weakened, test):
            why = f" ({agent.reasons[test]})" if agent.reasons.get(test) else ""
            seen.weakened.append(
                Weakening(test, f"it passed before the attempt and the agent's version is {outcome}{why}")
            )


def _no_longer_collected(seen: Comparison, originals: PytestReport, agent: PytestReport) -> None:
    """Original tests the agent's version does not even collect (a conftest hook, a config edit)."""
    if originals.collected is None or agent.collected is None:
        return
    gone = sorted(set(originals.collected) - set(agent.collected) - agent.outcomes.keys())
    gone = [test for test in gone if not _covered(seen.weakened, test)]
    if gone:
        shown = ", ".join(gone[:10]) + (f" and {len(gone) - 10} more" if len(gone) > 10 else "")
        seen.weakened.append(
            Weakening(f"{len(gone)} original test(s)", f"no longer collected in the agent's version: {shown}")
        )


def _changed_behaviour(seen: Comparison, agent: PytestReport) -> None:
    """A regression whose test the agent rewrote, and whose new version passes: the attempt changed
    what the test expects. Maybe the task asked for it; a person decides."""
    edited = set(seen.edited)
    for failure in list(seen.regressions):
        if _base(failure.test) in edited and agent.outcomes.get(failure.test) == "passed":
            seen.regressions.remove(failure)
            seen.changed_originals.append(failure)


def _covered(found: list[Weakening], test: str) -> bool:
    """A weakening already says it of this test, its function, or its whole file."""
    return any(w.where in (test, _base(test), _file(test)) for w in found)


def _base(test: str) -> str:
    """The test's id without its parameters: `t.py::test_x[1-2]` -> `t.py::test_x`."""
    return test.split("[", 1)[0]


def _file(test: str) -> str:
    return test.split("::", 1)[0]


def clean_reason(reason: str, roots: tuple[PurePath, ...]) -> str:
    """A reason as it reads the same in every copy: no scratch paths, no memory addresses."""
    for root in roots:
        reason = reason.replace(f"{root}/", "")
    return _ADDRESS.sub("0x…", reason)
