"""Quality gates against real workspaces: real files on disk, real pytest runs, real subprocesses."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from overseer.config import GatesConfig
from overseer.domain import AgentResult, Evidence, FileChange, Severity
from overseer.supervise.gates import GateContext, run_gates
from overseer.supervise.gates.pytest_output import (
    TestCounts,
    TestFailure,
    parse_failures,
    parse_summary,
)

CALC = "def add(a, b):\n    return a + b\n"
CALC_TESTS = (
    "from calc import add\n\n\n"
    "def test_add():\n    assert add(2, 2) == 4\n\n\n"
    "def test_add_negative():\n    assert add(-1, -1) == -2\n"
)


def write(workspace: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def evidence(workspace: Path, *changes: str | FileChange, kind: str = "modified") -> Evidence:
    """Evidence of an attempt that changed `changes` (bare paths get `kind`)."""
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


def only_tests(**overrides: object) -> GatesConfig:
    return GatesConfig.model_validate({"syntax": False, **overrides})


# --- both gates through run_gates ----------------------------------------------------------------


def test_a_passing_suite_passes_both_gates_and_leaves_no_litter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)  # the gate must set it itself
    write(tmp_path, {"calc.py": CALC, "tests/test_calc.py": CALC_TESTS})

    gates, findings = run_gates(GateContext(evidence(tmp_path, "calc.py", "tests/test_calc.py"), GatesConfig()))

    assert findings == ()
    syntax, tests = gates
    assert (syntax.name, syntax.passed, syntax.passed_count) == ("syntax", True, 2)
    assert (tests.name, tests.passed, tests.passed_count, tests.failed_count) == ("tests", True, 2, 0)
    assert tests.summary.startswith("2 passed")
    # The gate's own run must not show up as changes the agent made.
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["calc.py", "test_calc.py", "tests"]


def test_a_failing_test_is_named_with_its_reason(tmp_path: Path) -> None:
    write(tmp_path, {"calc.py": "def add(a, b):\n    return a - b\n", "tests/test_calc.py": CALC_TESTS})

    gates, findings = run_gates(GateContext(evidence(tmp_path, "calc.py"), GatesConfig()))

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

    gates, findings = run_gates(GateContext(evidence(tmp_path, "calc.py", "ok.py"), GatesConfig(tests=False)))

    [syntax] = gates
    assert (syntax.passed, syntax.passed_count, syntax.failed_count) == (False, 1, 1)
    [finding] = findings
    assert (finding.code, finding.severity) == ("syntax_error", Severity.BLOCKING)
    assert finding.message == "calc.py line 3: '(' was never closed"


def test_the_syntax_gate_catches_errors_only_the_compiler_sees(tmp_path: Path) -> None:
    write(tmp_path, {"pkg/mod.py": "x = 1\nreturn x\n"})

    _, findings = run_gates(GateContext(evidence(tmp_path, "pkg/mod.py", kind="added"), GatesConfig(tests=False)))

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

    gates, findings = run_gates(GateContext(attempt, GatesConfig(tests=False)))

    assert findings == ()
    assert (gates[0].passed, gates[0].passed_count) == (True, 1)


def test_no_python_change_means_the_syntax_gate_does_not_apply(tmp_path: Path) -> None:
    write(tmp_path, {"README.md": "hi"})

    gates, findings = run_gates(GateContext(evidence(tmp_path, "README.md"), GatesConfig(tests=False)))

    assert (gates[0].passed, gates[0].summary) == (None, "no Python files changed")
    assert findings == ()


def test_disabled_gates_do_not_run(tmp_path: Path) -> None:
    write(tmp_path, {"calc.py": "def (\n", "tests/test_calc.py": "def test_x():\n    assert 0\n"})

    assert run_gates(GateContext(evidence(tmp_path, "calc.py"), GatesConfig(syntax=False, tests=False))) == ((), ())


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
        GatesConfig.model_validate({"lint": True})
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
