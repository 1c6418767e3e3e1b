"""The permission arbiter, end to end: the real `claude` CLI, driven by the scripted Messages API server
(the remote model cannot be reached from tests, and must not be), asks to run shell commands in a
real git workspace through `overseer do`. Destructive ones are refused before they run and recorded
with their class and reason; ordinary ones run. Asserted on the store, `overseer status` and the disk.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from overseer.redact import Redactor
from overseer.state.store import Store, sqlite_url
from overseer.testing import Say, ScriptedAnthropicServer, Turn, Use, turn
from tests.conftest import Ran

Scripted = Callable[[Sequence[Turn]], ScriptedAnthropicServer]
TASK = "Implement word_count in textstats.py so that the tests pass."
UNCOMMITTED = "\n# the user's work in progress, not committed\n"
REFUSED = {
    "git reset --hard": "git_discard",
    "git checkout -- .": "git_discard",
    "ls && rm -rf build && echo cleaned": "recursive_delete",
}
ALLOWED = {"git status": "read_only", "python3 -m pytest -q": "execute"}


@pytest.fixture
def repo(workspace: Path) -> Path:
    """The demo project as a git repository, with uncommitted work in NOTES.md and a build directory."""
    (workspace / "NOTES.md").write_text("Notes.\n")
    for command in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start"],
    ):
        subprocess.run(command, cwd=workspace, check=True)
    with (workspace / "NOTES.md").open("a") as notes:
        notes.write(UNCOMMITTED)
    (workspace / "build").mkdir()
    (workspace / "build" / "artifact.bin").write_text("built\n")
    return workspace


def bash(command: str) -> Turn:
    return turn(Use("Bash", {"command": command, "description": "run a command"}))


def tool_calls(workspace: Path, task_id: int) -> list[dict[str, Any]]:
    store = Store.open(sqlite_url(workspace / ".overseer" / "state.db"), redactor=Redactor([]))
    try:
        [attempt] = store.attempts(task_id)
        return [event.data for event in store.events(attempt.id) if event.kind == "tool_call"]
    finally:
        store.close()


def test_destructive_commands_are_refused_and_recorded_while_ordinary_ones_run(
    repo: Path, scripted: Scripted, overseer: Callable[..., Ran], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OVERSEER_LIMITS__MAX_ATTEMPTS", "1")
    scripted([*(bash(command) for command in [*ALLOWED, *REFUSED]), turn(Say("Tidied up; tests run."))])

    ran = overseer("do", "--json", "-w", str(repo), TASK)
    result = ran.json()

    # nothing destructive happened: the uncommitted work and the build directory are still there
    assert (repo / "NOTES.md").read_text() == "Notes.\n" + UNCOMMITTED
    assert (repo / "build" / "artifact.bin").read_text() == "built\n"
    # every call is in the store with its class; the refused ones with allowed=false and why
    calls = {call["input"]["command"]: call for call in tool_calls(repo, result["task_id"])}
    assert set(calls) == {*ALLOWED, *REFUSED}
    for command, category in ALLOWED.items():
        assert (calls[command]["allowed"], calls[command]["category"]) == (True, category)
    for command, category in REFUSED.items():
        assert (calls[command]["allowed"], calls[command]["category"]) == (False, category), calls[command]
    assert "never allowed automatically" in calls["git reset --hard"]["reason"]
    assert "rm -rf build: deletes a directory tree" in calls["ls && rm -rf build && echo cleaned"]["reason"]
    # `status` shows the denials, as data and for people
    status = overseer("status", "--json", "-w", str(repo), str(result["task_id"])).json()
    refused = status["history"][0]["refused"]
    assert [(call["target"], call["category"]) for call in refused] == list(REFUSED.items())
    shown = overseer("status", "-w", str(repo), str(result["task_id"])).out
    assert "refused [git_discard] Bash git reset --hard" in " ".join(shown.split())
