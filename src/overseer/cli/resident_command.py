"""`overseer resident`: the process that keeps overseer's imports warm (cli/resident.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import typer

from overseer.cli import resident
from overseer.cli.common import JsonOption, print_json, stdout

_OFF = f"{resident.SWITCH}=0 turns it off"


def resident_command(
    start: bool = typer.Option(False, "--start", help="Start one for this version of overseer, if none runs."),
    stop: bool = typer.Option(False, "--stop", help="Stop every one of yours (they finish their commands first)."),
    json_output: bool = JsonOption,
) -> None:
    """Show the resident processes: each keeps overseer's imports loaded so that a command starts in
    a fraction of the time. The first command that finds none starts one; it leaves after
    OVERSEER_RESIDENT_IDLE_S seconds (default 900) with nothing to do."""
    environ = dict(os.environ)
    try:
        current = resident.socket_path(environ)
    except resident.ResidentUnavailable as exc:
        raise typer.BadParameter(str(exc)) from exc
    if start:
        if not resident.enabled(environ):
            raise typer.BadParameter(f"the resident is off here ({_OFF}, or this platform lacks fd passing)")
        _start(current, environ)
    found = [entry for path in resident.sockets(environ) if (entry := _status(path, current)) is not None]
    if stop:
        found = [{**entry, **_ask(entry["socket"], "stop")} for entry in found]
    if json_output:
        print_json({"enabled": resident.enabled(environ), "residents": found})
        return
    _print(found, stop=stop)


def _start(path: Path, environ: dict[str, str]) -> None:
    try:
        resident.ask(path, "status")
    except resident.ResidentUnavailable:
        resident.start(path, environ)
        resident.wait_ready(path)


def _status(path: Path, current: Path) -> dict[str, Any] | None:
    try:
        status = resident.ask(path, "status")
    except resident.ResidentUnavailable:
        return None  # a socket left by one that was killed: the next resident there replaces it
    return {**status, "current": path == current}


def _ask(path: str, what: str) -> dict[str, Any]:
    try:
        return resident.ask(Path(path), what)
    except resident.ResidentUnavailable:
        return {"stopping": True}


def _print(found: list[dict[str, Any]], *, stop: bool) -> None:
    console = stdout()
    if not found:
        console.print(f"no resident process runs (the next command starts one; {_OFF})")
        return
    for entry in found:
        since = time.strftime("%H:%M:%S", time.localtime(float(entry["started"])))
        which = "this version" if entry["current"] else "an older version"
        state = "stopping" if stop or entry.get("stopping") else f"leaves after {entry['idle_exit_s']:.0f} s idle"
        console.print(
            f"resident {entry['pid']} ({which}) since {since}: {entry['served']} commands served, "
            f"{entry['running']} running; {state}"
        )
