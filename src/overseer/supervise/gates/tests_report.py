"""What the tests gate says about an attempt: its findings, in words the agent (or a person) can act
on, and its GateResult with the details other stages read (regressions, failing tests, timings).

Every finding names the tests it is about, with why they failed; lists are capped so that the
first problems are not drowned by the hundredth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from overseer.domain import Finding, GateResult, Severity
from overseer.supervise.gates.base import STAGE
from overseer.supervise.gates.compare import Comparison, Failure
from overseer.supervise.gates.pytest_output import FAILING, PytestReport
from overseer.supervise.gates.suites import AfterRuns
from overseer.supervise.policy import finding
from overseer.supervise.tamper import source_of
from overseer.text import clip, clip_tail

if TYPE_CHECKING:  # baseline.py runs pytest with the gates' runner: a run-time import would be a cycle
    from overseer.supervise.baseline import Baseline

OUTPUT_TAIL = 4000  # characters of the runs' output kept in the GateResult
_MAX_LISTED = 10  # tests listed with their reasons in one finding
_MAX_SOURCE = 1500  # characters of a test's old and new source shown to a person
EMPTY = PytestReport({}, {}, None, "", None)  # what a run that never got to collect says of its tests


def findings_of(seen: Comparison, runs: AfterRuns) -> list[Finding]:
    found = []
    if seen.regressions:
        headline = "Tests that passed before the attempt fail on the new code:"
        found.append(finding(STAGE, "regression", _listing(headline, seen.regressions)))
    if seen.still_failing:
        headline = (
            "Tests fail on the new code (the attempt is about them: the task names them, or how they fail changed):"
        )
        found.append(finding(STAGE, "tests_failed", _listing(headline, seen.still_failing)))
    if seen.new_failures:
        found.append(
            finding(STAGE, "new_test_failed", _listing("Tests the attempt added or edited fail:", seen.new_failures))
        )
    if seen.weakened:
        found.append(finding(STAGE, "tests_weakened", _weakened_message(seen)))
    found += [finding(STAGE, "original_test_changed", _changed_message(f, runs)) for f in seen.changed_originals[:3]]
    if modified := _modified(seen):
        message = "The attempt edited existing tests; they do not count in its favour (the originals were run): "
        found.append(finding(STAGE, "tests_modified", message + _names(modified)))
    if seen.missing_modules:
        found.append(finding(STAGE, "tests_unusable", _missing_modules_message(seen.missing_modules)))
    if seen.preexisting:
        count = len(seen.preexisting)
        message = f"{count} test(s) failed before the attempt and still fail the same way (not counted against it): "
        found.append(finding(STAGE, "preexisting_failures", message + _names([f.test for f in seen.preexisting])))
    return found


def _listing(headline: str, failures: list[Failure]) -> str:
    lines = [failure.line() for failure in failures[:_MAX_LISTED]]
    if len(failures) > _MAX_LISTED:
        lines.append(
            f"- ... and {len(failures) - _MAX_LISTED} more: {_names([f.test for f in failures[_MAX_LISTED:]])}"
        )
    return "\n".join([headline, *lines])


def _names(tests: list[str]) -> str:
    return clip(", ".join(tests), 1000)


def _weakened_message(seen: Comparison) -> str:
    headline = (
        "The attempt weakened the tests; its versions do not count in its favour (the original tests ran "
        "against the new code instead). Restore them:"
    )
    return "\n".join([headline, *(f"- {weakening}" for weakening in seen.weakened[: _MAX_LISTED * 2])])


def _changed_message(failure: Failure, runs: AfterRuns) -> str:
    path, _, test = failure.test.partition("::")
    test = test.split("[", 1)[0]
    edit = next((e for e in runs.edits if e.path == path), None)
    old = source_of(edit.text(edit.before) or "", test) if edit else ""
    new = source_of(edit.text(edit.after) or "", test) if edit else ""
    return (
        f"{failure.test} passed before the attempt and fails on the new code ({failure.reason}); the attempt "
        "rewrote it, and its new version passes. If the task asks for this change of behaviour, accept the "
        "new version; if not, the attempt broke it.\n"
        f"Before:\n{clip(old, _MAX_SOURCE)}\nAfter:\n{clip(new, _MAX_SOURCE)}"
    )


def _modified(seen: Comparison) -> list[str]:
    """Edited tests and support files that are not already reported as weakened or changed."""
    reported = {w.where for w in seen.weakened} | {f.test.split("[", 1)[0] for f in seen.changed_originals}
    weakened_files = {w.where.split("::", 1)[0] for w in seen.weakened}
    edited = [test for test in seen.edited if test not in reported]
    return edited + [path for path in seen.support_edits if path not in weakened_files]


def _missing_modules_message(missing: dict[str, str]) -> str:
    modules = sorted(set(missing.values()))
    return (
        f"Some tests cannot run, before the attempt or after it: they need {', '.join(modules)}, which "
        f"{'is' if len(modules) == 1 else 'are'} not installed where overseer runs the tests "
        f"({_names(sorted(missing))}). Not the agent's doing: install them, or tell overseer how to run the tests."
    )


def result_of(seen: Comparison, baseline: Baseline, runs: AfterRuns, findings: list[Finding]) -> GateResult:
    originals = runs.originals.report or EMPTY
    agent = originals if runs.single else (runs.agent.report or EMPTY)
    failing = sorted({*originals.with_outcome(*FAILING), *(f.test for f in seen.new_failures)})
    passed = len(originals.with_outcome("passed", "xpassed")) + sum(
        agent.outcomes.get(test) == "passed" for test in seen.new_tests
    )
    blocking = any(f.severity is Severity.BLOCKING for f in findings)
    verifies = (
        bool(originals.with_outcome("passed", "xpassed"))  # an original test ran and passed...
        and not (seen.regressions or seen.still_failing or seen.new_failures or seen.changed_originals)
        and not blocking
    )
    details = _details(seen, baseline, runs, failing)
    # Nothing judged the code: no original test ran to a verdict (a missing package is no verdict).
    judged = [
        test for test in originals.with_outcome(*FAILING, "passed", "xpassed") if test not in seen.missing_modules
    ]
    ran_nothing = not judged and not seen.new_tests
    summary = _summary(seen, passed, failing)
    return GateResult(
        "tests",
        None if ran_nothing and not blocking else not blocking,
        summary,
        _output(runs),
        passed,
        len(failing),
        verifies=verifies,
        details=details,
    )


def _summary(seen: Comparison, passed: int, failing: list[str]) -> str:
    parts = [f"{passed} passed, {len(failing)} failed"]
    counted: list[tuple[list[Any], str]] = [
        (seen.regressions, "regression(s)"),
        (seen.preexisting, "failing before the attempt too"),
        (seen.fixed, "fixed"),
        (seen.new_tests, "new"),
        (seen.weakened, "weakening(s)"),
    ]
    parts += [f"{len(items)} {label}" for items, label in counted if items]
    return ", ".join(parts)


def _details(seen: Comparison, baseline: Baseline, runs: AfterRuns, failing: list[str]) -> dict[str, Any]:
    originals = runs.originals.report or EMPTY
    agent = originals if runs.single else (runs.agent.report or EMPTY)
    seconds = {"baseline": baseline.seconds, "originals": round(runs.originals.seconds, 3)}
    if not runs.single:
        seconds["agent"] = round(runs.agent.seconds, 3)
    return {
        "regressions": [f.test for f in seen.regressions],
        "failed_tests": failing,
        "still_failing": [f.test for f in seen.still_failing],
        "preexisting": [f.test for f in seen.preexisting],
        "fixed": seen.fixed,
        "new_tests": seen.new_tests,
        "new_failures": [f.test for f in seen.new_failures],
        "changed_originals": [f.test for f in seen.changed_originals],
        "edited_tests": seen.edited,
        "weakened": [str(w) for w in seen.weakened],
        "missing_modules": sorted(set(seen.missing_modules.values())),
        "baseline_tree": baseline.tree,
        "baseline_cached": baseline.cached,
        "baseline_usable": baseline.usable,
        "originals_ran": originals.ran,
        "agent_ran": agent.ran,
        "single_run": runs.single,
        "seconds": seconds,
    }


def _output(runs: AfterRuns) -> str:
    if runs.single:
        return clip_tail(runs.originals.run.output, OUTPUT_TAIL)
    half = OUTPUT_TAIL // 2
    return (
        "== the original tests on the new code ==\n"
        + clip_tail(runs.originals.run.output, half)
        + "\n== the tests as the attempt left them ==\n"
        + clip_tail(runs.agent.run.output, half)
    )
