"""The coverage gate: changed lines no test runs, measured by real coverage.py over real pytest runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from overseer.config import GatesConfig
from overseer.domain import FileChange, Severity
from overseer.supervise.gates import GateContext
from overseer.supervise.gates.coverage import coverage_gate, line_ranges, source_changes
from overseer.supervise.gates.suites import after_runs
from overseer.workspace.checkpoints import Checkpoints
from overseer.workspace.scratch import Scratch
from tests.supervise.test_gates import FILES, SOURCE, TESTS, Project, judge

UNTESTED = SOURCE + (
    "\n\ndef power(a, n):\n"
    '    """a to the n-th power, by repeated multiplication."""\n'
    "    result = 1\n"
    "    for _ in range(n):\n"
    "        result = mul(result, a)\n"
    "\n"
    "    return result\n"
)


@pytest.fixture(autouse=True)
def _no_plugin_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pytest start would load hypothesis's plugin (over a second here); these tests need none."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def test_changed_lines_no_test_runs_are_named(tmp_path: Path) -> None:
    project = Project(tmp_path, FILES)

    judged = judge(project.attempt({"calc.py": UNTESTED}))

    assert judged.tests.passed is True
    [uncovered] = judged.coverage_findings
    assert (uncovered.code, uncovered.severity) == ("uncovered_changes", Severity.WARNING)
    assert uncovered.message.startswith("The tests pass, but none of them runs calc.py lines 11-15. Add tests")
    assert judged.coverage.passed is False
    assert judged.coverage.details == {
        "uncovered": {"calc.py": "11-15"},  # `def power` runs on import; the blank line 14 is inside the range
        "ratio": 0.2,
        "uncovered_ratio": 0.8,
        "changed_lines": 5,  # statements only: not the blank lines, not the docstring
        "uncovered_lines": 4,
    }


def test_changed_lines_a_new_test_runs_are_covered(tmp_path: Path) -> None:
    tested = (
        TESTS.replace("import add, mul", "import add, mul, power")
        + "\n\ndef test_power():\n    assert power(2, 3) == 8\n"
    )
    project = Project(tmp_path, FILES)

    judged = judge(project.attempt({"calc.py": UNTESTED, "tests/test_calc.py": tested}))

    assert (judged.coverage.passed, judged.coverage_findings) == (True, ())
    assert judged.coverage.summary == "5 of 5 changed line(s) run by a test"
    assert judged.coverage.details["ratio"] == 1.0


def test_the_coverage_gate_reuses_the_tests_gates_run(tmp_path: Path) -> None:
    project = Project(tmp_path, FILES)
    attempt = project.attempt({"calc.py": UNTESTED})

    with Scratch(Checkpoints(attempt.workspace)) as scratch:
        ctx = GateContext(attempt, GatesConfig(), scratch)
        result, _ = coverage_gate(ctx)  # first: it makes the runs
        runs = after_runs(ctx)  # then the tests gate would find them made

        assert result.details["uncovered"] == {"calc.py": "11-15"}
        assert after_runs(ctx) is runs and runs.single


def test_no_python_source_change_means_the_gate_does_not_apply(tmp_path: Path) -> None:
    project = Project(tmp_path, {**FILES, "README.md": "calc\n"})
    edited = TESTS + "\n\ndef test_more():\n    assert True\n"

    judged = judge(project.attempt({"README.md": "calc, faster\n", "tests/test_calc.py": edited}))

    assert (judged.coverage.passed, judged.coverage.summary, judged.coverage_findings) == (
        None,
        "no Python source changed",
        (),
    )


def test_when_the_tests_hang_coverage_says_nothing(tmp_path: Path) -> None:
    project = Project(tmp_path, FILES)
    hangs = UNTESTED.replace("    return a * b\n", "    while True:\n        pass\n")

    judged = judge(project.attempt({"calc.py": hangs}), GatesConfig(syntax=False, test_timeout_s=3))

    assert judged.codes == ["tests_timeout"]
    assert (judged.coverage.passed, judged.coverage.summary) == (None, "the tests did not run to the end")


def test_only_python_source_the_attempt_added_or_changed_is_measured() -> None:
    paths = ["calc.py", "tests/test_calc.py", "conftest.py", "README.md", "pkg/util.py", "tests/helpers.py"]
    changes = (
        *(FileChange(path, "modified", "a", "b") for path in paths),
        FileChange("gone.py", "deleted", "a", None),
    )

    assert [change.path for change in source_changes(changes)] == ["calc.py", "pkg/util.py"]


@pytest.mark.parametrize(
    ("lines", "statements", "shown"),
    [
        ([12, 13, 14, 20], None, "12-14, 20"),
        ([7], None, "7"),
        ([12, 14], [12, 14, 16], "12-14"),  # 13 is no statement (a blank line, a comment)
        ([12, 16], [12, 14, 16], "12, 16"),  # 14 ran
        ([], None, ""),
    ],
)
def test_line_ranges_compress_and_span_non_statements(
    lines: list[int], statements: list[int] | None, shown: str
) -> None:
    assert line_ranges(lines, statements) == shown
