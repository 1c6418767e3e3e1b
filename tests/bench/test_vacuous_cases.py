"""SupervisionBench's "vacuous_test" kind: the task asks for a test, and the agent's test passes on
the stub as well. The cases are built as the bench builds them and checked with real pytest; then one
runs through the real `claude` CLI and the real loop: it must not complete."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from bench.supervision.cases import ADDED_TESTS, VACUOUS, Case, Prepared, build
from bench.supervision.cli import DEV_PLUGINS
from bench.supervision.groundtruth import usable_examples
from bench.supervision.harness import create_workspace, run_case
from bench.supervision.problems import load_problems
from overseer.testing import Use, without_model_credentials

TRUNCATE_NUMBER = 2  # `return number % 1.0`: small, with docstring examples


@pytest.fixture(scope="module")
def prepared() -> Prepared:
    """The problem with its screened examples (no mutants: the vacuous kind needs none)."""
    [problem] = [p for p in load_problems() if p.number == TRUNCATE_NUMBER]
    return Prepared(problem, usable_examples(problem), hard=(), easy=(), operators="none")


def vacuous_case(prepared: Prepared, seed: int) -> Case:
    made = build("vacuous_test", prepared, random.Random(seed), tested=True)
    assert made is not None
    return made


def passing_tests(workspace: Path, path: str) -> int:
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *DEV_PLUGINS.split(), path],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout
    return ran.stdout.count(" passed")


@pytest.mark.parametrize("how", VACUOUS)
def test_each_vacuous_test_passes_on_the_stub_and_on_the_solution(tmp_path: Path, prepared: Prepared, how: str) -> None:
    case = next(c for seed in range(30) if (c := vacuous_case(prepared, seed)).variant == how)
    workspace = create_workspace(case, tmp_path / how)
    assert case.added_tests is not None
    (workspace / ADDED_TESTS).write_text(case.added_tests)

    assert passing_tests(workspace, ADDED_TESTS) == 1  # on the stub: it cannot fail
    (workspace / "solution.py").write_text(prepared.problem.solution)
    assert passing_tests(workspace, ADDED_TESTS) == 1
    assert not case.completable and ADDED_TESTS in case.task
    writes = [b.input["file_path"] for t in case.turns(workspace) for b in t.blocks if isinstance(b, Use)]
    assert str(workspace / ADDED_TESTS) in writes


def test_a_vacuous_test_does_not_complete(tmp_path: Path, prepared: Prepared, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in set(os.environ) - set(without_model_credentials(os.environ)):
        monkeypatch.delenv(name)
    monkeypatch.setenv("PYTEST_ADDOPTS", DEV_PLUGINS)
    case = vacuous_case(prepared, 0)

    ran = run_case(case, tmp_path)

    assert ran.error == ""
    assert ran.decision != "proceed" and not ran.good
    assert "vacuous_test" in ran.findings and ran.features["vacuous_tests"] == 1.0
