"""Quality gates against real workspaces: real files on disk, real pytest runs, real git snapshots."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import ValidationError

from overseer.config import GatesConfig
from overseer.domain import AgentResult, Evidence, FileChange, Finding, GateResult, Route, Severity
from overseer.supervise.baseline import Baseline, Baselines
from overseer.supervise.gates import GateContext, run_gates
from overseer.supervise.gates.coverage import coverage_gate
from overseer.supervise.gates.pytest_output import (
    TestCounts,
    TestFailure,
    parse_failures,
    parse_summary,
)
from overseer.supervise.gates.tests import tests_gate as run_tests_gate  # a `test*` name would be collected
from overseer.workspace.checkpoints import Checkpoints
from overseer.workspace.scratch import Scratch
from tests.supervise.attempts import write

CALC = "def add(a, b):\n    return a + b\n"
CALC_TESTS = (
    "from calc import add\n\n\n"
    "def test_add():\n    assert add(2, 2) == 4\n\n\n"
    "def test_add_negative():\n    assert add(-1, -1) == -2\n"
)


@pytest.fixture(autouse=True, scope="module")
def _no_plugin_autoload() -> Iterator[None]:
    """The workspaces here need no third-party pytest plugin, and overseer's dev environment has
    hypothesis's, which adds over a second to every pytest start: the inner runs load none."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        yield


def evidence(workspace: Path, *changes: str | FileChange, kind: str = "modified") -> Evidence:
    """Evidence of an attempt that changed `changes` (bare paths get `kind`), without snapshots."""
    result = AgentResult(session_id=None, is_error=False, text="")
    return Evidence(
        task="make add work",
        attempt=1,
        workspace=workspace,
        result=result,
        changes=tuple(
            c if isinstance(c, FileChange) else FileChange(path=c, kind=kind, sha_before=None, sha_after=None)
            for c in changes
        ),
    )


class Project:
    """A real workspace with real shadow-git snapshots taken around a simulated attempt."""

    def __init__(self, root: Path, files: Mapping[str, str | bytes]) -> None:
        root.mkdir(parents=True, exist_ok=True)
        write(root, files)
        self.root = root
        self.checkpoints = Checkpoints(root)
        self.before = self.checkpoints.snapshot("before the attempt")

    def attempt(self, changes: Mapping[str, str | bytes | None], task: str = "make mul faster") -> Evidence:
        write(self.root, changes)
        after = self.checkpoints.snapshot("after the attempt")
        return Evidence(
            task=task,
            attempt=1,
            workspace=self.root,
            result=AgentResult(session_id=None, is_error=False, text="done"),
            changes=self.checkpoints.changes(self.before, after),
            diff=self.checkpoints.diff(self.before, after),
            checkpoint_before=self.before,
            checkpoint_after=after,
        )


@dataclass(frozen=True)
class Judged:
    tests: GateResult
    findings: tuple[Finding, ...]
    coverage: GateResult
    coverage_findings: tuple[Finding, ...]
    seconds: float

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def message(self, code: str) -> str:
        [found] = [f for f in self.findings if f.code == code]
        return found.message


def judge(attempt: Evidence, config: GatesConfig | None = None, baseline: Baseline | None = None) -> Judged:
    """Both gates on one context, as the judge runs them: the coverage gate reuses the tests' runs."""
    started = time.perf_counter()
    with Scratch(Checkpoints(attempt.workspace)) as scratch:
        ctx = GateContext(attempt, config or GatesConfig(syntax=False), scratch, baseline=baseline)
        tests, findings = run_tests_gate(ctx)
        coverage, coverage_findings = coverage_gate(ctx)
    return Judged(tests, findings, coverage, coverage_findings, time.perf_counter() - started)


def first_gates(**overrides: object) -> GatesConfig:
    """The syntax and tests gates only: fail-first, coverage, examples and lint have their own test modules."""
    return GatesConfig.model_validate(
        {"fail_first": False, "coverage": False, "examples": False, "lint": False, **overrides}
    )


def only_tests(**overrides: object) -> GatesConfig:
    return first_gates(syntax=False, **overrides)


# --- both gates through run_gates ----------------------------------------------------------------


def test_a_passing_suite_passes_both_gates_and_leaves_no_litter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)  # the gate must set it itself
    write(tmp_path, {"calc.py": CALC, "tests/test_calc.py": CALC_TESTS})

    gates, findings = run_gates(GateContext(evidence(tmp_path, "calc.py", "tests/test_calc.py"), first_gates()))

    assert findings == ()
    syntax, tests = gates
    assert (syntax.name, syntax.passed, syntax.passed_count) == ("syntax", True, 2)
    assert (tests.name, tests.passed, tests.passed_count, tests.failed_count) == ("tests", True, 2, 0)
    assert tests.summary.startswith("2 passed")
    # The gate's own run must not show up as changes the agent made.
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["calc.py", "test_calc.py", "tests"]


