"""`overseer calibrate`: refit the confidence on this workspace's own recorded outcomes.

An attempt's label is what happened to it afterwards, never the judge's own call:

- good: it proceeded and its task is still completed, or it stopped for a human who accepted it
  (`resolve --accept`);
- bad: it stopped for a human who sent it back (`resolve --retry`) or gave the task up
  (`resolve --abandon`);
- no label: a retry the judge decided on its own, a question to the human (clarify), an attempt
  still waiting for a human, an attempt without recorded features.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from overseer.cli.common import JsonOption, WorkspaceOption, open_ws, print_json, stdout
from overseer.domain import Decision, TaskStatus
from overseer.errors import UsageError

if TYPE_CHECKING:
    from overseer.state.models import Attempt, DecisionRow, Task
    from overseer.supervise.calibration import Row

MIN_LABELLED = 20  # fewer outcomes fit noise, not the workspace


class RecordedOutcomes(Protocol):
    """What calibrate reads from the store."""

    def list_tasks(self, project_id: int) -> list[Task]: ...
    def attempts(self, task_id: int) -> list[Attempt]: ...
    def decision(self, attempt_id: int) -> DecisionRow | None: ...
    def verdict_features(self, attempt_id: int) -> dict[str, Any] | None: ...


def calibrate(workspace: Path = WorkspaceOption, json_output: bool = JsonOption) -> None:
    """Refit the confidence on the outcomes humans settled in this workspace.

    Writes .overseer/calibration.json, which the judge then uses instead of the packaged model.
    Needs at least 20 labelled attempts, good and bad ones among them.
    """
    from overseer.supervise.calibration import WORKSPACE_FILE, Calibration, fit

    with open_ws(workspace) as ws:
        current = Calibration.load(ws.path)
        rows = training_rows(ws.store, ws.project_id)
        path = ws.path / WORKSPACE_FILE
    good = sum(1 for _, label in rows if label)
    _check(len(rows), good)
    source = f"overseer calibrate {datetime.now(UTC).date().isoformat()}, {len(rows)} attempts"
    model = fit(rows, source=source, prior=current.weights)  # what the workspace never showed keeps its weight
    model.save(path)
    report: dict[str, Any] = {"path": str(path), "sample": len(rows), "good": good, "brier": model.brier}
    if json_output:
        print_json({**report, "weights": model.weights, "intercept": model.intercept})
        return
    stdout().print(
        f"refitted on {len(rows)} labelled attempts ({good} good, {len(rows) - good} bad): "
        f"Brier score {model.brier:.3f}; the judge now uses {path}"
    )


def _check(labelled: int, good: int) -> None:
    if labelled < MIN_LABELLED:
        raise UsageError(
            f"not enough settled outcomes to calibrate: {labelled} labelled attempt(s), at least {MIN_LABELLED} needed",
            hint="outcomes are labelled when a human accepts, sends back or abandons a task, or an attempt proceeds",
        )
    if good in (0, labelled):
        kind = "good" if good else "bad"
        raise UsageError(f"all {labelled} labelled attempts were {kind}: a calibration needs both good and bad ones")


def training_rows(store: RecordedOutcomes, project_id: int) -> list[Row]:
    """(features, good) for every labelled attempt of the project that has recorded features."""
    rows: list[Row] = []
    for task in store.list_tasks(project_id):
        attempts = store.attempts(task.id)
        for index, attempt in enumerate(attempts):
            decision = store.decision(attempt.id)
            label = outcome_label(task, decision.decision if decision else None, attempts[index + 1 :])
            values = store.verdict_features(attempt.id) if label is not None else None
            if label is not None and values is not None:
                rows.append((values, label))
    return rows


def outcome_label(task: Task, decision: Decision | None, later: Sequence[Attempt]) -> bool | None:
    """Was the attempt good, by what happened after it? None when nothing settled it."""
    if decision is Decision.PROCEED:
        return True if task.status is TaskStatus.COMPLETED and not later else None
    if decision is not Decision.ESCALATE:
        return None  # the judge's own retry, or a question for the human: nobody judged the work
    if later:
        return False  # an escalated task only goes on when a human sends it back
    return {TaskStatus.COMPLETED: True, TaskStatus.ABANDONED: False}.get(task.status)
