"""`overseer run` and `overseer do`: attempts, supervised."""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from overseer.cli.common import (
    JsonOption,
    TagOption,
    WorkspaceOption,
    exit_code,
    open_ws,
    print_json,
    stderr,
    stdout,
)
from overseer.cli.render import ConsoleReporter, render_task
from overseer.domain import TaskStatus
from overseer.errors import ConfigError

if TYPE_CHECKING:
    from overseer.orchestrator import Orchestrator
    from overseer.runtime import Workspace

# The database, the agent SDK and llama.cpp are imported inside the commands that use them:
# `overseer --help` must not pay for them (see docs/benchmarks.md).


def _reporter(json_output: bool) -> ConsoleReporter | None:
    """Progress on stderr for people; none for --json, whose reader wants stdout alone."""
    return None if json_output else ConsoleReporter(stderr())


def _orchestrator(ws: Workspace, json_output: bool) -> Orchestrator:
    from overseer.orchestrator.holds import Holds
    from overseer.plugins import Registry
    from overseer.runtime import build_orchestrator

    try:
        holds = Holds.from_environ(os.environ)  # a test hook; unset for users
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    reporter = _reporter(json_output)
    on_text = reporter.supervisor_text if reporter else None  # the supervisor's answers, as they come
    return build_orchestrator(ws, Registry.from_entry_points(), reporter, holds, on_text=on_text)


def run(
    task_id: int | None = typer.Argument(None, help="Run only this task (default: every pending task)."),
    workspace: Path = WorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """Run pending tasks in dependency and priority order, each until it is settled.

    A task that a stopped overseer left half done is recovered first and finished too. Exits 1 if
    a task it ran failed, else 3 while any task waits for a human (answer it with `overseer
    resolve`), else 0.
    """
    from overseer.report import task_summary

    with open_ws(workspace) as ws:
        if task_id is not None:
            ws.store.get_task(task_id)  # an unknown id fails before anything starts
        with closing(_orchestrator(ws, json_output)) as orchestrator:
            ran = orchestrator.run([task_id] if task_id is not None else None)
        summaries = [task_summary(ws.store, t) for t in ran]
        waiting = [t.id for t in ws.store.list_tasks(ws.project_id) if t.status is TaskStatus.NEEDS_HUMAN]
    if json_output:
        print_json({"tasks": summaries, "waiting_for_human": waiting})
    else:
        _print_run(summaries, waiting)
    raise typer.Exit(exit_code([*(s["status"] for s in summaries), *([TaskStatus.NEEDS_HUMAN] if waiting else [])]))


def _print_run(summaries: list[dict[str, object]], waiting: list[int]) -> None:
    console = stdout()
    if not summaries:
        console.print("nothing to run: no pending task is ready")
    for summary in summaries:
        render_task(console, summary)
    if waiting:
        ids = ", ".join(str(t) for t in waiting)
        console.print(f"waiting for a human: task {ids}; answer with `overseer resolve ID --accept|--retry|--abandon`")


def do(
    text: str = typer.Argument(..., help="What the agent should do."),
    tags: list[str] = TagOption,
    workspace: Path = WorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """Add one task and run it to its end: completed (0), failed (1) or waiting for a human (3).

    A task that a stopped overseer left half done is recovered and finished first."""
    with open_ws(workspace, create=True) as ws:
        code = run_one(ws, text, json_output=json_output, tags=tags)
    raise typer.Exit(code)


def run_one(ws: Workspace, text: str, *, json_output: bool, tags: Sequence[str] = ()) -> int:
    from overseer.report import task_summary

    with closing(_orchestrator(ws, json_output)) as orchestrator:
        task = ws.store.add_task(ws.project_id, text, tags=tags)
        ran = orchestrator.run([task.id])  # with any task a stopped overseer left, recovered
    resumed = [task_summary(ws.store, t) for t in ran if t != task.id]
    summary = task_summary(ws.store, task.id)
    if json_output:
        print_json({**summary, "resumed": resumed} if resumed else summary)
    else:
        for earlier in resumed:
            render_task(stdout(), earlier)
        render_task(stdout(), summary)
    return exit_code([*(s["status"] for s in resumed), summary["status"]])