def test_a_failing_test_is_named_with_its_reason(tmp_path: Path) -> None:
    write(tmp_path, {"calc.py": "def add(a, b):\n    return a - b\n", "tests/test_calc.py": CALC_TESTS})

    gates, findings = run_gates(GateContext(evidence(tmp_path, "calc.py"), first_gates()))

    tests = gates[1]
    assert (tests.passed, tests.passed_count, tests.failed_count) == (False, 0, 2)
    assert tests.summary == "2 of 2 tests failed"
    assert "test_add_negative" in tests.output
    [finding] = findings
    assert (finding.stage, finding.code, finding.severity) == ("gates", "tests_failed", Severity.BLOCKING)
    assert finding.message.splitlines() == [
        "Tests failed: 2 of 2 failed (2 failed).",
        "- tests/test_calc.py::test_add: assert 0 == 4",
        "- tests/test_calc.py::test_add_negative: assert 0 == -2",
    ]


def test_a_syntax_error_in_a_changed_file_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, {"calc.py": "def add(a, b):\n    return a + b\nreturn (\n", "ok.py": "x = 1\n"})

    gates, findings = run_gates(GateContext(evidence(tmp_path, "calc.py", "ok.py"), first_gates(tests=False)))

    [syntax] = gates
    assert (syntax.passed, syntax.passed_count, syntax.failed_count) == (False, 1, 1)
    [finding] = findings
    assert (finding.code, finding.severity) == ("syntax_error", Severity.BLOCKING)
    assert finding.message == "calc.py line 3: '(' was never closed"


def test_the_syntax_gate_catches_errors_only_the_compiler_sees(tmp_path: Path) -> None:
    write(tmp_path, {"pkg/mod.py": "x = 1\nreturn x\n"})

    _, findings = run_gates(GateContext(evidence(tmp_path, "pkg/mod.py", kind="added"), first_gates(tests=False)))

    assert [f.message for f in findings] == ["pkg/mod.py line 2: 'return' outside function"]


def test_broken_files_the_agent_did_not_touch_are_not_checked(tmp_path: Path) -> None:
    write(tmp_path, {"broken.py": "def (\n", "gone.py": "def (\n", "good.py": "x = 1\n", "notes.txt": "("})
    attempt = evidence(
        tmp_path,
        "good.py",
        "notes.txt",
        FileChange(path="gone.py", kind="deleted", sha_before="a", sha_after=None),
        FileChange(path="vanished.py", kind="added", sha_before=None, sha_after="b"),
    )

    gates, findings = run_gates(GateContext(attempt, first_gates(tests=False)))

    assert findings == ()
    assert (gates[0].passed, gates[0].passed_count) == (True, 1)


def test_no_python_change_means_the_syntax_gate_does_not_apply(tmp_path: Path) -> None:
    write(tmp_path, {"README.md": "hi"})

    gates, findings = run_gates(GateContext(evidence(tmp_path, "README.md"), first_gates(tests=False)))

    assert (gates[0].passed, gates[0].summary) == (None, "no Python files changed")
    assert findings == ()


def test_disabled_gates_do_not_run(tmp_path: Path) -> None:
    write(tmp_path, {"calc.py": "def (\n", "tests/test_calc.py": "def test_x():\n    assert 0\n"})

    assert run_gates(GateContext(evidence(tmp_path, "calc.py"), first_gates(syntax=False, tests=False))) == ((), ())


# --- tests gate ----------------------------------------------------------------------------------


def test_no_tests_is_reported_not_passed(tmp_path: Path) -> None:
    # Test files in ignored directories are not the project's tests.
    write(tmp_path, {"calc.py": CALC, ".venv/lib/test_site.py": "", "node_modules/x/test_y.py": ""})

    gates, findings = run_gates(GateContext(evidence(tmp_path, "calc.py"), only_tests()))

    assert (gates[0].passed, gates[0].summary) == (None, "no tests found")
    assert [(f.code, f.severity) for f in findings] == [("no_tests", Severity.INFO)]


def test_test_files_without_tests_are_reported_not_passed(tmp_path: Path) -> None:
    write(tmp_path, {"calc.py": CALC, "calc_test.py": "from calc import add\n"})

    gates, findings = run_gates(GateContext(evidence(tmp_path, "calc.py"), only_tests()))

    assert (gates[0].passed, gates[0].summary) == (None, "no tests ran")
    assert [(f.code, f.severity) for f in findings] == [("no_tests", Severity.INFO)]


