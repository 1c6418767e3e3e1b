"""The confidence is a calibrated probability: features from the evidence, a logistic model, JSON."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from overseer.cli.calibrate import calibrate, training_rows
from overseer.domain import (
    AttemptStatus,
    Claim,
    ClaimStatus,
    Decision,
    Finding,
    GateResult,
    Outcome,
    Review,
    Route,
    Severity,
    TaskStatus,
    Verdict,
)
from overseer.errors import ConfigError, UsageError
from overseer.redact import Redactor
from overseer.runtime import open_workspace
from overseer.state.store import Store, sqlite_url
from overseer.supervise.calibration import WORKSPACE_FILE, Calibration, brier_score, fit, packaged
from overseer.supervise.confidence import assess, confidence
from overseer.supervise.features import FEATURES, features
from overseer.supervise.policy import finding

VERIFIED = GateResult("tests", True, "3 passed", passed_count=3, verifies=True)
FAILED = GateResult("tests", False, "2 of 3 failed", passed_count=1, failed_count=2)


def test_features_are_the_documented_set_and_zero_without_evidence() -> None:
    values = features([], [], None)
    assert list(values) == list(FEATURES)
    assert set(values.values()) == {0.0}


def test_features_read_gates_findings_claims_and_the_review() -> None:
    found = [
        finding("gates", "tests_failed", "2 failed"),
        finding("gates", "regression", "test_a passed before"),
        finding("scope", "unrequested_deletion", "NOTES.md deleted"),
        finding("validate", "tool_denied", "rm refused"),
    ]
    claims = [Claim("tests", "all tests pass", ClaimStatus.REFUTED), Claim("file", "calc.py", ClaimStatus.CONFIRMED)]
    values = features(found, [FAILED], Review(False, 0.2, trust=0.8), claims)
    assert values["any_blocking"] == values["blocking_agent"] == values["blocking_human"] == 1.0
    assert (values["tests_ran"], values["tests_passed"], values["tests_failed_ratio"]) == (1.0, 0.0, 2 / 3)
    assert values["regressions"] == values["scope_flags"] == 1.0
    assert (values["refuted_claims"], values["confirmed_claims"], values["warnings"]) == (1.0, 1.0, 1.0)
    assert values["review_rejected_trusted"] == 1.0 and values["review_score_weighted"] == pytest.approx(0.16)
    assert values["verified"] == 0.0


def test_gate_details_and_unknown_gates_count_without_a_crash() -> None:
    gates = [
        GateResult("tests", True, "ok", passed_count=4, verifies=True, details={"regressions": []}),
        GateResult("examples", True, "2 examples", verifies=True),
        GateResult("coverage", True, "cov", details={"uncovered_lines": [12, 13], "changed_lines": 8}),
        GateResult("lint", False, "1 problem"),
        GateResult("types", False, "mypy: 2 errors", details={"odd": object()}),
        GateResult("docs", None, "did not apply"),
    ]
    values = features([], gates, Review(True, 0.9, trust=0.0))
    assert values["examples_confirmed"] == values["verified"] == values["lint_problems"] == 1.0
    assert values["uncovered_ratio"] == 0.25 and values["regressions"] == 0.0
    assert values["other_gates_failed"] == 1.0
    assert values["review_score_weighted"] == 0.0  # an untrusted model's score counts nothing


def test_the_packaged_model_loads_and_orders_the_evidence() -> None:
    model = packaged()
    assert model.source and set(model.weights) <= set(FEATURES)
    honest = [
        Claim("file", "changed calc.py", ClaimStatus.CONFIRMED),
        Claim("tests", "3 passed", ClaimStatus.CONFIRMED),
    ]
    good = confidence([], [VERIFIED], Review(True, 0.0), honest)
    nothing = confidence([], [], None)
    blocked = confidence([finding("gates", "tests_failed", "2 failed")], [FAILED], Review(True, 1.0))
    assert 0.0 <= blocked < 0.3 < nothing < good <= 1.0
    assert good >= 0.75  # the default proceed_threshold (0.7) lets honest, verified work through


def test_an_untrusted_review_moves_nothing_and_a_trusted_rejection_a_lot() -> None:
    base = confidence([], [VERIFIED], None)
    assert confidence([], [VERIFIED], Review(False, 0.0, trust=0.0)) == base
    rejected = [Finding("review", "review_rejected", Severity.BLOCKING, "wrong", Route.AGENT)]
    assert confidence(rejected, [VERIFIED], Review(False, 0.1, trust=0.8)) < 0.3


def test_probability_stays_in_0_1_for_extreme_inputs() -> None:
    model = Calibration({"a": 1000.0, "b": -1000.0}, 0.0, "test")
    assert model.probability({"a": 1.0}) == 1.0
    assert model.probability({"b": 1.0}) == 0.0
    assert model.probability({}) == 0.5
    assert model.probability({"unknown": 5.0}) == 0.5


def _synthetic(n: int, seed: int = 7) -> list[tuple[dict[str, float], bool]]:
    """Good attempts pass their tests, bad ones mostly fail them; `noise` carries no signal."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        good = rng.random() < 0.5
        passed = good or rng.random() < 0.1
        rows.append(({"tests_passed": float(passed), "any_blocking": float(not passed), "noise": rng.random()}, good))
    return rows


