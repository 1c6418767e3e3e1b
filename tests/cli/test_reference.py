"""The command reference in docs/ is the commands' own --help, and stays so."""

from __future__ import annotations

from pathlib import Path

from overseer.cli.reference import command_paths, render

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_every_command_is_in_the_reference() -> None:
    names = {" ".join(path) for path in command_paths()}
    assert {"", "init", "task add", "task list", "run", "do", "status", "resolve", "rollback", "demo"} <= names


def test_docs_cli_md_is_current() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render(), (
        "docs/cli.md is stale: run `.venv/bin/python -m overseer.cli.reference > docs/cli.md`"
    )
