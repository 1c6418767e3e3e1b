"""`overseer watch`: a live terminal view of a workspace (the app is in `watch_app.py`, imported only
when the command runs: Textual costs every other command nothing)."""

from __future__ import annotations

from pathlib import Path

from overseer.cli.common import WorkspaceOption, open_ws


def watch(workspace: Path = WorkspaceOption) -> None:
    """Watch the workspace live: tasks, the current attempt's events, findings, diff and open
    breakpoints; answer a waiting task with a key (a: accept, r: retry with guidance, x: abandon; for a
    held tool call y: allow, n: deny with a reason)."""
    from overseer.cli.watch_app import WatchApp

    with open_ws(workspace) as ws:
        WatchApp(ws).run()
