"""`overseer demo`: a real supervised task in a throwaway workspace."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from overseer import demo as demo_project
from overseer.cli.common import JsonOption, open_ws, stderr, stdout
from overseer.cli.run import run_one
from overseer.errors import UsageError
from overseer.testing import ScriptedAnthropicServer, claude_environ


def demo(
    live: bool = typer.Option(False, "--live", help="Use your own Claude Code login or API key (spends real tokens)."),
    workspace: Path | None = typer.Option(
        None, "--workspace", "-w", help="An empty directory for the demo project (default: a new temp dir)."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Run a supervised task on a small Python project in a throwaway workspace.

    By default the real `claude` CLI replays a scripted session (no model is called, no tokens
    spent) whose first attempt falsely claims success; overseer catches it, sends feedback, and
    the second attempt passes. --live uses your own Claude Code login or API key instead.
    """
    path = _empty_workspace(workspace)
    demo_project.create_project(path)
    err = stderr()
    if live:
        err.print("[bold]live run[/]: the real `claude` CLI with your own login or API key (real tokens)")
        raise typer.Exit(_run(path, json_output))
    from overseer.agents.claude_code import bundled_cli
    from overseer.runtime import state_dir

    turns = demo_project.scripted_session(path)
    with ScriptedAnthropicServer(turns) as server:
        err.print(
            f"[bold]scripted run[/]: the real `claude` CLI ({bundled_cli()}) against overseer's scripted "
            f"Messages API server at {server.url}; no model is called, no tokens are spent"
        )
        with _environ(claude_environ(os.environ, server.url, state_dir(path) / "claude-config")):
            raise typer.Exit(_run(path, json_output))


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Replace the process environment (the `claude` CLI inherits it), then put it back."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _run(path: Path, json_output: bool) -> int:
    stderr().print(f"workspace: {path}\ntask: {demo_project.TASK}")
    with open_ws(path, create=True) as ws:
        code = run_one(ws, demo_project.TASK, json_output=json_output)
        if not json_output:
            stdout().print(f"state: {ws.database} (try `overseer status -w {path}`)")
    return code


def _empty_workspace(workspace: Path | None) -> Path:
    if workspace is None:
        return Path(tempfile.mkdtemp(prefix="overseer-demo-"))
    workspace.mkdir(parents=True, exist_ok=True)
    if any(workspace.iterdir()):
        raise UsageError("the demo needs an empty directory", path=str(workspace))
    return workspace.resolve()
