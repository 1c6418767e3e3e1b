"""`overseer doctor` through the real CLI entry, on real parts: the bundled `claude` binary (asked its
version only), bubblewrap and socat, the packaged supervisor model, a real workspace and store.

The scripted Messages API server stands where a model service would be, to show doctor never calls
one; `ScriptedOllamaServer` plays an Ollama server (none can run here), as in tests/llm.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from overseer.testing import Say, ScriptedAnthropicServer, ScriptedOllamaServer, Turn, turn, without_model_credentials
from tests.conftest import Ran

Overseer = Callable[..., Ran]
Scripted = Callable[[Sequence[Turn]], ScriptedAnthropicServer]
ALL_CHECKS = ["claude CLI", "credentials", "sandbox", "supervisor", "workspace", "templates", "store"]


def doctor(overseer: Overseer, workspace: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    ran = overseer("doctor", "--json", "-w", str(workspace))
    report = ran.json()
    assert report["ok"] is (ran.code == 0)
    return ran.code, {check["name"]: check for check in report["checks"]}


def failed(checks: dict[str, dict[str, Any]]) -> list[str]:
    return [name for name, check in checks.items() if not check["ok"]]


@pytest.fixture
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No key in the environment, and a Claude Code config dir of our own (empty: nobody logged in)."""
    for name in set(os.environ) - set(without_model_credentials(os.environ)):
        monkeypatch.delenv(name)
    config_dir = tmp_path / "claude-config"
    config_dir.mkdir()
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config_dir))
    return config_dir


def test_all_well_exits_0_and_calls_no_model_service(overseer: Overseer, workspace: Path, scripted: Scripted) -> None:
    server = scripted([turn(Say("a model call: doctor must never make one"))])
    assert overseer("init", str(workspace)).code == 0
    code, checks = doctor(overseer, workspace)
    assert code == 0, checks
    assert list(checks) == ALL_CHECKS
    assert "Claude Code" in checks["claude CLI"]["detail"]
    assert "ANTHROPIC_API_KEY" in checks["credentials"]["detail"]
    assert "bubblewrap" in checks["sandbox"]["detail"]
    assert "embedded ready" in checks["supervisor"]["detail"] and "exact" in checks["supervisor"]["detail"]
    assert "state.db" in checks["store"]["detail"]
    assert server.remaining == 1  # the scripted turn is still there: no request reached the model


