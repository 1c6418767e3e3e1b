"""The output monitor on the real `claude` CLI: the scripted Messages API answers 429, 401, or drops
the connection, and `overseer do` waits, stops for a human, or restarts the run.

The CLI retries failed API calls itself (ten times over about three minutes for a 429, seen here);
`CLAUDE_CODE_MAX_RETRIES=0` hands each fault straight to overseer, as a user who wants overseer to
do the waiting would set it (`agent.options.env`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from overseer.domain import AttemptStatus
from overseer.testing import Say, ScriptedAnthropicServer, Turn, api_error, dropped, turn
from tests.conftest import Ran
from tests.e2e.test_supervised_runs import RIGHT, STUB, TASK, edit, open_store

Overseer = Callable[..., Ran]
Scripted = Callable[[Sequence[Turn]], ScriptedAnthropicServer]

DONE = turn(Say("Implemented word_count in textstats.py. Tests: 3 passed."))


@pytest.fixture
def faults_to_overseer(monkeypatch: pytest.MonkeyPatch) -> Callable[[ScriptedAnthropicServer], ScriptedAnthropicServer]:
    """After `scripted` cleaned the environment: the CLI retries nothing, overseer's backoff is short."""

    def apply(server: ScriptedAnthropicServer) -> ScriptedAnthropicServer:
        monkeypatch.setenv("CLAUDE_CODE_MAX_RETRIES", "0")
        monkeypatch.setenv("OVERSEER_LIMITS__RATE_LIMIT_BACKOFF_S", "0.1")
        return server

    return apply


def monitor_events(workspace: Path, task_id: int) -> tuple[list[Any], list[dict[str, Any]]]:
    store = open_store(workspace)
    try:
        attempts = store.attempts(task_id)
        return attempts, [e.data for a in attempts for e in store.events(a.id) if e.kind == "monitor"]
    finally:
        store.close()


def user_text(request: dict[str, Any]) -> str:
    content = request["messages"][0]["content"]
    return content if isinstance(content, str) else " ".join(str(part.get("text", "")) for part in content)


def test_a_429_is_waited_out_and_the_same_attempt_runs_again(
    workspace: Path, scripted: Scripted, overseer: Overseer, faults_to_overseer: Any
) -> None:
    server = faults_to_overseer(
        scripted([api_error(429, "rate limited, slow down", retry_after=0.1), *edit(workspace, STUB, RIGHT), DONE])
    )

    ran = overseer("do", "--json", "-w", str(workspace), TASK)

    assert ran.code == 0, ran.err
    result = ran.json()
    assert (result["status"], result["attempts"]) == ("completed", 1)
    attempts, events = monitor_events(workspace, result["task_id"])
    [wait] = events
    assert (wait["signal"], wait["action"], wait["wait_s"]) == ("rate_limited", "wait", 0.1)
    assert "429" in wait["reason"]
    assert attempts[0].status is AttemptStatus.FINISHED and "split()" in (workspace / "textstats.py").read_text()
    requests = server.agent_requests
    assert len(requests) == 4 and user_text(requests[0]) == user_text(requests[1])  # the same request, run again


def test_an_auth_error_stops_for_a_human_and_is_not_retried(
    workspace: Path, scripted: Scripted, overseer: Overseer, faults_to_overseer: Any
) -> None:
    server = faults_to_overseer(scripted([api_error(401, "invalid x-api-key", times=5)]))

    ran = overseer("do", "--json", "-w", str(workspace), TASK)

    assert ran.code == 3, ran.err
    result = ran.json()
    assert result["status"] == "needs_human"
    assert "Invalid API key" in result["error"] and "log the agent in again" in result["error"]
    attempts, events = monitor_events(workspace, result["task_id"])
    assert len(attempts) == 1 and [e["signal"] for e in events] == ["auth"]
    assert len(server.agent_requests) == 1


def test_a_dropped_connection_restarts_the_run(
    workspace: Path, scripted: Scripted, overseer: Overseer, faults_to_overseer: Any
) -> None:
    server = faults_to_overseer(scripted([dropped(), *edit(workspace, STUB, RIGHT), DONE]))

    ran = overseer("do", "--json", "-w", str(workspace), TASK)

    assert ran.code == 0, ran.err
    result = ran.json()
    assert (result["status"], result["attempts"]) == ("completed", 1)
    _, events = monitor_events(workspace, result["task_id"])
    [restart] = events
    assert (restart["signal"], restart["action"], restart["restart"]) == ("crashed", "restart", 1)
    assert "Connection dropped" in restart["reason"]
    assert server.remaining == 0