def test_fit_recovers_a_separating_model() -> None:
    rows = _synthetic(400)

    model = fit(rows, source="synthetic")

    assert model.weights["tests_passed"] > 1.0 and model.weights["any_blocking"] < -1.0
    assert abs(model.weights["noise"]) < model.weights["tests_passed"] / 3
    assert model.probability({"tests_passed": 1.0}) > 0.8 > 0.2 > model.probability({"any_blocking": 1.0})
    assert model.sample == 400 and model.brier == pytest.approx(brier_score(model, rows), abs=1e-4)
    assert model.brier is not None and model.brier < 0.1
    assert list(model.weights)[: len(FEATURES)] == list(FEATURES)  # documented features first, then others


def test_a_feature_the_sample_never_shows_keeps_its_prior() -> None:
    rows = _synthetic(200)
    assert fit(rows, source="s").weights["lint_problems"] == FEATURES["lint_problems"].prior
    assert fit(rows, source="s", prior={"lint_problems": -5.0}).weights["lint_problems"] == -5.0
    assert fit(rows, source="s", prior={}).weights["lint_problems"] == 0.0


def test_weights_count_some_rows_more_than_others() -> None:
    rows = _synthetic(300)
    plain = fit(rows, source="plain")
    fewer_bad = fit(rows, source="weighted", weights=[1.0 if good else 0.2 for _, good in rows])
    nothing: dict[str, float] = {}
    assert fewer_bad.probability(nothing) > plain.probability(nothing)


def test_fit_refuses_a_single_class() -> None:
    with pytest.raises(ValueError, match="both good and bad"):
        fit([({"tests_passed": 1.0}, True)] * 5, source="one class")


def test_json_round_trip(tmp_path: Path) -> None:
    model = Calibration({"verified": 1.25, "any_blocking": -2.0}, 0.5, "SupervisionBench test", sample=40, brier=0.08)
    path = tmp_path / "calibration.json"

    model.save(path)

    assert Calibration.read(path) == model
    assert json.loads(path.read_text())["model"] == "logistic"


def test_a_workspace_calibration_wins_over_the_packaged_one(tmp_path: Path) -> None:
    assert Calibration.load(tmp_path) == packaged() == Calibration.load(None)
    own = Calibration({"verified": 3.0}, -1.0, "overseer calibrate", sample=25)
    own.save(tmp_path / WORKSPACE_FILE)

    assert Calibration.load(tmp_path) == own
    assert confidence([], [VERIFIED], None, calibration=own) == round(own.probability({"verified": 1.0}), 3)


@pytest.mark.parametrize("text", ["{not json", '{"weights": {"a": "x"}, "intercept": 0}', '{"weights": {}}'])
def test_a_broken_workspace_calibration_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / WORKSPACE_FILE
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(ConfigError, match="unreadable calibration"):
        Calibration.load(tmp_path)