def test_a_broken_test_module_reports_the_collection_error(tmp_path: Path) -> None:
    write(tmp_path, {"tests/test_calc.py": "from calculator import add\n"})

    gates, findings = run_gates(GateContext(evidence(tmp_path), only_tests()))

    assert (gates[0].passed, gates[0].failed_count) == (False, 1)
    assert findings[0].message.splitlines()[1:] == [
        "- tests/test_calc.py: ModuleNotFoundError: No module named 'calculator'"
    ]


def test_a_long_failure_reason_reaches_the_feedback_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest trims reasons to the terminal width (80 without a tty) unless told otherwise.
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    reason = "add() must return the sum of both arguments, including for negative numbers and zero"
    write(tmp_path, {"test_calc.py": f"def test_add():\n    assert False, {reason!r}\n"})

    _, findings = run_gates(GateContext(evidence(tmp_path), only_tests()))

    assert findings[0].message.splitlines()[1] == f"- test_calc.py::test_add: AssertionError: {reason}"


def test_a_workspace_that_hides_the_short_summary_still_gets_failures_named(tmp_path: Path) -> None:
    config = '[tool.pytest.ini_options]\naddopts = "-rN"\n'  # -rN: no short test summary
    write(tmp_path, {"pyproject.toml": config, "test_calc.py": "def test_add():\n    assert 2 == 3\n"})

    _, findings = run_gates(GateContext(evidence(tmp_path), only_tests()))

    assert findings[0].message.splitlines()[1:] == ["- test_calc.py::test_add: assert 2 == 3"]


def test_many_failures_are_capped_in_the_feedback(tmp_path: Path) -> None:
    tests = "".join(f"def test_{n}():\n    assert {n} == -1\n\n" for n in range(8))
    write(tmp_path, {"test_many.py": tests})

    _, findings = run_gates(GateContext(evidence(tmp_path), only_tests()))

    lines = findings[0].message.splitlines()
    assert lines[0] == "Tests failed: 8 of 8 failed (8 failed)."
    assert lines[1:] == [f"- test_many.py::test_{n}: assert {n} == -1" for n in range(5)] + ["- ... and 3 more"]


