"""The calibration: a logistic regression from the evidence's features to the probability that an
attempt is good.

Stored as JSON, not pickle: a dict of feature -> coefficient, an intercept and where they came from,
readable in a diff and safe to load. Judging needs only `math` (the sigmoid); scikit-learn is
imported by `fit` alone, which SupervisionBench (`--fit`) and `overseer calibrate` call.

Which model a judge uses: the workspace's own (`.overseer/calibration.json`, written by `overseer
calibrate` from that workspace's recorded outcomes) when there is one, else the packaged one
(`calibration.json` beside this module, fitted on SupervisionBench).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeGuard

from overseer.errors import ConfigError
from overseer.supervise.features import FEATURES, PRIOR_INTERCEPT

WORKSPACE_FILE = Path(".overseer") / "calibration.json"  # under the workspace, beside state.db
_PACKAGED = "calibration.json"
_C = 1.0  # L2 strength of the fit: some features separate the classes perfectly, and must stay finite

Row = tuple[Mapping[str, float], bool]  # an attempt's features, and whether it was good


@dataclass(frozen=True)
class Calibration:
    weights: Mapping[str, float]  # feature -> coefficient; a feature not named here weighs nothing
    intercept: float
    source: str  # where the coefficients come from: "hand-set ...", "SupervisionBench <date> <sample>"
    sample: int = 0  # labelled attempts the fit saw
    brier: float | None = None  # the fit's Brier score on those attempts

    def probability(self, values: Mapping[str, float]) -> float:
        """P(the attempt is good | its features); a feature missing from `values` counts 0."""
        z = self.intercept + sum(weight * values.get(name, 0.0) for name, weight in self.weights.items())
        return _sigmoid(z)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": "logistic",
            "source": self.source,
            "sample": self.sample,
            "brier": self.brier,
            "intercept": self.intercept,
            "weights": dict(self.weights),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Calibration:
        weights, intercept, brier = data.get("weights"), data.get("intercept"), data.get("brier")
        if not isinstance(weights, Mapping) or not _numbers(weights.values()) or not _number(intercept):
            raise ValueError("a calibration needs numeric `weights` (feature -> coefficient) and `intercept`")
        return cls(
            weights={str(name): float(value) for name, value in weights.items()},
            intercept=float(intercept),
            source=str(data.get("source", "")),
            sample=int(data.get("sample", 0)),
            brier=float(brier) if _number(brier) else None,
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> Calibration:
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError
            hint = "delete it, or run `overseer calibrate` again"
            raise ConfigError(f"unreadable calibration: {exc}", path=path, hint=hint) from exc

    @classmethod
    def load(cls, workspace: Path | None = None) -> Calibration:
        """The workspace's own calibration if `overseer calibrate` wrote one, else the packaged one."""
        if workspace is not None and (own := workspace / WORKSPACE_FILE).is_file():
            return cls.read(own)
        return packaged()


@cache  # the packaged file never changes while overseer runs, and a Calibration is immutable
def packaged() -> Calibration:
    text = resources.files("overseer.supervise").joinpath(_PACKAGED).read_text(encoding="utf-8")
    return Calibration.from_json(json.loads(text))


def fit(
    rows: Sequence[Row],
    *,
    source: str,
    weights: Sequence[float] | None = None,
    prior: Mapping[str, float] | None = None,
) -> Calibration:
    """A logistic regression fitted on `rows`; needs both good and bad attempts among them.

    `weights` (one per row) say how much each counts: SupervisionBench over-samples rare outcomes so
    they get a row of their own in its table, and weighs them back down for the fit. A feature no
    row shows keeps its weight from `prior` (default: the hand-set priors in `features.py`): the
    sample cannot say what it is worth, and it changes no probability within the sample."""
    from sklearn.linear_model import LogisticRegression

    names = feature_names(values for values, _ in rows)
    labels = [int(good) for _, good in rows]
    if len(set(labels)) < 2:
        raise ValueError("a calibration needs both good and bad attempts")
    matrix = [[values.get(name, 0.0) for name in names] for values, _ in rows]
    model = LogisticRegression(C=_C, max_iter=1000).fit(matrix, labels, sample_weight=weights)
    unseen = {name for index, name in enumerate(names) if not any(row[index] for row in matrix)}
    prior = prior if prior is not None else priors().weights
    coefficients = {
        name: round(prior.get(name, 0.0) if name in unseen else float(w), 4)
        for name, w in zip(names, model.coef_[0], strict=True)
    }
    fitted = Calibration(coefficients, round(float(model.intercept_[0]), 4), source, sample=len(rows))
    return replace(fitted, brier=round(brier_score(fitted, rows, weights), 4))


def priors() -> Calibration:
    """The hand-set model: every feature at its prior weight (what shipped before the bench ran)."""
    weights = {name: feature.prior for name, feature in FEATURES.items()}
    return Calibration(weights, PRIOR_INTERCEPT, "hand-set priors (features.py)")


def feature_names(rows: Iterable[Mapping[str, float]]) -> list[str]:
    """The documented features first, in their order, then any others the rows carry."""
    seen = dict.fromkeys(FEATURES)
    for values in rows:
        seen.update(dict.fromkeys(values))
    return list(seen)


def brier_score(calibration: Calibration, rows: Sequence[Row], weights: Sequence[float] | None = None) -> float:
    """Mean squared distance between the probability and the outcome (0 is perfect, 0.25 a coin)."""
    errors = [(calibration.probability(values) - float(good)) ** 2 for values, good in rows]
    counts = list(weights) if weights is not None else [1.0] * len(errors)
    total = sum(counts)
    return sum(e * w for e, w in zip(errors, counts, strict=True)) / total if total else 0.0


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    exp = math.exp(z)  # never overflows for z < 0
    return exp / (1.0 + exp)


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _numbers(values: Iterable[object]) -> bool:
    return all(_number(value) for value in values)
