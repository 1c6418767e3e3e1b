"""The aider agent, on the real aider (tools/aider/.venv, installed by `make setup`).

The model is the only fake: `ScriptedOpenAIServer` answers in aider's edit formats, so aider makes
real edits in a real temp workspace. Every run goes through a recording HTTP proxy, and the tests
assert that aider asked it for nothing: no update check, no price list, no analytics.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import anyio
import pytest

from overseer import demo
from overseer.agents.aider import AiderAgent, AiderConfig, installed_aider, replies_of, sandboxed_command
from overseer.agents.base import AgentEvent, AgentRequest
from overseer.config import PluginChoice
from overseer.domain import AgentReport, AgentResult
from overseer.errors import AgentError, ConfigError
from overseer.plugins import AGENTS, Registry
from overseer.report import task_summary
from overseer.runtime import build_orchestrator, open_workspace
from overseer.testing._local import LocalServer
from overseer.testing.openai_server import OpenAIErrorReply, ScriptedOpenAIServer

MODEL = "openai/scripted"
METADATA = {  # the scripted model's window and prices; with it aider has nothing to look up
    MODEL: {
        "max_input_tokens": 32000,
        "max_output_tokens": 4000,
        "input_cost_per_token": 0.000001,
        "output_cost_per_token": 0.000002,
        "litellm_provider": "openai",
        "mode": "chat",
    }
}
CALC = "def add(a, b):\n    return a - b\n"
WHOLE_NEW_FILE = (
    "I'll add the module.\n\nhello.py\n```python\ndef hello():\n    return 'hi'\n```\n\n"
    "I created hello.py with a hello() function.\n"
    "OVERSEER ask_human: should hello() take a name?\n"
)
DIFF_FIX = (
    "calc.py\n```python\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n```\n\n"
    "I fixed add in calc.py.\n"
)
_CREDENTIALS = ("OPENAI_", "ANTHROPIC_", "AIDER_", "LITELLM_", "OPENROUTER_", "GEMINI_", "DEEPSEEK_")


@pytest.fixture(autouse=True)
def _aider_installed() -> None:
    if installed_aider() is None:
        pytest.fail("aider is not installed: `make setup` installs it into tools/aider/.venv")


@pytest.fixture(autouse=True)
def _no_model_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No developer's key, base URL or aider setting reaches the aider the tests run."""
    for name in [name for name in os.environ if name.startswith(_CREDENTIALS)]:
        monkeypatch.delenv(name)


