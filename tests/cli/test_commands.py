"""The command line: bad input gives one clear line and the documented exit code."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Ran

Overseer = Callable[..., Ran]


def test_help_explains_every_command(overseer: Overseer) -> None:
    ran = overseer("--help")
    assert ran.code == 0
    for command in ("init", "task", "run", "do", "status", "resolve", "demo"):
        assert command in ran.out


def test_task_queue(overseer: Overseer, workspace: Path) -> None:
    assert overseer("init", str(workspace)).code == 0
    assert overseer("task", "add", "-w", str(workspace), "first").code == 0
    assert overseer("task", "add", "-w", str(workspace), "second", "--priority", "5", "--depends-on", "1").code == 0
    listed = overseer("task", "list", "--json", "-w", str(workspace)).json()["tasks"]
    assert [(t["id"], t["priority"], t["depends_on"], t["status"]) for t in listed] == [
        (1, 0, [], "pending"),
        (2, 5, [1], "pending"),
    ]


def one_line_error(ran: Ran) -> str:
    lines = [line for line in ran.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), ran.err
    assert "Traceback" not in ran.err
    return lines[0]


def test_unknown_task_id(overseer: Overseer, workspace: Path) -> None:
    overseer("init", str(workspace))
    ran = overseer("status", "42", "-w", str(workspace))
    assert ran.code == 2
    assert "unknown task id 42" in one_line_error(ran)


def test_unknown_dependency(overseer: Overseer, workspace: Path) -> None:
    ran = overseer("task", "add", "-w", str(workspace), "x", "--depends-on", "7")
    assert ran.code == 2 and "7" in one_line_error(ran)


def test_missing_workspace(overseer: Overseer, tmp_path: Path) -> None:
    ran = overseer("do", "-w", str(tmp_path / "nowhere"), "anything")
    assert ran.code == 2
    assert "workspace does not exist" in one_line_error(ran)


def test_missing_claude_binary_fails_before_any_attempt(
    overseer: Overseer, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OVERSEER_AGENT__OPTIONS__CLI_PATH", "/nonexistent/claude")
    ran = overseer("do", "--json", "-w", str(workspace), "anything")
    assert ran.code == 2
    assert "claude CLI not found" in one_line_error(ran) and "/nonexistent/claude" in ran.err
    assert overseer("task", "list", "--json", "-w", str(workspace)).json()["tasks"] == []


def test_missing_model_file(overseer: Overseer, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVERSEER_SUPERVISOR__OPTIONS__MODEL_PATH", "/nonexistent/model.gguf")
    ran = overseer("do", "-w", str(workspace), "anything")
    assert ran.code == 2
    assert "model file not found" in one_line_error(ran)


def test_bad_configuration_names_the_key(overseer: Overseer, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVERSEER_LIMITS__MAX_ATTEMPTS", "zero")
    ran = overseer("task", "add", "-w", str(workspace), "x")
    assert ran.code == 2 and "limits.max_attempts" in one_line_error(ran)


def test_locked_database(overseer: Overseer, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    overseer("init", str(workspace))
    monkeypatch.setenv("OVERSEER_STORE__BUSY_TIMEOUT_S", "0.2")
    holder = sqlite3.connect(workspace / ".overseer" / "state.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        ran = overseer("task", "add", "-w", str(workspace), "x")
    finally:
        holder.close()
    assert ran.code == 1
    assert "locked by another process" in one_line_error(ran)
    assert overseer("task", "add", "-w", str(workspace), "x").code == 0  # nothing was left half-done


def test_resolve_needs_a_waiting_task_and_one_answer(overseer: Overseer, workspace: Path) -> None:
    overseer("task", "add", "-w", str(workspace), "x")
    assert "exactly one" in one_line_error(overseer("resolve", "1", "-w", str(workspace)))
    ran = overseer("resolve", "1", "--accept", "-w", str(workspace))
    assert ran.code == 2 and "not waiting for a human" in one_line_error(ran)


def test_status_outside_an_initialised_workspace(overseer: Overseer, tmp_path: Path) -> None:
    ran = overseer("status", "-w", str(tmp_path))
    assert ran.code == 2 and "overseer init" in one_line_error(ran)


def test_usage_error_exits_2(overseer: Overseer) -> None:
    assert overseer("task", "add").code == 2


def test_an_agent_that_cannot_run_fails_the_task_loudly(
    overseer: Overseer, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OVERSEER_AGENT__OPTIONS__CLI_PATH", "/bin/false")  # exists, but dies at once
    ran = overseer("do", "--json", "-w", str(workspace), "anything")
    assert ran.code == 1
    result = ran.json()
    assert (result["status"], result["attempts"]) == ("failed", 1)
    assert "claude" in result["error"]
    assert result["history"][0]["status"] == "error"


def _waiting_task(overseer: Overseer, workspace: Path, brief: str) -> None:
    """Arrange a task that waits for a human, through the store (the run that gets there is tested in e2e)."""
    from overseer.domain import TaskStatus
    from overseer.redact import Redactor
    from overseer.state.store import Store, sqlite_url

    overseer("task", "add", "-w", str(workspace), "x")
    with Store.open(sqlite_url(workspace / ".overseer" / "state.db"), redactor=Redactor([])) as store:
        store.set_task_status(1, TaskStatus.NEEDS_HUMAN, brief=brief)


@pytest.mark.parametrize(("answer", "status"), [("--accept", "completed"), ("--abandon", "abandoned")])
def test_resolve_accept_and_abandon(overseer: Overseer, workspace: Path, answer: str, status: str) -> None:
    _waiting_task(overseer, workspace, "stopped after 3 attempts")
    human = overseer("status", "-w", str(workspace))
    assert "needs_human" in human.out and "stopped after 3 attempts" in human.out

    assert overseer("resolve", "1", answer, "-w", str(workspace)).code == 0

    assert overseer("status", "1", "--json", "-w", str(workspace)).json()["status"] == status
    assert overseer("run", "-w", str(workspace)).code == 0  # nothing left waiting


def test_version(overseer: Overseer) -> None:
    from importlib import metadata

    ran = overseer("--version")
    assert (ran.code, ran.out.strip()) == (0, f"overseer {metadata.version('overseer')}")
