"""Options and helpers shared by the command modules."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from overseer import log
from overseer.domain import TaskStatus
from overseer.redact import Redactor

if TYPE_CHECKING:
    from overseer.runtime import Workspace

EXIT_OK, EXIT_FAILED, EXIT_HUMAN = 0, 1, 3

WorkspaceOption = typer.Option(
    Path("."), "--workspace", "-w", help="The project the agent works in (default: the current directory)."
)
JsonOption = typer.Option(False, "--json", help="Print one JSON object on stdout, for scripts.")
TagOption = typer.Option([], "--tag", "-t", help="A tag for breakpoint rules (`first_attempt_tagged`); repeatable.")


def who() -> str:
    """The person answering, for the record; "" where the system has no name for them."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no LOGNAME/USER and no passwd entry (a bare container)
        return ""


def open_ws(path: Path, *, create: bool = False) -> Workspace:
    """Open the workspace, logging to its .overseer/overseer.log from before its database is opened
    (when the state directory exists), so a failure to open it is in the log too."""
    from overseer.runtime import open_workspace, state_dir

    redactor = Redactor.from_environ(os.environ)
    state = state_dir(path.expanduser().resolve())
    if state.is_dir():
        log.to_file(state, redactor)
    ws = open_workspace(path, os.environ, create=create)
    log.to_file(state_dir(ws.path), redactor)  # `init` and `task add` may have just made it
    return ws


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=_plain))


def _plain(value: object) -> str:
    """What JSON has no type for: datetimes in ISO 8601, anything else as its str()."""
    return value.isoformat() if isinstance(value, datetime) else str(value)


def exit_code(statuses: Iterable[TaskStatus | str]) -> int:
    """failed beats waiting-for-a-human beats completed."""
    values = {TaskStatus(s) for s in statuses}
    if TaskStatus.FAILED in values:
        return EXIT_FAILED
    if TaskStatus.NEEDS_HUMAN in values:
        return EXIT_HUMAN
    return EXIT_OK