def test_each_problem_is_one_line_saying_how_to_fix_it(
    overseer: Overseer, workspace: Path, no_credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OVERSEER_AGENT__OPTIONS__CLI_PATH", "/nonexistent/claude")
    ran = overseer("doctor", "-w", str(workspace))  # not initialised either
    assert ran.code == 1
    lines = ran.out.splitlines()
    problems = [line for line in lines if line.startswith("FAIL")]
    assert len(lines) == len(ALL_CHECKS) - 1  # the templates are not looked at in a workspace without state
    assert [line.split(":")[0].removeprefix("FAIL").strip() for line in problems] == [
        "claude CLI",
        "credentials",
        "workspace",
        "store",
    ]
    assert all(" -> " in line for line in problems)  # each says what to do
    assert "agent.options.cli_path" in problems[0]
    assert "ANTHROPIC_API_KEY" in problems[1] and "/login" in problems[1]
    assert f"overseer init {workspace}" in problems[2]
    assert "Traceback" not in ran.err


def test_a_claude_code_login_counts_as_credentials(overseer: Overseer, workspace: Path, no_credentials: Path) -> None:
    (no_credentials / ".credentials.json").write_text("{}")  # its presence only: doctor never reads it
    overseer("init", str(workspace))
    code, checks = doctor(overseer, workspace)
    assert code == 0, checks
    assert str(no_credentials / ".credentials.json") in checks["credentials"]["detail"]


def test_a_sandbox_that_cannot_start(
    overseer: Overseer, workspace: Path, scripted: Scripted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted([])
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("OVERSEER_AGENT__OPTIONS__ENV", f"{{PATH: {empty}}}")  # the agent's PATH has no bwrap
    overseer("init", str(workspace))
    code, checks = doctor(overseer, workspace)
    assert code == 1 and failed(checks) == ["sandbox"]
    assert "bubblewrap (bwrap) is not installed" in checks["sandbox"]["detail"]
    assert "apt-get install bubblewrap socat" in checks["sandbox"]["fix"]


def test_the_sandbox_turned_off_is_said_not_failed(
    overseer: Overseer, workspace: Path, scripted: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted([])
    monkeypatch.setenv("OVERSEER_AGENT__OPTIONS__SANDBOX", "off")
    overseer("init", str(workspace))
    code, checks = doctor(overseer, workspace)
    assert code == 0 and checks["sandbox"]["detail"].startswith("off")


def test_an_ollama_server_that_is_down(
    overseer: Overseer, workspace: Path, scripted: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted([])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("OVERSEER_SUPERVISOR__NAME", "ollama")
    monkeypatch.setenv("OVERSEER_SUPERVISOR__OPTIONS__HOST", f"http://127.0.0.1:{port}")
    overseer("init", str(workspace))
    code, checks = doctor(overseer, workspace)
    assert code == 1 and failed(checks) == ["supervisor"]
    assert "did not answer" in checks["supervisor"]["detail"]
    assert "ollama serve" in checks["supervisor"]["fix"]


def test_an_ollama_model_not_pulled_and_one_that_is(
    overseer: Overseer, workspace: Path, scripted: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted([])
    overseer("init", str(workspace))
    monkeypatch.setenv("OVERSEER_SUPERVISOR__NAME", "ollama")
    with ScriptedOllamaServer(models=["qwen2.5-coder:7b"]) as server:
        monkeypatch.setenv("OVERSEER_SUPERVISOR__OPTIONS__HOST", server.url)
        monkeypatch.setenv("OVERSEER_SUPERVISOR__OPTIONS__MODEL", "qwen3:32b")
        code, checks = doctor(overseer, workspace)
        assert code == 1 and checks["supervisor"]["fix"] == "run `ollama pull qwen3:32b`"
        monkeypatch.setenv("OVERSEER_SUPERVISOR__OPTIONS__MODEL", "qwen2.5-coder:7b")
        code, checks = doctor(overseer, workspace)
        assert code == 0, checks
        assert "estimate" in checks["supervisor"]["detail"]  # this machine has no Ollama models folder
        assert not any("messages" in request for request in server.requests)  # asked about the model, never to chat


def test_a_broken_template_override(overseer: Overseer, workspace: Path, scripted: Scripted) -> None:
    scripted([])
    overseer("init", str(workspace))
    overrides = workspace / ".overseer" / "templates"
    overrides.mkdir()
    (overrides / "review_system.j2").write_text("Review {{ the_diff }} strictly.\n")
    (overrides / "reveiw.j2").write_text("typo in the name\n")
    code, checks = doctor(overseer, workspace)
    assert code == 1 and failed(checks) == ["templates"]  # the JSON keeps the last line of a name
    ran = overseer("doctor", "-w", str(workspace))
    problems = [line for line in ran.out.splitlines() if line.startswith("FAIL")]
    assert len(problems) == 2
    assert "reveiw.j2" in problems[0] and "replaces nothing" in problems[0]
    assert "review_system.j2" in problems[1] and "the_diff" in problems[1]


def test_a_bad_configuration_is_the_one_problem_said(
    overseer: Overseer, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OVERSEER_LIMITS__MAX_ATTEMPTS", "zero")
    ran = overseer("doctor", "-w", str(workspace))
    assert ran.code == 1
    [line] = ran.out.splitlines()
    assert line.startswith("FAIL") and "limits.max_attempts" in line


def test_an_unknown_supervisor_names_the_known_ones(
    overseer: Overseer, workspace: Path, scripted: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted([])
    overseer("init", str(workspace))
    monkeypatch.setenv("OVERSEER_SUPERVISOR__NAME", "gpt-9")
    code, checks = doctor(overseer, workspace)
    assert code == 1 and failed(checks) == ["supervisor"]
    assert "no plugin named 'gpt-9'" in checks["supervisor"]["detail"]
    assert checks["supervisor"]["fix"] == "known: embedded, ollama, openai"
