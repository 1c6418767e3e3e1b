"""Confidence: the probability that the attempt is good, from the evidence's features.

Not a hand-weighted score: the features (`features.py`) go through a calibrated logistic model
(`calibration.py`), fitted on SupervisionBench and shipped with the package, or refitted on the
workspace's own outcomes by `overseer calibrate`. So `decide.proceed_threshold` is a probability
the bench can check: of the attempts shown at 0.8, about four in five were good.

No cap for blocking findings: the decision never lets a blocked attempt through whatever its
confidence, and the fitted model already puts blocked attempts low; a cap would only spoil the
calibration the bench measures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from overseer.domain import Claim, Finding, GateResult, Review
from overseer.supervise.calibration import Calibration, packaged
from overseer.supervise.features import features


def confidence(
    findings: Sequence[Finding],
    gates: Sequence[GateResult],
    review: Review | None,
    claims: Iterable[Claim] = (),
    calibration: Calibration | None = None,
) -> float:
    """P(good) under `calibration` (default: the packaged model), rounded for display and storage."""
    return assess(findings, gates, review, claims, calibration)[0]


def assess(
    findings: Sequence[Finding],
    gates: Sequence[GateResult],
    review: Review | None,
    claims: Iterable[Claim] = (),
    calibration: Calibration | None = None,
) -> tuple[float, dict[str, float]]:
    """The confidence and the features it was computed from: `Verdict.confidence` and `Verdict.features`."""
    values = features(findings, gates, review, claims)
    model = calibration or packaged()
    return round(model.probability(values), 3), values
