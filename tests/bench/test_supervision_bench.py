"""SupervisionBench's harness on two real cases: the real `claude` CLI, the real loop, the real truth."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from bench.supervision import results
from bench.supervision.cases import Case, Prepared, build, prepare
from bench.supervision.cli import DEV_PLUGINS, parse
from bench.supervision.harness import require_clean_environment, run_case
from bench.supervision.mutants import ClassicOperators
from bench.supervision.problems import load_problems
from overseer.testing import without_model_credentials

TRUNCATE_NUMBER = 2  # `return number % 1.0`: small, with docstring examples and mutants they catch


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the bench's worker processes have: no model credentials, no dev-only pytest plugins."""
    for name in set(os.environ) - set(without_model_credentials(os.environ)):
        monkeypatch.delenv(name)
    monkeypatch.setenv("PYTEST_ADDOPTS", DEV_PLUGINS)


@pytest.fixture(scope="module")
def prepared() -> Prepared:
    [problem] = [p for p in load_problems() if p.number == TRUNCATE_NUMBER]
    return prepare(problem, ClassicOperators())


def test_a_problem_gives_examples_and_mutants_sorted_by_difficulty(prepared: Prepared) -> None:
    assert prepared.consistent and prepared.examples
    assert prepared.easy, "some mutant fails a docstring example"
    assert all(mutant.source != prepared.problem.solution for mutant in prepared.killed)


def test_the_bench_refuses_an_environment_with_model_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-real-looking")
    with pytest.raises(RuntimeError, match="ANTHROPIC_API_KEY"):
        require_clean_environment()


def test_a_correct_and_a_wrong_case_end_to_end(tmp_path: Path, prepared: Prepared, clean_environment: None) -> None:
    correct = build("correct", prepared, random.Random(0), tested=True)
    assert correct is not None
    wrong = Case(
        prepared.problem, "wrong", True, prepared.easy[0].source, correct.message, tests=correct.tests, doctests=True
    )

    ran = [run_case(case, tmp_path / "cases") for case in (correct, wrong)]

    assert [r.error for r in ran] == ["", ""]
    assert [r.good for r in ran] == [True, False]  # the truth: HumanEval's hidden check on the final code
    assert ran[1].decision != "proceed" and ran[1].features["any_blocking"] == 1.0
    run = results.Run(parse(["--problems", str(TRUNCATE_NUMBER)]), [prepared.problem.task_id], "ast", 1.0)
    table = results.write(run, ran, tmp_path / "out", fit_calibration=False)
    assert table.splitlines()[0].startswith("| kind | cases | proceed | missed defects")
    written = json.loads((tmp_path / "out" / results.JSON_PATH).read_text())
    assert set(written) == {"meta", "summary", "refit", "cases"}
    assert set(written["summary"]["kinds"]) == {"correct", "wrong"}
    overall = written["summary"]["overall"]
    assert (overall["cases"], overall["good"]) == (2, 1)
    assert {"proceed_rate", "missed_defects", "false_stops", "auroc", "brier", "ece", "judge_s"} <= set(overall)
    assert (tmp_path / "out" / results.PNG_PATH).stat().st_size > 0
    assert "## Goals" in (tmp_path / "out" / results.DOC_PATH).read_text()
