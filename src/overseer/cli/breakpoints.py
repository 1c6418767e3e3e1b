"""`overseer breakpoints`: where the user's rules stopped tasks, and the answers they got."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from overseer.cli.common import JsonOption, WorkspaceOption, open_ws, print_json, stdout
from overseer.resolve import how_to_answer

if TYPE_CHECKING:
    from overseer.state.models import BreakpointRow, Resolution


def breakpoints(
    workspace: Path = WorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """List the breakpoints: the open ones (answer with `overseer resolve`), then the past ones."""
    with open_ws(workspace) as ws:
        rows = [_row(point, answer) for point, answer in ws.store.breakpoints(ws.project_id)]
    open_rows = [row for row in rows if row["resolution"] is None]
    past = [row for row in rows if row["resolution"] is not None]
    if json_output:
        print_json({"open": open_rows, "past": past})
        return
    console = stdout()
    if not rows:
        console.print("no breakpoint has fired (rules: `breakpoints:` in the config, docs/day-to-day.md)")
    for row in open_rows:
        console.print(f"[bold yellow]open[/] #{row['id']} task {row['task_id']}: {row['rule']}: {row['reason']}")
        console.print(f"    answer: {how_to_answer(row['task_id'], row['kind'])}")
    for row in past:
        answer = row["resolution"]
        by = f" by {answer['by']}" if answer["by"] else ""
        console.print(
            f"[dim]past[/] #{row['id']} task {row['task_id']}: {row['rule']}: {row['reason']}"
            f" -> {answer['action']}{by} at {answer['at']}"
        )


def _row(point: BreakpointRow, answer: Resolution | None) -> dict[str, Any]:
    resolution = None
    if answer is not None:
        resolution = {"action": answer.action, "by": answer.by, "at": answer.at.isoformat(), "note": answer.guidance}
    return {
        "id": point.id,
        "task_id": point.task_id,
        "attempt_id": point.attempt_id,
        "rule": point.rule,
        "kind": point.kind,
        "reason": point.reason,
        "detail": point.detail,
        "opened_at": point.opened_at.isoformat(),
        "resolution": resolution,
    }
