"""The baseline before an attempt, and the plugin that reports each test's outcome: real pytest runs,
real shadow-git snapshots, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from overseer.config import GatesConfig
from overseer.supervise.baseline import Baselines, tree_of
from overseer.supervise.gates.commands import run_pytest
from overseer.supervise.gates.pytest_output import read_report
from overseer.supervise.gates.pytest_plugin import REPORT_ENV
from overseer.workspace.scratch import Scratch
from tests.supervise.test_gates import Project

MIXED = """\
import pytest


def test_passes():
    assert 1 + 1 == 2


def test_fails():
    assert 1 + 1 == 3, "arithmetic"


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


@pytest.mark.xfail(reason="known bug")
def test_xfailed():
    assert False


@pytest.mark.xfail(reason="fixed since")
def test_xpassed():
    pass


@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")


def test_errors(broken):
    pass
"""
EXPECTED = {
    "tests/test_mixed.py::test_passes": "passed",
    "tests/test_mixed.py::test_fails": "failed",
    "tests/test_mixed.py::test_skipped": "skipped",
    "tests/test_mixed.py::test_xfailed": "xfailed",
    "tests/test_mixed.py::test_xpassed": "xpassed",
    "tests/test_mixed.py::test_errors": "error",
    "tests/test_import.py": "error",
}
FILES = {"tests/test_mixed.py": MIXED, "tests/test_import.py": "import overseer_missing_module_xyz\n"}


@pytest.fixture(autouse=True)
def _no_plugin_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pytest start would load hypothesis's plugin (over a second here); these tests need none."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def test_the_baseline_has_every_tests_outcome_and_reason(tmp_path: Path) -> None:
    project = Project(tmp_path / "ws", FILES)
    with Scratch(project.checkpoints) as scratch:
        baseline = Baselines(project.root, GatesConfig()).get(scratch, project.before)

    assert baseline.outcomes == EXPECTED
    assert baseline.reasons["tests/test_mixed.py::test_fails"] == "AssertionError: arithmetic"
    assert baseline.reasons["tests/test_mixed.py::test_skipped"] == "not today"
    assert baseline.reasons["tests/test_mixed.py::test_xfailed"] == "known bug"
    assert baseline.reasons["tests/test_mixed.py::test_errors"] == "RuntimeError: fixture exploded"
    assert baseline.passed() == {"tests/test_mixed.py::test_passes", "tests/test_mixed.py::test_xpassed"}
    assert (baseline.usable, baseline.cached, baseline.missing_modules) == (
        True,
        False,
        ["overseer_missing_module_xyz"],
    )
    assert baseline.note == "the tests need modules that are not installed: overseer_missing_module_xyz"
    assert 0 < baseline.seconds < 30


def test_an_unchanged_tree_is_never_run_twice(tmp_path: Path) -> None:
    project = Project(tmp_path / "ws", FILES)
    later = project.checkpoints.snapshot("same files, another commit")
    baselines = Baselines(project.root, GatesConfig())
    with Scratch(project.checkpoints) as scratch:
        first = baselines.get(scratch, project.before)
        again = baselines.get(scratch, later)

    assert later != project.before and tree_of(project.checkpoints, later) == first.tree
    assert (first.cached, again.cached) == (False, True)
    assert again.outcomes == first.outcomes and again.seconds == first.seconds
    stored = json.loads((project.root / ".overseer" / "baselines" / f"{first.tree}.json").read_text())
    assert stored["baseline"]["outcomes"] == EXPECTED


def test_another_test_command_or_an_installed_module_runs_it_again(tmp_path: Path) -> None:
    project = Project(tmp_path / "ws", FILES)
    with Scratch(project.checkpoints) as scratch:
        Baselines(project.root, GatesConfig()).get(scratch, project.before)
        command = [sys.executable, "-c", "print('ok')"]
        other = Baselines(project.root, GatesConfig(test_command=command)).get(scratch, project.before)
        installed = tmp_path / "site"
        installed.mkdir()
        (installed / "overseer_missing_module_xyz.py").write_text("")
        sys.path.insert(0, str(installed))
        try:
            rerun = Baselines(project.root, GatesConfig()).get(scratch, project.before)
        finally:
            sys.path.remove(str(installed))

    assert (other.cached, other.outcomes, other.exit_code) == (False, {}, 0)  # a command gives no per-test outcomes
    assert rerun.cached is False  # the module its tests missed can be found now


def test_a_baseline_that_timed_out_is_kept_for_the_same_timeout_only(tmp_path: Path) -> None:
    project = Project(tmp_path / "ws", {"tests/conftest.py": "import time\n\ntime.sleep(60)\n", "tests/test_a.py": ""})
    with Scratch(project.checkpoints) as scratch:
        hung = Baselines(project.root, GatesConfig(test_timeout_s=1)).get(scratch, project.before)
        same = Baselines(project.root, GatesConfig(test_timeout_s=1)).get(scratch, project.before)
        longer = Baselines(project.root, GatesConfig(test_timeout_s=1.5)).get(scratch, project.before)

    assert (hung.usable, hung.timed_out, hung.outcomes) == (False, True, {})
    assert hung.note == "the tests did not finish within 1s even before the attempt"
    assert (same.cached, longer.cached, longer.timed_out) == (True, False, True)


def test_a_conftest_that_crashes_makes_the_baseline_unusable(tmp_path: Path) -> None:
    project = Project(tmp_path / "ws", {"conftest.py": "import json\njson.loads('{')\n", "test_a.py": ""})
    with Scratch(project.checkpoints) as scratch:
        baseline = Baselines(project.root, GatesConfig()).get(scratch, project.before)

    assert (baseline.usable, baseline.timed_out) == (False, False)
    assert baseline.note.startswith("pytest could not start even before the attempt: json.decoder.JSONDecodeError")


def test_a_tree_without_tests_has_an_empty_usable_baseline(tmp_path: Path) -> None:
    project = Project(tmp_path / "ws", {"calc.py": "x = 1\n"})
    with Scratch(project.checkpoints) as scratch:
        baseline = Baselines(project.root, GatesConfig()).get(scratch, project.before)

    assert (baseline.usable, baseline.outcomes, baseline.note, baseline.seconds) == (True, {}, "no tests", 0.0)


def test_an_unwritable_cache_still_gives_the_baseline(tmp_path: Path) -> None:
    project = Project(tmp_path / "ws", {"test_a.py": "def test_a():\n    pass\n"})
    (project.root / ".overseer" / "baselines").write_text("a file where the cache directory should be")
    with Scratch(project.checkpoints) as scratch:
        baseline = Baselines(project.root, GatesConfig()).get(scratch, project.before)

    assert baseline.outcomes == {"test_a.py::test_a": "passed"}


# --- the plugin ------------------------------------------------------------------------------------


def test_the_plugin_names_the_test_a_killed_run_was_stuck_in(tmp_path: Path) -> None:
    hangs = "import time\n\n\ndef test_quick():\n    pass\n\n\ndef test_hangs():\n    time.sleep(60)\n"
    (tmp_path / "test_h.py").write_text(hangs)

    run = run_pytest(tmp_path, 3, tmp_path.parent / f"{tmp_path.name}.private")

    assert run.timed_out and run.report is not None
    assert (run.report.outcomes, run.report.running, run.report.exit_status) == (
        {"test_h.py::test_quick": "passed"},
        "test_h.py::test_hangs",
        None,
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["test_h.py"]  # nothing written beside the tests


def test_the_plugin_loads_by_name_and_hides_the_report_path_from_the_tests(tmp_path: Path) -> None:
    report = tmp_path / "report.jsonl"
    (tmp_path / "test_env.py").write_text(
        f"import os\n\n\ndef test_env():\n    assert {REPORT_ENV!r} not in os.environ\n"
    )
    env = {**os.environ, REPORT_ENV: str(report)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "overseer.supervise.gates.pytest_plugin",
    ]

    subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, check=False, timeout=60)

    assert read_report(report.read_text()).outcomes == {"test_env.py::test_env": "passed"}


def test_a_report_is_read_whatever_happened_to_the_run() -> None:
    lines = [
        {"collected": ["t.py::a", "t.py::b", "t.py::c"]},
        {"start": "t.py::a"},
        {"test": "t.py::a", "outcome": "passed", "reason": ""},
        {"test": "t.py::a", "outcome": "error", "reason": "teardown exploded"},  # spoils the pass
        {"start": "t.py::b"},
        {"test": "t.py::b", "outcome": "failed", "reason": "assert 1 == 2"},
        {"test": "t.py::b", "outcome": "error", "reason": "teardown exploded"},  # a failure stays a failure
        {"start": "t.py::c"},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + '\n{"test": "t.py::c", "outc'  # killed mid-write

    report = read_report(text)

    assert report.outcomes == {"t.py::a": "error", "t.py::b": "failed"}
    assert report.reasons == {"t.py::a": "teardown exploded", "t.py::b": "assert 1 == 2"}
    assert (report.collected, report.running, report.exit_status, report.ran) == (
        ("t.py::a", "t.py::b", "t.py::c"),
        "t.py::c",
        None,
        2,
    )