def test_a_configured_command_runs_without_test_files_and_fails_on_its_exit_code(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import sys; print('lint: 3 problems'); sys.exit(1)"]

    gates, findings = run_gates(GateContext(evidence(tmp_path), only_tests(test_command=command)))

    assert (gates[0].passed, gates[0].summary) == (False, "exited with code 1")
    [finding] = findings
    assert (finding.code, finding.severity) == ("tests_failed", Severity.BLOCKING)
    assert finding.message.startswith("Test command `python -c ")
    assert finding.message.endswith("exited with code 1.\nEnd of its output:\nlint: 3 problems")


def test_a_configured_command_that_succeeds_passes(tmp_path: Path) -> None:
    write(tmp_path, {"marker.txt": "ok"})
    command = [
        sys.executable,
        "-c",
        "import pathlib, sys; sys.exit(pathlib.Path('marker.txt').read_text() != 'ok')",
    ]

    gates, findings = run_gates(GateContext(evidence(tmp_path), only_tests(test_command=command)))

    assert gates[0].passed is True  # it ran in the workspace: marker.txt was found there
    assert findings == ()


def test_a_hanging_command_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    # The grandchild holds the output pipe too: the gate must kill it as well, or wait 30 s.
    sleeper = "import subprocess, sys, time; "
    sleeper += "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
    sleeper += "print('started', flush=True); time.sleep(30)"
    config = only_tests(test_command=[sys.executable, "-c", sleeper], test_timeout_s=1)

    started = time.monotonic()
    gates, findings = run_gates(GateContext(evidence(tmp_path), config))

    assert time.monotonic() - started < 20  # not the 30 s the command and its child would take
    assert (gates[0].passed, gates[0].summary, gates[0].output) == (False, "timed out after 1s", "started\n")
    [finding] = findings
    assert (finding.code, finding.severity) == ("tests_timeout", Severity.BLOCKING)
    assert "did not finish within 1s" in finding.message


def test_a_missing_command_is_reported_with_the_reason(tmp_path: Path) -> None:
    config = only_tests(test_command=["overseer-no-such-command-xyz", "--run"])

    gates, findings = run_gates(GateContext(evidence(tmp_path), config))

    assert gates[0].passed is False
    [finding] = findings
    assert (finding.code, finding.severity) == ("tests_not_run", Severity.BLOCKING)
    assert "overseer-no-such-command-xyz" in finding.message
    assert "No such file or directory" in finding.message


def test_config_rejects_unknown_keys_and_empty_commands() -> None:
    with pytest.raises(ValidationError, match="extra"):
        GatesConfig.model_validate({"linters": True})
    with pytest.raises(ValidationError, match="at least 1"):
        GatesConfig(test_command=[])
    with pytest.raises(ValidationError, match="greater than 0"):
        GatesConfig(test_timeout_s=0)


# --- pytest output parsers -----------------------------------------------------------------------

# Captured from real pytest 9 runs (-q, plain, and with the collection interrupted).
MIXED_Q = """\
.FsxE.                                                                   [100%]
=========================== short test summary info ============================
FAILED tests/test_a.py::test_bad - AssertionError: math is broken
ERROR tests/test_a.py::test_err - RuntimeError: fixture exploded
1 failed, 2 passed, 1 skipped, 1 xfailed, 1 warning, 1 error in 0.02s
"""
MIXED_PLAIN = """\
tests/test_a.py .FsxE.                                                   [100%]
=========================== short test summary info ============================
FAILED tests/test_a.py::test_bad - AssertionError: math is broken
==== 1 failed, 2 passed, 1 skipped, 1 xfailed, 1 warning, 1 error in 0.02s =====
"""
COLLECTION_ERROR = """\
==================================== ERRORS ====================================
_______________________ ERROR collecting tests/test_c.py _______________________
/work/main/.venv/lib/python3.11/site-packages/_pytest/python.py:528: in importtestmodule
    mod = import_path(
E     File "/tmp/gx/tests/test_c.py", line 1
E       def (
E           ^
E   SyntaxError: invalid syntax
=========================== short test summary info ============================
ERROR tests/test_c.py
!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!
1 error in 0.11s
"""


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (MIXED_Q, TestCounts(2, 1, 1, 1, "1 failed, 2 passed, 1 skipped, 1 xfailed, 1 warning, 1 error")),
        (MIXED_PLAIN, TestCounts(2, 1, 1, 1, "1 failed, 2 passed, 1 skipped, 1 xfailed, 1 warning, 1 error")),
        ("...\n3 passed in 0.01s\n", TestCounts(3, 0, 0, 0, "3 passed")),
        ("1 failed, 2 passed in 0.03s", TestCounts(2, 1, 0, 0, "1 failed, 2 passed")),
        (COLLECTION_ERROR, TestCounts(0, 0, 1, 0, "1 error")),
        ("E\n2 errors in 0.20s\n", TestCounts(0, 0, 2, 0, "2 errors")),
        ("\nno tests ran in 0.00s\n", TestCounts(0, 0, 0, 0, "no tests ran")),
        ("\n6 deselected in 0.00s\n", TestCounts(0, 0, 0, 0, "6 deselected")),
        (
            "==== 40 passed, 3 warnings in 61.20s (0:01:01) ====\n",
            TestCounts(40, 0, 0, 0, "40 passed, 3 warnings"),
        ),
        (
            "\x1b[31m\x1b[1m1 failed\x1b[0m, \x1b[32m1 passed\x1b[0m\x1b[31m in 0.05s\x1b[0m",
            TestCounts(1, 1, 0, 0, "1 failed, 1 passed"),
        ),
    ],
)
def test_parse_summary_reads_pytest_summary_lines(output: str, expected: TestCounts) -> None:
    assert parse_summary(output) == expected


@pytest.mark.parametrize("output", ["", "make: *** [test] Error 2\n", "Ran 3 tests in 0.001s\n\nOK\n"])
def test_parse_summary_returns_none_without_a_pytest_summary(output: str) -> None:
    assert parse_summary(output) is None


def test_parse_failures_reads_the_short_summary() -> None:
    assert parse_failures(MIXED_Q) == (
        TestFailure("tests/test_a.py::test_bad", "AssertionError: math is broken"),
        TestFailure("tests/test_a.py::test_err", "RuntimeError: fixture exploded"),
    )


def test_parse_failures_keeps_parametrized_ids_whole() -> None:
    output = "FAILED test_p.py::test_div[1-0] - ZeroDivisionError: division by zero\n"

    assert parse_failures(output) == (TestFailure("test_p.py::test_div[1-0]", "ZeroDivisionError: division by zero"),)