class _Recorder(BaseHTTPRequestHandler):
    """A proxy that forwards nothing: it records what it was asked for and refuses it."""

    server: Any

    def _refuse(self) -> None:
        self.server.script.append(f"{self.command} {self.path}")
        self.send_error(403)

    do_CONNECT = do_GET = do_POST = do_HEAD = _refuse

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The requests aider sent anywhere but the model server (HTTP(S)_PROXY points here)."""
    seen: list[str] = []
    with LocalServer(_Recorder, seen) as server:
        monkeypatch.setenv("HTTP_PROXY", server.url)
        monkeypatch.setenv("HTTPS_PROXY", server.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        yield seen


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home directory of the test's own, for overseer and aider alike (as theirs is one in real use)."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


def _git(workspace: Path, *args: str) -> str:
    command = ["git", "-C", str(workspace), "-c", "user.name=dev", "-c", "user.email=dev@example.com", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def git_workspace(tmp_path: Path) -> Path:
    workspace = tmp_path / "repo"
    workspace.mkdir()
    (workspace / "calc.py").write_text(CALC)
    _git(workspace, "init", "-q")
    _git(workspace, "add", ".")
    _git(workspace, "commit", "-qm", "start")
    return workspace


def aider(server_url: str, home: Path, **options: Any) -> AiderAgent:
    """Aider on the scripted model; `home` (the fixture) is where it keeps its own state."""
    env = {"OPENAI_API_BASE": server_url, "OPENAI_API_KEY": "sk-scripted-dummy"}
    return AiderAgent(AiderConfig(model=MODEL, model_metadata=METADATA, env=env, **options))


def run(agent: AiderAgent, workspace: Path, prompt: str) -> tuple[AgentResult, list[AgentEvent]]:
    events: list[AgentEvent] = []

    async def go() -> AgentResult:
        with anyio.fail_after(180):
            return await agent.run(AgentRequest(prompt, workspace), events.append)

    return anyio.run(go), events


def of_kind(events: list[AgentEvent], kind: str) -> list[dict[str, Any]]:
    return [event.data for event in events if event.kind == kind]


def sent_text(request: dict[str, Any]) -> str:
    return "\n".join(str(message.get("content", "")) for message in request["messages"])


def test_aider_creates_a_file_and_touches_neither_the_index_nor_the_history(
    git_workspace: Path, home: Path, proxy: list[str]
) -> None:
    with ScriptedOpenAIServer([WHOLE_NEW_FILE]) as server:
        result, events = run(aider(server.base_url, home), git_workspace, "Add a hello() function in hello.py.")
        requests = server.requests

    assert (git_workspace / "hello.py").read_text() == "def hello():\n    return 'hi'\n"
    assert not result.is_error, result.error
    edited = str(git_workspace / "hello.py")
    assert [call.input["file_path"] for call in result.tool_calls] == [edited]
    assert [data["input"]["file_path"] for data in of_kind(events, "tool_call")] == [edited]
    assert "I created hello.py" in result.text and "Tokens:" not in result.text  # the model's words only
    assert result.reports == (AgentReport("ask_human", "should hello() take a name?"),)
    assert of_kind(events, "report") == [{"kind": "ask_human", "text": "should hello() take a name?", "evidence": ""}]
    assert (result.num_turns, result.session_id) == (1, None)
    # one request, to the scripted model, with the prompt; nothing else went anywhere
    assert len(requests) == 1 and "Add a hello() function" in sent_text(requests[0])
    assert proxy == []
    # no commit, the user's index as it was (hello.py untracked, not staged), no aider file left behind
    assert _git(git_workspace, "log", "--format=%s").split() == ["start"]
    assert _git(git_workspace, "status", "--porcelain", "--ignored").splitlines() == ["?? hello.py"]
    assert sorted(path.name for path in git_workspace.iterdir()) == [".git", "calc.py", "hello.py"]
    # what aider keeps under the home directory is named as its own, so the outside check skips it
    written = [path for path in home.rglob("*") if path.is_file()]
    own = aider("", home).own_paths(home)
    assert written and all(any(path.is_relative_to(mine) for mine in own) for path in written)


def test_aider_applies_search_replace_edits_outside_git(tmp_path: Path, home: Path, proxy: list[str]) -> None:
    workspace = tmp_path / "plain"
    workspace.mkdir()
    (workspace / "calc.py").write_text(CALC)
    agent = aider("", home, edit_format="diff", files=["calc.py"])
    with ScriptedOpenAIServer([DIFF_FIX]) as server:
        agent.config.env["OPENAI_API_BASE"] = server.base_url
        result, events = run(agent, workspace, "Make add() add.")
        requests = server.requests

    assert (workspace / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert not result.is_error, result.error
    assert [call.input["file_path"] for call in result.tool_calls] == [str(workspace / "calc.py")]
    assert "return a - b" in sent_text(requests[0])  # the file was in the chat from the start
    assert not (workspace / ".git").exists()  # no repository: aider ran with --no-git and made none
    assert sorted(path.name for path in workspace.iterdir()) == ["calc.py"]
    [tokens] = of_kind(events, "tokens")
    assert tokens["sent"] > 100 and tokens["received"] > 10
    assert result.cost_usd is not None and result.cost_usd > 0 and tokens["cost_usd"] == result.cost_usd
    assert proxy == []


def test_the_sandbox_s_walls(tmp_path: Path, home: Path) -> None:
    """The walls aider runs in, tried with a shell: it writes the workspace, its temp dir and ~/.aider; the
    workspace's neighbours, the home directory and overseer's state stay untouched and unseen."""
    workspace = tmp_path / "work"
    (workspace / ".overseer").mkdir(parents=True)
    (home / ".aider.conf.yml").write_text("model: x\n")
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_ed25519").write_text("secret\n")
    temp = tmp_path / "attempt-temp"
    temp.mkdir()
    agent = AiderAgent(AiderConfig())
    boundary = agent.boundary(workspace, home, temp)
    writes = {
        "workspace": workspace / "a.py",
        "temp": temp / "scratch",
        "aider_state": home / ".aider" / "cache",
        "neighbour": tmp_path / "neighbour.py",
        "home": home / ".bashrc",
        "overseer_state": workspace / ".overseer" / "planted.py",
    }
    reads = {"aider_config": home / ".aider.conf.yml", "ssh_key": home / ".ssh" / "id_ed25519"}
    script = "".join(f"echo x > {path} 2>/dev/null && echo wrote {name}\n" for name, path in writes.items())
    script += "".join(f"cat {path} >/dev/null 2>&1 && echo read {name}\n" for name, path in reads.items())
    argv, env = sandboxed_command(["sh", "-c", script], dict(os.environ), boundary, home / ".aider")
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)

    assert done.stdout.split("\n")[:-1] == ["wrote workspace", "wrote temp", "wrote aider_state", "read aider_config"]
    assert [name for name, path in writes.items() if path.exists()] == ["workspace", "temp", "aider_state"]


@pytest.mark.parametrize("sandbox", [True, False])
def test_aider_in_its_sandbox_cannot_write_outside(sandbox: bool, tmp_path: Path, home: Path, proxy: list[str]) -> None:
    """Aider writes wherever the model names a file (`../x`, an absolute path). In its sandbox those
    writes fail; without it they land, and only the after-attempt check sees them."""
    workspace = tmp_path / "plain"
    workspace.mkdir()
    targets = [tmp_path / "neighbour.py", tmp_path / "outside.py"]
    reply = f"../neighbour.py\n```python\nx = 1\n```\n\n{targets[1]}\n```python\nx = 1\n```\n"
    with ScriptedOpenAIServer([reply]) as server:
        _result, events = run(aider(server.base_url, home, sandbox=sandbox), workspace, "Write the files.")

    assert [target.exists() for target in targets] == [not sandbox, not sandbox]
    [walls] = of_kind(events, "sandbox")
    assert walls["enabled"] is sandbox


def test_a_rate_limit_stops_aider_at_once_with_the_status(git_workspace: Path, home: Path, proxy: list[str]) -> None:
    """Left alone, aider retries a 429 for over a minute without a word to overseer; stopped at the first
    error, the wait is the monitor's to make."""
    limited = OpenAIErrorReply(429, "Rate limit reached for requests. Please try again in 20s.")
    with ScriptedOpenAIServer([limited] * 20) as server:
        started = time.monotonic()
        result, events = run(aider(server.base_url, home), git_workspace, "Add hello.py.")
        seconds = time.monotonic() - started
        asked = len(server.requests)

    assert result.is_error
    assert "HTTP 429" in result.error and "RateLimitError" in result.error and "try again in 20s" in result.error
    assert of_kind(events, "api_error")[0]["status"] == 429
    assert of_kind(events, "result")[-1]["api_error_status"] == 429
    assert result.tool_calls == () and sorted(p.name for p in git_workspace.iterdir()) == [".git", "calc.py"]
    assert asked <= 3 and seconds < 60  # the client's own two retries at most, not aider's minute of them


