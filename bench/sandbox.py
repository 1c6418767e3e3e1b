"""Benchmark: what Claude Code's OS sandbox costs per Bash call and per attempt.

The real `claude` CLI against `ScriptedAnthropicServer` (no model is called) runs N Bash calls of
one command, once with the sandbox and once without, in fresh temp workspaces. A call is timed from
the guard's `tool_call` event (PreToolUse) to its `tool_result` event. The CLI gets a clean
environment (`claude_environ`). Medians and the ratio come from the same invocation; no assertion
on time. Run: `.venv/bin/python bench/sandbox.py [--calls N] [--command CMD]` (part of `make bench`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from overseer.agents.base import AgentEvent, AgentRequest
from overseer.agents.claude_code import ClaudeCodeAgent, ClaudeCodeConfig
from overseer.testing import Say, ScriptedAnthropicServer, Use, claude_environ, turn


@contextmanager
def scripted_environ(server_url: str, config_dir: Path) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(claude_environ(saved, server_url, config_dir))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def measure(*, sandbox: bool, calls: int, command: str) -> tuple[list[float], float]:
    """Seconds per Bash call, and the whole attempt's seconds."""
    base = Path(tempfile.mkdtemp(prefix="overseer-bench-sandbox-"))
    workspace = base / "ws"
    workspace.mkdir()
    turns = [turn(Use("Bash", {"command": command})) for _ in range(calls)] + [turn(Say("done"))]
    marks: list[tuple[str, float]] = []

    def sink(event: AgentEvent) -> None:
        marks.append((event.kind, time.perf_counter()))

    with ScriptedAnthropicServer(turns) as server, scripted_environ(server.url, base / "claude-config"):
        agent = ClaudeCodeAgent(ClaudeCodeConfig(sandbox=sandbox))
        started = time.perf_counter()
        asyncio.run(agent.run(AgentRequest("measure the sandbox", workspace), sink))
        total = time.perf_counter() - started
    pre = [at for kind, at in marks if kind == "tool_call"]
    post = [at for kind, at in marks if kind == "tool_result"]
    return [after - before for before, after in zip(pre, post, strict=False)], total


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--command", default="true")
    args = parser.parse_args(argv)
    print(f"\nSandbox cost: {args.calls} Bash calls of `{args.command}` per attempt")
    medians = {}
    for sandbox in (False, True):
        durations, total = measure(sandbox=sandbox, calls=args.calls, command=args.command)
        medians[sandbox] = statistics.median(durations)
        print(
            f"  sandbox {'on ' if sandbox else 'off'}: median {medians[sandbox] * 1000:.0f} ms per call "
            f"(min {min(durations) * 1000:.0f}, max {max(durations) * 1000:.0f}), attempt {total:.2f} s, "
            f"Bash {sum(durations) / total:.0%} of it"
        )
    print(f"  per call: sandbox on / off = {medians[True] / medians[False]:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
