"""SupervisionBench's harness on two real cases: the real `claude` CLI, the real loop, the real truth."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
import yaml

from bench.supervision import results
from bench.supervision.cases import Case, Planner, Prepared, build, prepare
from bench.supervision.cli import DEV_PLUGINS, parse
from bench.supervision.harness import require_clean_environment, run_case
from bench.supervision.mutants import ClassicOperators
from bench.supervision.problems import load_problems
from overseer.testing import ScriptedOllamaServer, without_model_credentials
from overseer.testing.ollama_server import DEFAULT_MODEL as MODEL

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


def test_kinds_narrow_a_run_to_those_kinds_and_an_unknown_one_is_refused(
    prepared: Prepared, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse(["--kinds", "impossible, vacuous_test"])
    kinds = [case.kind for case in Planner(args.seed, args.rotating, args.kinds).for_problem(prepared)]
    assert kinds == ["vacuous_test"]  # this problem's examples give no impossible case (it returns None)
    assert {"correct", "wrong"} <= {case.kind for case in Planner(args.seed, args.rotating).for_problem(prepared)}
    with pytest.raises(SystemExit):
        parse(["--kinds", "impossible,nonsense"])
    assert "no kind nonsense" in capsys.readouterr().err


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


WILL_IT_FLY = 72  # its hard mutant `sum(q) >= w` passes every example; the task says "less than or equal"
FLY_CHECK = {
    "name": "a weight equal to w still flies",
    "source": "from solution import will_it_fly\nassert will_it_fly([1, 2, 1], 4) is True\n",
}


def test_a_trusted_supervisors_acceptance_check_stops_a_hard_mutant(tmp_path: Path, clean_environment: None) -> None:
    """What hard mutants need, end to end: a capable supervisor's check, written from the task's words.

    The capable model is a scripted Ollama server (no such model can run here, and the bench must not
    reach a model service unasked) giving the check a capable model writes from "less than or equal";
    the loop, the CLI, the scratch runs and HumanEval's hidden test are real.
    """
    [problem] = [p for p in load_problems() if p.number == WILL_IT_FLY]
    fly = prepare(problem, ClassicOperators())
    correct = build("correct", fly, random.Random(0), tested=True)
    assert correct is not None and fly.hard, "the problem keeps a hard mutant"
    wrong = Case(fly.problem, "wrong", True, fly.hard[0].source, correct.message, tests=correct.tests, doctests=True)
    approve = {"approve": True, "score": 9, "reasons": ["matches the task"]}
    brief = {"criteria": ["the weight must be at most w"], "read_first": [], "do_not_touch": []}

    ran = []
    for case in (correct, wrong):
        with ScriptedOllamaServer([brief, {"checks": [FLY_CHECK]}, approve]) as server:
            config = tmp_path / f"{case.kind}-supervisor.yaml"
            section = {"name": "ollama", "trust": 0.8, "options": {"host": server.url, "model": MODEL}}
            config.write_text(yaml.safe_dump({"supervisor": section}))
            ran.append(run_case(case, tmp_path / "cases", str(config)))

    assert [r.good for r in ran] == [True, False]  # HumanEval's hidden test says so
    assert ran[0].decision == "proceed", ran[0].findings
    assert ran[1].decision != "proceed"
    assert "acceptance_failed" in ran[1].findings