def test_parse_failures_takes_a_collection_errors_reason_from_its_section() -> None:
    assert parse_failures(COLLECTION_ERROR) == (TestFailure("tests/test_c.py", "SyntaxError: invalid syntax"),)


def test_parse_failures_ignores_pytests_own_usage_errors() -> None:
    assert parse_failures("ERROR: file or directory not found: tests/nothing.py\n") == ()


# --- the tests gate on snapshots: the tests the agent cannot game ------------------------------------

SOURCE = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"
WRONG_MUL = SOURCE.replace("a * b", "a + b")
FASTER_MUL = SOURCE.replace("    return a * b\n", "    product = a * b\n    return product\n")
TESTS = (
    "from calc import add, mul\n\n\n"
    "def test_add():\n    assert add(2, 2) == 4\n\n\n"
    "def test_mul():\n    assert mul(2, 3) == 6\n"
)
FILES = {"calc.py": SOURCE, "tests/test_calc.py": TESTS}
MUL_ID = "tests/test_calc.py::test_mul"


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    """The baseline of FILES, run once for this module and handed to the gate as the judge will:
    every project made from FILES has the same tree, so the same baseline."""
    project = Project(tmp_path_factory.mktemp("baseline"), FILES)
    with Scratch(project.checkpoints) as scratch:
        return Baselines(project.root, GatesConfig()).get(scratch, project.before)


def test_the_baseline_is_found_by_the_gate_itself_when_none_is_given(tmp_path: Path) -> None:
    project = Project(tmp_path, FILES)

    judged = judge(project.attempt({"calc.py": FASTER_MUL}))

    assert (judged.tests.passed, judged.tests.verifies, judged.findings) == (True, True, ())
    details = judged.tests.details
    assert (details["originals_ran"], details["single_run"], details["baseline_cached"]) == (2, True, False)
    assert list(details["seconds"]) == ["baseline", "originals"]  # no test changed: one run after the attempt
    assert (tmp_path / ".overseer" / "baselines" / f"{details['baseline_tree']}.json").is_file()


def test_a_wrong_change_hidden_by_a_skip_marker_is_a_named_regression(tmp_path: Path, baseline: Baseline) -> None:
    skipped = TESTS.replace("def test_mul", "import pytest\n\n\n@pytest.mark.skip\ndef test_mul")
    project = Project(tmp_path, FILES)

    judged = judge(project.attempt({"calc.py": WRONG_MUL, "tests/test_calc.py": skipped}), baseline=baseline)

    assert (judged.tests.passed, judged.tests.verifies) == (False, False)
    assert judged.codes == ["regression", "tests_weakened"]
    assert judged.message("regression").splitlines() == [
        "Tests that passed before the attempt fail on the new code:",
        f"- {MUL_ID}: assert 5 == 6",
    ]
    assert f"- {MUL_ID}: a skip or xfail marker was added" in judged.message("tests_weakened")
    assert judged.tests.details["regressions"] == [MUL_ID]


def test_a_wrong_change_with_the_tests_overwritten_by_assert_true_is_caught(tmp_path: Path, baseline: Baseline) -> None:
    project = Project(tmp_path, FILES)

    attempt = project.attempt({"calc.py": WRONG_MUL, "tests/test_calc.py": "def test_ok():\n    assert True\n"})
    judged = judge(attempt, baseline=baseline)

    assert judged.codes == ["regression", "tests_weakened"]
    assert judged.tests.details["regressions"] == [MUL_ID]
    assert judged.message("tests_weakened").splitlines()[1:] == [
        "- tests/test_calc.py::test_add: the test was deleted",
        f"- {MUL_ID}: the test was deleted",
    ]
    assert judged.tests.details["new_tests"] == ["tests/test_calc.py::test_ok"]
    assert judged.tests.verifies is False


def test_a_deleted_test_file_still_runs_in_its_original_form(tmp_path: Path, baseline: Baseline) -> None:
    project = Project(tmp_path, FILES)

    judged = judge(project.attempt({"calc.py": WRONG_MUL, "tests/test_calc.py": None}), baseline=baseline)

    assert judged.codes == ["regression", "tests_weakened"]
    assert "tests/test_calc.py: the test file was deleted (2 test(s): test_add, test_mul)" in judged.message(
        "tests_weakened"
    )


def test_a_correct_change_with_a_new_passing_test_verifies(tmp_path: Path, baseline: Baseline) -> None:
    new_test = TESTS + "\n\ndef test_mul_by_zero():\n    assert mul(5, 0) == 0\n"
    project = Project(tmp_path, FILES)

    judged = judge(project.attempt({"calc.py": FASTER_MUL, "tests/test_calc.py": new_test}), baseline=baseline)

    assert (judged.tests.passed, judged.tests.verifies, judged.findings) == (True, True, ())
    assert judged.tests.details["new_tests"] == ["tests/test_calc.py::test_mul_by_zero"]
    assert (judged.tests.passed_count, judged.tests.failed_count) == (3, 0)
    assert judged.tests.details["single_run"] is False