def test_a_refused_key_is_an_auth_error(git_workspace: Path, home: Path, proxy: list[str]) -> None:
    with ScriptedOpenAIServer([OpenAIErrorReply(401, "Incorrect API key provided")]) as server:
        result, events = run(aider(server.base_url, home), git_workspace, "Add hello.py.")

    assert result.is_error and "HTTP 401" in result.error and "Incorrect API key" in result.error
    assert of_kind(events, "result")[-1]["api_error_status"] == 401


def test_a_failing_model_service_is_a_crash_for_the_monitor(git_workspace: Path, home: Path, proxy: list[str]) -> None:
    """The script has no answer: the server says 500 to every request. Aider itself would exit 0."""
    events: list[AgentEvent] = []
    with ScriptedOpenAIServer([]) as server, pytest.raises(AgentError, match=r"HTTP 500"):
        anyio.run(aider(server.base_url, home).run, AgentRequest("Add hello.py.", git_workspace), events.append)
    assert of_kind(events, "result")[-1]["api_error_status"] == 500


def test_aider_that_cannot_start_is_a_crash(git_workspace: Path, home: Path) -> None:
    agent = aider("http://127.0.0.1:9/v1", home, args=["--no-such-aider-flag"])
    with pytest.raises(AgentError, match="aider exited with code 2") as raised:
        run(agent, git_workspace, "Add hello.py.")
    assert "--no-such-aider-flag" in raised.value.hint  # what aider said, for the person reading the log


class _Silent:
    """A model server that accepts connections and never answers."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.connected = threading.Event()
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.held.append(connection)
            self.connected.set()

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() waiting in the thread
        self.thread.join(5)
        self.listener.close()
        for connection in self.held:
            connection.close()


def _processes_in(directory: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cwd").resolve() == directory.resolve():
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def test_a_cancelled_run_leaves_no_aider_behind(git_workspace: Path, home: Path, proxy: list[str]) -> None:
    """What overseer's silence and wall-clock limits do: cancel the run while aider waits on the model."""
    silent = _Silent()
    agent = aider(silent.base_url, home)
    seen: list[int] = []

    async def go() -> None:
        with anyio.fail_after(120):
            async with anyio.create_task_group() as group:
                group.start_soon(agent.run, AgentRequest("Add hello.py.", git_workspace), lambda _event: None)
                await anyio.to_thread.run_sync(silent.connected.wait, 100)
                seen.extend(_processes_in(git_workspace))
                group.cancel_scope.cancel()

    try:
        anyio.run(go)
    finally:
        silent.close()
    assert silent.connected.is_set() and seen  # aider was running, and asking the model
    deadline = time.monotonic() + 10  # SIGKILLed by the kernel when bwrap died; reaped a moment later
    while _processes_in(git_workspace) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_in(git_workspace) == []
    assert not list(git_workspace.glob(".aider*"))


