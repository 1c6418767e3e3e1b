"""`overseer shell`: an interactive shell over a workspace (the REPL is in `shell_app.py`, imported
only when the command runs)."""

from __future__ import annotations

from pathlib import Path

from overseer.cli.common import WorkspaceOption, open_ws


def shell(workspace: Path = WorkspaceOption) -> None:
    """An interactive shell: type a task to run it in the background and keep typing; /status,
    /breakpoints and every other command as /name; answer a waiting task at the prompt
    (a, r GUIDANCE, x). Ctrl-C stops the running attempt, a second Ctrl-C leaves."""
    from overseer.cli.app import app, main
    from overseer.cli.shell_app import Shell

    names = [command.name or "" for command in app.registered_commands] + ["task"]
    with open_ws(workspace, create=True) as ws:
        Shell(ws, [name for name in names if name], main).loop()