def test_a_new_test_that_fails_is_named(tmp_path: Path, baseline: Baseline) -> None:
    new_test = "from calc import mul\n\n\ndef test_mul_negative():\n    assert mul(-2, 3) == 6\n"
    project = Project(tmp_path, FILES)

    judged = judge(project.attempt({"tests/test_negative.py": new_test}), baseline=baseline)

    assert judged.codes == ["new_test_failed"]
    assert judged.message("new_test_failed").splitlines() == [
        "Tests the attempt added or edited fail:",
        "- tests/test_negative.py::test_mul_negative: assert -6 == 6",
    ]
    assert judged.tests.verifies is False


def test_an_honest_edit_of_a_test_is_a_warning_not_a_veto(tmp_path: Path, baseline: Baseline) -> None:
    stronger = TESTS.replace("assert mul(2, 3) == 6", "assert mul(2, 3) == 6\n    assert mul(0, 3) == 0")
    project = Project(tmp_path, FILES)

    judged = judge(project.attempt({"tests/test_calc.py": stronger}), baseline=baseline)

    assert judged.codes == ["tests_modified"]
    assert judged.findings[0].severity is Severity.WARNING
    assert judged.message("tests_modified").endswith(f"(the originals were run): {MUL_ID}")
    assert (judged.tests.passed, judged.tests.verifies) == (True, True)


def test_a_changed_behaviour_with_a_rewritten_test_stops_for_a_person(tmp_path: Path, baseline: Baseline) -> None:
    rewritten = TESTS.replace("assert mul(2, 3) == 6", "assert mul(2, 3) == 7")
    project = Project(tmp_path, FILES)

    attempt = project.attempt({"calc.py": SOURCE.replace("a * b", "a * b + 1"), "tests/test_calc.py": rewritten})
    judged = judge(attempt, baseline=baseline)

    assert judged.codes == ["original_test_changed"]
    [changed] = judged.findings
    assert (changed.severity, changed.route) == (Severity.BLOCKING, Route.HUMAN)
    assert changed.message.startswith(f"{MUL_ID} passed before the attempt and fails on the new code (assert 7 == 6)")
    assert changed.message.endswith(
        "Before:\ndef test_mul():\n    assert mul(2, 3) == 6\nAfter:\ndef test_mul():\n    assert mul(2, 3) == 7"
    )
    assert judged.tests.details["changed_originals"] == [MUL_ID]


def test_a_conftest_hook_that_drops_tests_is_a_weakening(tmp_path: Path, baseline: Baseline) -> None:
    hook = "def pytest_collection_modifyitems(items):\n    items[:] = [i for i in items if 'mul' not in i.name]\n"
    project = Project(tmp_path, FILES)

    judged = judge(project.attempt({"calc.py": WRONG_MUL, "tests/conftest.py": hook}), baseline=baseline)

    assert judged.codes == ["regression", "tests_weakened"]
    assert judged.message("tests_weakened").splitlines()[1:] == [
        "- tests/conftest.py: `pytest_collection_modifyitems` was added: it can drop tests or change their outcome",
        f"- 1 original test(s): no longer collected in the agent's version: {MUL_ID}",
    ]


def test_a_pytest_config_that_filters_tests_is_a_weakening(tmp_path: Path, baseline: Baseline) -> None:
    config = '[project]\nname = "calc"\n\n[tool.pytest.ini_options]\naddopts = "-k \'not mul\'"\n'
    project = Project(tmp_path, FILES)

    judged = judge(project.attempt({"calc.py": WRONG_MUL, "pyproject.toml": config}), baseline=baseline)

    assert judged.codes == ["regression", "tests_weakened"]
    assert "- pyproject.toml: addopts now filters tests: -k not mul" in judged.message("tests_weakened")


def test_a_pyproject_edit_outside_pytests_section_is_no_test_edit(tmp_path: Path) -> None:
    pyproject = '[project]\nname = "calc"\n\n[tool.pytest.ini_options]\naddopts = "-q"\n'
    project = Project(tmp_path, {**FILES, "pyproject.toml": pyproject})

    judged = judge(project.attempt({"pyproject.toml": pyproject.replace('"calc"', '"calculator"')}))

    assert (judged.tests.passed, judged.tests.details["single_run"], judged.findings) == (True, True, ())


