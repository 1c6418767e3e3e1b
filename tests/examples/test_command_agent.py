"""The example plugin in examples/command_agent, loaded through an entry point and run by the loop."""

from __future__ import annotations

import os
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from overseer import demo
from overseer.plugins import AGENTS, Registry
from overseer.report import task_summary
from overseer.runtime import build_orchestrator, open_workspace

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "command_agent"

# A stand-in coding agent: reads the prompt, fixes the stub, reports. A real program, run for real.
AGENT_SCRIPT = """
import pathlib, sys
prompt = sys.stdin.read()
assert "word_count" in prompt
path = pathlib.Path("textstats.py")
path.write_text(path.read_text().replace("raise NotImplementedError", "return len(text.split())"))
print("Implemented word_count in textstats.py; the tests pass.")
"""


def registry_with_example() -> Registry:
    example = EntryPoint(name="command", value="command_agent:CommandAgent", group=AGENTS)
    return Registry.from_entry_points().with_plugin(example)


def test_a_plugin_agent_is_supervised_like_the_built_in_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    workspace = tmp_path / "project"
    workspace.mkdir()
    demo.create_project(workspace)
    script = tmp_path / "agent.py"
    script.write_text(AGENT_SCRIPT)
    overrides = {"agent": {"name": "command", "options": {"command": [sys.executable, str(script)]}}}

    with open_workspace(workspace, os.environ, overrides, create=True) as ws:
        orchestrator = build_orchestrator(ws, registry_with_example())
        task = ws.store.add_task(ws.project_id, demo.TASK)
        orchestrator.run([task.id])
        summary = task_summary(ws.store, task.id)

    assert (summary["status"], summary["attempts"], summary["files_changed"]) == ("completed", 1, ["textstats.py"])
    assert "split()" in (workspace / "textstats.py").read_text()


def test_a_missing_program_is_a_configuration_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from overseer.errors import ConfigError

    monkeypatch.syspath_prepend(str(EXAMPLE))
    overrides = {"agent": {"name": "command", "options": {"command": ["no-such-agent-program"]}}}
    with (
        open_workspace(tmp_path, os.environ, overrides, create=True) as ws,
        pytest.raises(ConfigError, match="agent command not found"),
    ):
        build_orchestrator(ws, registry_with_example())