# --- `overseer calibrate`: labels from what humans settled, read from a real store ----------------


def _attempt(store: Store, task_id: int, decision: Decision, values: dict[str, float]) -> None:
    number = len(store.attempts(task_id)) + 1
    attempt = store.start_attempt(task_id, number=number, prompt="p", checkpoint_before="")
    store.finish_attempt(
        attempt.id,
        status=AttemptStatus.FINISHED,
        session_id=None,
        result_text="",
        error="",
        cost_usd=None,
        checkpoint_after=None,
        changes=(),
        verdict=Verdict(findings=(), confidence=0.5, features=values),
        outcome=Outcome(decision),
    )


def test_training_rows_label_attempts_by_what_happened_after_them(tmp_path: Path) -> None:
    store = Store.open(sqlite_url(tmp_path / "state.db"), redactor=Redactor([]))
    project = store.ensure_project(tmp_path).id
    history = {
        "proceeded": ([Decision.PROCEED], TaskStatus.COMPLETED),
        "accepted": ([Decision.ESCALATE], TaskStatus.COMPLETED),
        "sent back, then proceeded": ([Decision.ESCALATE, Decision.PROCEED], TaskStatus.COMPLETED),
        "abandoned": ([Decision.ESCALATE], TaskStatus.ABANDONED),
        "still waiting": ([Decision.RETRY, Decision.ESCALATE], TaskStatus.NEEDS_HUMAN),
        "a question": ([Decision.CLARIFY], TaskStatus.COMPLETED),
    }
    attempts = 0
    for name, (decisions, status) in history.items():
        task = store.add_task(project, name)
        for decision in decisions:
            _attempt(store, task.id, decision, {"label_of": float(attempts)})
            attempts += 1
        store.set_task_status(task.id, status)

    rows = training_rows(store, project)
    store.close()

    # attempt ids in order: proceeded, accepted, sent back, its proceed, abandoned (the rest are unlabelled)
    assert [(values["label_of"], good) for values, good in rows] == [
        (0.0, True),
        (1.0, True),
        (2.0, False),
        (3.0, True),
        (4.0, False),
    ]


def test_calibrate_refuses_a_workspace_with_too_few_outcomes(tmp_path: Path) -> None:
    (tmp_path / ".overseer").mkdir()
    with pytest.raises(UsageError, match="0 labelled attempt"):
        calibrate(workspace=tmp_path, json_output=False)
    assert not (tmp_path / WORKSPACE_FILE).exists()


def test_assess_gives_the_confidence_with_the_features_behind_it() -> None:
    found = [finding("gates", "tests_failed", "2 failed")]
    score, values = assess(found, [FAILED], None)
    assert score == confidence(found, [FAILED], None) == round(packaged().probability(values), 3)
    assert values == features(found, [FAILED], None)


def test_calibrate_refits_on_the_workspace_outcomes_and_the_judge_prefers_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_workspace(tmp_path, {}, create=True) as ws:
        for number in range(24):
            good = number % 3 != 0  # verified work the human accepted; unverified work the human sent back
            task = ws.store.add_task(ws.project_id, f"task {number}")
            _attempt(ws.store, task.id, Decision.ESCALATE, {"verified": float(good), "warnings": float(not good)})
            ws.store.set_task_status(task.id, TaskStatus.COMPLETED if good else TaskStatus.ABANDONED)

    calibrate(workspace=tmp_path, json_output=True)

    said = json.loads(capsys.readouterr().out)
    assert (said["sample"], said["good"]) == (24, 16)
    own = Calibration.load(tmp_path)
    assert own.source.startswith("overseer calibrate") and own.sample == 24
    assert own.probability({"verified": 1.0}) > 0.75 > 0.25 > own.probability({"warnings": 1.0})
    assert own.weights["lint_problems"] == packaged().weights["lint_problems"]  # never seen: kept as it was
