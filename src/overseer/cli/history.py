"""`overseer history` and `export`: what happened to a task, for people and for scripts."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import typer
from rich.console import Console
from rich.markup import escape

from overseer.cli.common import JsonOption, WorkspaceOption, open_ws, print_json, stdout
from overseer.text import clip

_SHOWN_CHARS = 100  # of a tool call's target or a finding's message, in the text view
_STYLE = {"blocking": "red", "warning": "yellow", "info": "dim", "proceed": "green", "escalate": "yellow"}


def history(
    task_id: int = typer.Argument(..., help="The task."),
    workspace: Path = WorkspaceOption,
    json_output: bool = JsonOption,
) -> None:
    """Show a task's timeline: attempts, tool calls, file changes, findings, decisions, human resolutions."""
    from overseer.state.history import task_info, timeline

    with open_ws(workspace) as ws, ws.store.reading() as session:
        task = task_info(session, task_id)
        entries = timeline(session, task_id)
    if json_output:
        print_json({"task": task, "timeline": entries})
    else:
        _render(stdout(), task, entries)


def export(
    task_id: int = typer.Argument(..., help="The task."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE (default: stdout)."),
    workspace: Path = WorkspaceOption,
) -> None:
    """Write a task's full record as JSON lines: one object per line, each with a "type".

    The task, then its attempts, events, file changes, findings, verdicts, decisions and
    resolutions. Secrets were masked when they were stored. FILE appears whole or not at all.
    """
    from overseer.state.history import export as records
    from overseer.state.history import task_info

    with open_ws(workspace) as ws, ws.store.reading() as session:
        task_info(session, task_id)  # an unknown task fails before any file is made
        if output is None:
            _write_lines(sys.stdout, records(session, task_id))
            return
        partial = output.with_name(f".{output.name}.partial")
        try:
            with partial.open("w", encoding="utf-8") as out:
                _write_lines(out, records(session, task_id))
            os.replace(partial, output)
        finally:
            partial.unlink(missing_ok=True)
    stdout().print(f"wrote task {task_id}'s record to {output}")


def _write_lines(out: TextIO, lines: Iterable[dict[str, Any]]) -> None:
    for line in lines:
        out.write(json.dumps(line, default=str) + "\n")


def _render(console: Console, task: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    console.print(f"[bold]task {task['id']}[/] ({task['status']}): {escape(task['text'])}")
    for entry in entries:
        console.print(_line(entry))
    if not entries:
        console.print("  no attempts yet")


def _line(entry: dict[str, Any]) -> str:
    kind = entry["type"]
    if kind == "attempt":
        cost = "" if entry["cost_usd"] is None else f"  ${entry['cost_usd']:.4f}"
        error = f"  [red]{escape(_clip(entry['error']))}[/]" if entry["error"] else ""
        return f"[bold]attempt {entry['attempt']}[/]  {_time(entry['at'])}  {entry['status']}{cost}{error}"
    if kind == "tool_call":
        mark = "" if entry["allowed"] else f"[red]refused[/] ({escape(_clip(entry['reason']))}) "
        return f"  {_time(entry['at'])}  {mark}{entry['tool']} {escape(_clip(entry['target']))}"
    if kind == "prompt":
        who = "the supervisor" if entry["source"] == "supervisor" else "the templates"
        note = f": {escape(_clip(entry['note']))}" if entry["note"] else ""
        return f"  prompt    written by {who} ({entry['template']}){note}"
    if kind == "file_change":
        return f"  changed   {entry['kind']} {escape(entry['path'])}"
    if kind == "finding":
        style = _STYLE.get(entry["severity"], "default")
        what = f"{entry['severity']} {entry['stage']}/{entry['code']}"
        return f"  finding   [{style}]{what}[/]: {escape(_clip(entry['message']))}"
    if kind == "decision":
        confidence = "" if entry["confidence"] is None else f" (confidence {entry['confidence']:.2f})"
        style = _STYLE.get(entry["decision"], "default")
        return f"  decision  [{style}]{entry['decision']}[/]{confidence}"
    guidance = f": {escape(_clip(entry['guidance']))}" if entry["guidance"] else ""
    return f"[bold]human[/]  {_time(entry['at'])}  {entry['action']}{guidance}"


def _time(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S}"


def _clip(text: str) -> str:
    return clip(" ".join(str(text).split()), _SHOWN_CHARS)  # on one line