def test_preflight_says_how_to_install_aider(tmp_path: Path) -> None:
    agent = AiderAgent(AiderConfig(aider_path=tmp_path / "no-aider"))
    with pytest.raises(ConfigError, match="aider not found") as raised:
        agent.preflight()
    assert "make setup" in raised.value.hint


def test_the_registry_builds_aider_and_checks_its_options() -> None:
    registry = Registry.from_entry_points()
    agent = registry.create(AGENTS, PluginChoice(name="aider", options={"model": MODEL, "map_tokens": 0}), "agent")
    assert isinstance(agent, AiderAgent) and agent.config.map_tokens == 0
    assert not agent.has_sessions and agent.sandboxed
    with pytest.raises(ConfigError, match=r"agent\.options\.edit_fromat"):
        registry.create(AGENTS, PluginChoice(name="aider", options={"edit_fromat": "diff"}), "agent")


def test_replies_are_the_model_s_words_in_aider_s_chat_history() -> None:
    history = (
        "# aider chat started at 2026-11-26 05:18:02\n\n"
        "> Aider v0.86.2  \n> Model: openai/scripted with whole edit format  \n\n"
        "#### write hello  \n#### and test it  \n\n"
        "Here is the file.\n\nhello.py\n```python\ndef hello():\n    return 'hi'\n```\n\n"
        "> Tokens: 777 sent, 30 received.  \n> Applied edit to hello.py  \n\n"
        "The test passes now.\n\n> Tokens: 1.2k sent, 5 received.  \n"
    )
    assert replies_of(history) == (
        "Here is the file.\n\nhello.py\n```python\ndef hello():\n    return 'hi'\n```\n\nThe test passes now."
    )
    assert replies_of("> Aider v0.86.2  \n") == ""


def _textstats(body: str, words: str) -> str:
    """A whole-file reply that sets word_count's body, and what the model says of it."""
    module = demo.FILES["textstats.py"].replace("    raise NotImplementedError\n", body)
    return f"textstats.py\n```python\n{module}```\n\n{words}\n"


def test_aider_is_supervised_through_the_loop(tmp_path: Path, home: Path, proxy: list[str]) -> None:
    """`agent.name: aider` from the registry, the whole loop: a wrong first attempt (and a false claim) is
    caught by overseer's own test run, and the retry, a new aider without the last chat, gets the task
    and the feedback, and fixes it."""
    workspace = tmp_path / "project"
    workspace.mkdir()
    demo.create_project(workspace)
    _git(workspace, "init", "-q")
    _git(workspace, "add", ".")
    _git(workspace, "commit", "-qm", "start")
    answers = [
        _textstats('    return len(text.split(" "))\n', "I implemented word_count; all tests pass."),
        _textstats("    return len(text.split())\n", "I fixed word_count to split on any whitespace."),
    ]
    with ScriptedOpenAIServer(answers) as server:
        env = {"OPENAI_API_BASE": server.base_url, "OPENAI_API_KEY": "sk-scripted-dummy"}
        options = {"model": MODEL, "model_metadata": METADATA, "env": env}
        overrides = {"agent": {"name": "aider", "options": options}}
        with open_workspace(workspace, os.environ, overrides, create=True) as ws:
            orchestrator = build_orchestrator(ws, Registry.from_entry_points())
            task = ws.store.add_task(ws.project_id, demo.TASK)
            orchestrator.run([task.id])
            summary = task_summary(ws.store, task.id)
        prompts = [sent_text(request) for request in server.requests]

    assert (summary["status"], summary["attempts"], summary["files_changed"]) == ("completed", 2, ["textstats.py"])
    assert "text.split())" in (workspace / "textstats.py").read_text()
    assert len(prompts) == 2
    assert "test_extra_whitespace" in prompts[1]  # the feedback: the test overseer saw fail
    assert demo.TASK in prompts[1]  # and the task itself again: the new aider has no memory of the last
    assert _git(workspace, "log", "--format=%s").split() == ["start"]  # aider committed nothing
    assert proxy == []
