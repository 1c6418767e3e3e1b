"""The command agent on its own: real programs (small Python scripts) run for real in a temp workspace."""

from __future__ import annotations

import os
import sys
import time
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import anyio
import pytest

from overseer import demo
from overseer.agents.base import AgentEvent, AgentRequest
from overseer.agents.command import CommandAgent, CommandConfig
from overseer.domain import AgentResult
from overseer.errors import AgentError, ConfigError
from overseer.plugins import AGENTS, Registry
from overseer.report import task_summary
from overseer.runtime import build_orchestrator, open_workspace
from tests.conftest import process_gone


def agent(command: list[str] | str, **options: Any) -> CommandAgent:
    return CommandAgent(CommandConfig.model_validate({"command": command, **options}))


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "agent.py"
    path.write_text(body)
    return str(path)


def run(agent: CommandAgent, request: AgentRequest) -> tuple[AgentResult, list[AgentEvent]]:
    events: list[AgentEvent] = []

    async def go() -> AgentResult:
        return await agent.run(request, events.append)

    return anyio.run(go), events


def test_the_prompt_goes_to_stdin_and_the_program_edits_the_workspace(tmp_path: Path) -> None:
    body = "import sys, pathlib\npathlib.Path('out.txt').write_text(sys.stdin.read())\nprint('wrote out.txt')\n"
    command = agent([sys.executable, script(tmp_path, body)])

    result, events = run(command, AgentRequest("make out.txt", tmp_path))

    assert (tmp_path / "out.txt").read_text() == "make out.txt"
    assert (result.is_error, result.text, result.session_id) == (False, "wrote out.txt", None)
    assert [e.data["text"] for e in events if e.kind == "text"] == ["wrote out.txt"]
    assert events[-1].kind == "result"


def test_a_template_string_gets_prompt_workspace_and_drops_the_session_word_without_a_session(tmp_path: Path) -> None:
    body = "import json, sys\nprint(json.dumps(sys.argv[1:]))\n"
    command = agent(
        f"{sys.executable} {script(tmp_path, body)} --message {{prompt}} --in={{workspace}} --resume={{session}}"
    )

    first, _ = run(command, AgentRequest("fix it, please", tmp_path))
    resumed, _ = run(command, AgentRequest("again", tmp_path, session_id="s-1"))

    assert first.text == f'["--message", "fix it, please", "--in={tmp_path}"]'
    assert resumed.text == f'["--message", "again", "--in={tmp_path}", "--resume=s-1"]'
    assert command.has_sessions is False  # no session_pattern: a retry gets the whole task


def test_a_session_the_program_names_is_picked_up(tmp_path: Path) -> None:
    command = agent(
        [sys.executable, "-c", "print('session: abc-123'); print('done')"], session_pattern=r"session: (\S+)"
    )

    result, events = run(command, AgentRequest("go", tmp_path))

    assert result.session_id == "abc-123"
    assert AgentEvent("session", {"session_id": "abc-123"}) in events
    assert command.has_sessions


def test_report_lines_become_reports_and_events(tmp_path: Path) -> None:
    body = "print('I stopped.')\nprint('OVERSEER cannot_finish: the database is unreachable')\n"
    result, events = run(agent([sys.executable, "-c", body]), AgentRequest("go", tmp_path))

    [report] = result.reports
    assert (report.kind, report.text) == ("cannot_finish", "the database is unreachable")
    assert any(e.kind == "report" and e.data["kind"] == "cannot_finish" for e in events)


def test_env_is_merged_over_the_inherited_one(tmp_path: Path) -> None:
    body = "import os; print(os.environ['AGENT_MODE'], bool(os.environ.get('PATH')))"
    result, _ = run(agent([sys.executable, "-c", body], env={"AGENT_MODE": "fast"}), AgentRequest("go", tmp_path))
    assert result.text == "fast True"


def test_a_non_zero_exit_is_an_error_with_what_it_printed(tmp_path: Path) -> None:
    body = "import sys; print('Error: 429 Too Many Requests', file=sys.stderr); sys.exit(3)"
    with pytest.raises(AgentError, match=r"exited with code 3; Error: 429 Too Many Requests"):
        run(agent([sys.executable, "-c", body]), AgentRequest("go", tmp_path))


def test_timeout_kills_the_program_and_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    body = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('working', flush=True)\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    with pytest.raises(AgentError, match="timeout_s=1"):
        run(agent([sys.executable, "-c", body], timeout_s=1), AgentRequest("go", tmp_path))

    assert time.monotonic() - started < 10
    assert process_gone(int(pid_file.read_text()))


def test_a_missing_program_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="agent command not found"):
        agent(["no-such-agent-program", "{prompt}"]).preflight()


def test_it_is_registered_as_command() -> None:
    plugin = Registry.from_entry_points().load(AGENTS, "command")
    assert plugin is CommandAgent


# A stand-in coding agent: reads the prompt, fixes the stub, reports. A real program, run for real.
FIXER = """
import pathlib, sys
prompt = sys.stdin.read()
assert "word_count" in prompt
path = pathlib.Path("textstats.py")
path.write_text(path.read_text().replace("raise NotImplementedError", "return len(text.split())"))
print("Implemented word_count in textstats.py; the tests pass.")
"""
PLUGINS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def test_the_plugin_pages_agent_is_supervised_like_the_built_in_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's example, as written there, loaded through an entry point and run by the whole loop."""
    page = PLUGINS_PAGE.read_text()
    code = page.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.splitlines()) < 100
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "my_agent.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path / "plugin"))
    workspace = tmp_path / "work" / "project"
    workspace.mkdir(parents=True)
    demo.create_project(workspace)
    overrides = {"agent": {"name": "my-agent", "options": {"command": [sys.executable, script(tmp_path, FIXER)]}}}
    registry = Registry.from_entry_points().with_plugin(
        EntryPoint(name="my-agent", value="my_agent:MyAgent", group=AGENTS)
    )

    with open_workspace(workspace, os.environ, overrides, create=True) as ws:
        task = ws.store.add_task(ws.project_id, demo.TASK)
        build_orchestrator(ws, registry).run([task.id])
        summary = task_summary(ws.store, task.id)

    assert (summary["status"], summary["attempts"], summary["files_changed"]) == ("completed", 1, ["textstats.py"])
    assert "split()" in (workspace / "textstats.py").read_text()