def test_failures_that_predate_the_attempt_are_reported_not_blamed(tmp_path: Path) -> None:
    old = "def test_unrelated():\n    assert 'legacy' == 'fixed'\n"
    project = Project(tmp_path, {**FILES, "tests/test_old.py": old})

    judged = judge(project.attempt({"calc.py": FASTER_MUL}))

    assert judged.codes == ["preexisting_failures"]
    assert judged.findings[0].severity is Severity.INFO
    assert judged.message("preexisting_failures").endswith(
        "(not counted against it): tests/test_old.py::test_unrelated"
    )
    assert (judged.tests.passed, judged.tests.verifies) == (True, True)
    assert judged.tests.details["preexisting"] == ["tests/test_old.py::test_unrelated"]


def test_failures_the_attempt_is_about_are_blamed_even_though_they_predate_it(tmp_path: Path) -> None:
    stub = "def word_count(text):\n    raise NotImplementedError\n"
    tests = (
        "from textstats import word_count\n\n\n"
        "def test_two_words():\n    assert word_count('hello world') == 2\n\n\n"
        "def test_empty():\n    assert word_count('') == 0\n"
    )
    project = Project(tmp_path, {"textstats.py": stub, "tests/test_textstats.py": tests})

    wrong = "def word_count(text):\n    return len(text.split(' '))\n"
    judged = judge(project.attempt({"textstats.py": wrong}, task="Implement word_count in textstats.py."))

    assert judged.codes == ["tests_failed"]
    assert judged.message("tests_failed").splitlines()[1:] == [
        "- tests/test_textstats.py::test_empty: AssertionError: assert 1 == 0 (before the attempt: NotImplementedError)"
    ]
    assert judged.tests.details["fixed"] == ["tests/test_textstats.py::test_two_words"]
    assert (judged.tests.passed, judged.tests.verifies) == (False, False)


# --- bad input: a clear finding, never a crash or a silent pass ----------------------------------------


def test_a_suite_that_hangs_on_the_new_code_is_stopped_and_the_test_named(tmp_path: Path, baseline: Baseline) -> None:
    pid_file = tmp_path / "pid"
    hangs = SOURCE.replace(
        "    return a * b\n",
        f"    import os, time\n    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n    time.sleep(60)\n",
    )
    project = Project(tmp_path / "ws", FILES)

    judged = judge(project.attempt({"calc.py": hangs}), GatesConfig(syntax=False, test_timeout_s=4), baseline)

    assert judged.codes == ["tests_timeout"]
    assert judged.findings[0].severity is Severity.BLOCKING
    assert judged.message("tests_timeout").startswith("The tests did not finish within 4s on the new code (before")
    assert judged.message("tests_timeout").endswith(
        f"it was stopped in {MUL_ID}. A test may hang, wait for input or loop forever."
    )
    assert judged.seconds < 20
    with pytest.raises(ProcessLookupError):  # the pytest process that hung is gone, not left running
        os.kill(int(pid_file.read_text()), 0)


def test_a_suite_that_hangs_before_the_attempt_too_is_unusable(tmp_path: Path) -> None:
    project = Project(tmp_path, {**FILES, "tests/conftest.py": "import time\n\ntime.sleep(60)\n"})

    judged = judge(project.attempt({"calc.py": FASTER_MUL}), GatesConfig(syntax=False, test_timeout_s=2))

    assert judged.codes == ["tests_unusable"]
    assert (judged.findings[0].route, judged.tests.passed) == (Route.HUMAN, None)
    assert "did not finish within 2s even before the attempt" in judged.message("tests_unusable")


def test_a_conftest_broken_by_the_new_code_is_the_attempts_failure(tmp_path: Path) -> None:
    conftest = "from calc import mul\n\nTWO = mul(1, 2)\n"
    project = Project(tmp_path, {**FILES, "conftest.py": conftest})

    judged = judge(project.attempt({"calc.py": SOURCE.replace("def mul", "def multiply")}))

    assert judged.codes == ["tests_failed"]
    assert judged.message("tests_failed") == (
        "pytest could not start on the new code (it did before the attempt): "
        "ImportError: cannot import name 'mul' from 'calc' (calc.py)"
    )


def test_a_conftest_that_crashes_before_the_attempt_too_is_unusable(tmp_path: Path) -> None:
    project = Project(tmp_path, {**FILES, "conftest.py": "raise RuntimeError('the conftest is broken')\n"})

    judged = judge(project.attempt({"calc.py": FASTER_MUL}))

    assert judged.codes == ["tests_unusable"]
    assert judged.message("tests_unusable") == (
        "The tests cannot judge this attempt: pytest could not start even before the attempt: "
        "RuntimeError: the conftest is broken."
    )


