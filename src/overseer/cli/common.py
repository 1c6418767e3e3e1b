"""Options and helpers shared by the command modules."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from overseer.domain import TaskStatus

if TYPE_CHECKING:
    from overseer.runtime import Workspace

EXIT_OK, EXIT_FAILED, EXIT_HUMAN = 0, 1, 3

WorkspaceOption = typer.Option(
    Path("."), "--workspace", "-w", help="The project the agent works in (default: the current directory)."
)
JsonOption = typer.Option(False, "--json", help="Print one JSON object on stdout, for scripts.")


def open_ws(path: Path, *, create: bool = False) -> Workspace:
    from overseer.runtime import open_workspace

    return open_workspace(path, os.environ, create=create)


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def exit_code(statuses: Iterable[TaskStatus | str]) -> int:
    """failed beats waiting-for-a-human beats completed."""
    values = {TaskStatus(s) for s in statuses}
    if TaskStatus.FAILED in values:
        return EXIT_FAILED
    if TaskStatus.NEEDS_HUMAN in values:
        return EXIT_HUMAN
    return EXIT_OK
