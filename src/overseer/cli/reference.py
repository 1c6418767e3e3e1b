"""The command reference (docs/cli.md), generated from the commands' own --help.

`python -m overseer.cli.reference > docs/cli.md` writes it; a test checks it is current, so the
reference cannot drift from the code.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator

import typer

from overseer.cli.app import app, main

WIDTH = "100"


def command_paths() -> list[list[str]]:
    """Every command, as the words that name it: [], [init], [task, add]..."""
    root = typer.main.get_command(app)
    return list(_walk(root, []))


def _walk(command: object, path: list[str]) -> Iterator[list[str]]:
    yield path
    subcommands: dict[str, object] = getattr(command, "commands", {})
    for name in sorted(subcommands):
        yield from _walk(subcommands[name], [*path, name])


def help_text(path: list[str]) -> str:
    buffer = io.StringIO()
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH  # a fixed width, so the text is the same on every terminal
    try:
        with contextlib.redirect_stdout(buffer):
            main([*path, "--help"])
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()).strip("\n")


def render() -> str:
    parts = [
        "# Command reference\n",
        "Generated from each command's `--help` by `python -m overseer.cli.reference > docs/cli.md`;",
        "a test fails when this file and the code disagree.\n",
    ]
    for path in command_paths():
        parts.append(f"## `overseer{''.join(' ' + word for word in path)}`\n")
        parts.append(f"```text\n{help_text(path)}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