def test_tests_that_need_a_package_that_is_not_installed_are_unusable_not_blamed(tmp_path: Path) -> None:
    needs = "import overseer_no_such_package_xyz\n\n\ndef test_it():\n    assert overseer_no_such_package_xyz\n"
    project = Project(tmp_path, {**FILES, "tests/test_needs.py": needs})

    judged = judge(project.attempt({"calc.py": FASTER_MUL}))

    assert judged.codes == ["tests_unusable"]
    assert judged.message("tests_unusable").startswith(
        "Some tests cannot run, before the attempt or after it: they need overseer_no_such_package_xyz, which is "
        "not installed where overseer runs the tests (tests/test_needs.py)."
    )
    assert (judged.tests.passed, judged.tests.verifies) == (True, True)  # the other tests still judge the work


def test_a_suite_that_needs_a_missing_package_throughout_judges_nothing(tmp_path: Path) -> None:
    needs = "from overseer_no_such_package_xyz import mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n"
    project = Project(tmp_path, {"calc.py": SOURCE, "tests/test_calc.py": needs})

    judged = judge(project.attempt({"calc.py": WRONG_MUL}))

    assert judged.codes == ["tests_unusable"]
    assert "they need overseer_no_such_package_xyz" in judged.message("tests_unusable")
    assert (judged.tests.passed, judged.tests.verifies) == (None, False)  # not passed, and not the agent's fault


def test_binary_files_among_the_changes_break_nothing(tmp_path: Path, baseline: Baseline) -> None:
    blob = bytes(range(256)) * 4
    project = Project(tmp_path, FILES)

    attempt = project.attempt({"calc.py": FASTER_MUL, "tests/data/sample.bin": blob, "logo.png": blob})
    judged = judge(attempt, baseline=baseline)

    assert (judged.tests.passed, judged.tests.verifies, judged.findings) == (True, True, ())
    assert judged.coverage.passed is True


def test_a_configured_command_that_filters_tests_never_verifies(tmp_path: Path) -> None:
    project = Project(tmp_path, FILES)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "not mul"]

    judged = judge(project.attempt({"calc.py": WRONG_MUL}), GatesConfig(syntax=False, test_command=command))

    assert judged.tests.passed is True  # the filtered run passes...
    assert judged.tests.verifies is False  # ...but cannot verify the work
    assert judged.codes == ["tests_filtered"]  # a choice of the user's, so a person decides
    assert "runs only some of the tests (-k not mul)" in judged.message("tests_filtered")


def test_a_configured_command_runs_with_the_original_tests_put_back(tmp_path: Path) -> None:
    project = Project(tmp_path, FILES)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    attempt = project.attempt({"calc.py": WRONG_MUL, "tests/test_calc.py": "def test_ok():\n    assert True\n"})

    judged = judge(attempt, GatesConfig(syntax=False, test_command=command))

    assert judged.codes == ["tests_failed"]
    assert f"- {MUL_ID}: assert 5 == 6" in judged.message("tests_failed")


def test_tests_the_agent_wrote_where_there_were_none_never_verify_on_their_own(tmp_path: Path) -> None:
    project = Project(tmp_path, {"calc.py": SOURCE})

    judged = judge(project.attempt({"calc.py": FASTER_MUL, "tests/test_calc.py": TESTS}))

    assert (judged.tests.passed, judged.tests.verifies, judged.findings) == (True, False, ())
    assert judged.tests.details["new_tests"] == ["tests/test_calc.py::test_add", MUL_ID]
    assert judged.tests.details["seconds"]["originals"] == 0.0  # no original test: pytest was not even started


def test_a_50_mb_change_is_judged_without_reading_it_whole(tmp_path: Path, baseline: Baseline) -> None:
    row = "    (" + ", ".join(str(n) for n in range(20)) + "),\n"
    table = "TABLE = [\n" + row * (25_000_000 // len(row)) + "]\n"  # twice: 50 MB of diff in all
    project = Project(tmp_path, FILES)

    attempt = project.attempt({"calc.py": FASTER_MUL, "table.py": table, "tests/data/big.txt": table})
    judged = judge(attempt, baseline=baseline)

    assert (judged.tests.passed, judged.tests.verifies, judged.findings) == (True, True, ())
    assert judged.coverage.details["uncovered"] == {}  # table.py is too large to analyse; calc.py is covered
    assert judged.seconds < 30
