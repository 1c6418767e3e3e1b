"""A supervised task, end to end: real `claude`, real tools, real workspace, real judge."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from overseer.domain import AttemptStatus, TaskStatus
from overseer.redact import Redactor
from overseer.state.store import Store, sqlite_url
from overseer.testing import DUMMY_API_KEY, Say, ScriptedAnthropicServer, Turn, Use, api_error, turn
from tests.conftest import Ran

Overseer = Callable[..., Ran]
Scripted = Callable[[Sequence[Turn]], ScriptedAnthropicServer]

TASK = "Implement word_count in textstats.py so that the tests pass."
STUB = "    raise NotImplementedError\n"
RIGHT = "    return len(text.split())\n"
WRONG = '    return len(text.split(" "))\n'
BROKEN = "    return len(text.split(\n"
# Claude Code refuses a bare `sleep N`; a Python sleep is a command that simply runs long.
SLEEP = f"{sys.executable} -c 'import time; time.sleep(60)'"


def edit(workspace: Path, old: str, new: str) -> list[Turn]:
    module = str(workspace / "textstats.py")
    return [
        turn(Use("Read", {"file_path": module})),
        turn(Use("Edit", {"file_path": module, "old_string": old, "new_string": new})),
    ]


def open_store(workspace: Path) -> Store:
    return Store.open(sqlite_url(workspace / ".overseer" / "state.db"), redactor=Redactor([]))


def git_blob(path: Path) -> str:
    return subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True, check=True).stdout.strip()


def test_honest_success_proceeds(workspace: Path, scripted: Scripted, overseer: Overseer) -> None:
    scripted([*edit(workspace, STUB, RIGHT), turn(Say("Implemented word_count in textstats.py. Tests: 3 passed."))])

    ran = overseer("do", "--json", "-w", str(workspace), TASK)

    assert ran.code == 0, ran.err
    result = ran.json()
    assert (result["status"], result["attempts"], result["decision"]) == ("completed", 1, "proceed")
    assert result["confidence"] >= 0.7
    assert result["files_changed"] == ["textstats.py"]
    assert "split()" in (workspace / "textstats.py").read_text()
    store = open_store(workspace)
    try:
        [attempt] = store.attempts(result["task_id"])
        assert attempt.status is AttemptStatus.FINISHED
        [change] = store.file_changes(attempt.id)
        assert (change.path, change.kind) == ("textstats.py", "modified")
        assert change.sha_after == git_blob(workspace / "textstats.py")
        events = store.events(attempt.id)
        kinds = [e.kind for e in events]
        assert kinds.count("tool_call") == 2 and "result" in kinds and "timings" in kinds
        # the watcher saw the edit live; what pytest wrote (.gitignored __pycache__) is not there
        watched = {e.data["path"] for e in events if e.kind == "file"}
        assert watched == {"textstats.py"}
        assert not [f for f in store.findings(attempt.id) if f.severity == "blocking"]
        assert attempt.checkpoint_before and attempt.checkpoint_after
    finally:
        store.close()


def test_wrong_implementation_is_caught_and_feedback_reaches_the_same_session(
    workspace: Path, scripted: Scripted, overseer: Overseer
) -> None:
    server = scripted(
        [
            *edit(workspace, STUB, WRONG),
            turn(Say("Done! word_count is implemented in textstats.py and all tests pass.")),
            turn(
                Use(
                    "Edit",
                    {"file_path": str(workspace / "textstats.py"), "old_string": WRONG, "new_string": RIGHT},
                )
            ),
            turn(Use("Bash", {"command": f"{sys.executable} -m pytest -q", "description": "run the tests"})),
            turn(Say("Fixed textstats.py to split on any whitespace; I ran the tests: 3 passed.")),
        ]
    )

    ran = overseer("do", "--json", "-w", str(workspace), TASK)

    assert ran.code == 0, ran.err
    result = ran.json()
    assert (result["status"], result["attempts"]) == ("completed", 2)
    first = result["history"][0]
    assert first["decision"] == "retry"
    codes = {f["code"] for f in first["findings"]}
    assert {"tests_failed", "false_claim"} <= codes
    # The retry continued the same conversation, and its prompt carried the concrete feedback.
    retry_request = server.agent_requests[3]  # the first request of attempt 2
    sent = str(retry_request["messages"])
    assert "test_extra_whitespace" in sent and "the agent said the tests pass" in sent
    assert "all tests pass" in sent  # the first attempt's own words: the session was resumed
    store = open_store(workspace)
    try:
        sessions = {a.session_id for a in store.attempts(result["task_id"])}
        assert len(sessions) == 1 and None not in sessions
    finally:
        store.close()


def test_success_claim_without_change_stops_for_a_human(
    workspace: Path, scripted: Scripted, overseer: Overseer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OVERSEER_LIMITS__MAX_ATTEMPTS", "2")
    claim = turn(Say("Done! Everything is implemented and all tests pass."))
    scripted([claim, claim])

    ran = overseer("do", "--json", "-w", str(workspace), TASK)

    assert ran.code == 3, ran.err
    result = ran.json()
    assert (result["status"], result["attempts"], result["decision"]) == ("needs_human", 2, "escalate")
    codes = [f["code"] for f in result["findings"]]
    assert codes[0] == "claim_without_change" and "preexisting_failures" in codes  # nothing changed: not its doing
    assert "no file in the workspace changed" in result["error"]
    assert STUB in (workspace / "textstats.py").read_text()


def test_code_that_does_not_parse_is_sent_back(workspace: Path, scripted: Scripted, overseer: Overseer) -> None:
    module = str(workspace / "textstats.py")
    scripted(
        [
            *edit(workspace, STUB, BROKEN),
            turn(Say("Implemented word_count in textstats.py.")),
            turn(Use("Edit", {"file_path": module, "old_string": BROKEN, "new_string": RIGHT})),
            turn(Say("Fixed the syntax error in textstats.py; 3 passed.")),
        ]
    )

    ran = overseer("do", "--json", "-w", str(workspace), TASK)

    assert ran.code == 0, ran.err
    first = ran.json()["history"][0]
    syntax = [f for f in first["findings"] if f["code"] == "syntax_error"]
    assert syntax and "textstats.py" in syntax[0]["message"]
    assert "textstats.py" in first["feedback"]


def test_api_error_is_not_taken_for_work(
    workspace: Path, scripted: Scripted, overseer: Overseer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OVERSEER_LIMITS__MAX_ATTEMPTS", "2")
    scripted([api_error(400, "scripted: request rejected", times=50)])

    ran = overseer("do", "--json", "-w", str(workspace), TASK)

    assert ran.code == 3, ran.err
    result = ran.json()
    assert result["status"] == "needs_human"
    for attempt in result["history"]:
        [finding] = [f for f in attempt["findings"] if f["code"] == "agent_error"]
        assert "400" in finding["message"]
        assert attempt["decision"] in ("retry", "escalate")


def test_write_outside_the_workspace_is_refused_and_recorded(
    workspace: Path, tmp_path: Path, scripted: Scripted, overseer: Overseer
) -> None:
    outside = tmp_path / "outside" / "evil.py"
    outside.parent.mkdir()
    scripted(
        [
            turn(Use("Write", {"file_path": str(outside), "content": "print('escaped')\n"})),
            *edit(workspace, STUB, RIGHT),
            turn(Say("Implemented word_count in textstats.py; 3 passed.")),
        ]
    )

    ran = overseer("do", "--json", "-w", str(workspace), TASK)

    assert not outside.exists()
    result = ran.json()
    [denied] = [f for f in result["findings"] if f["code"] == "tool_denied"]
    assert str(outside) in denied["message"]
    store = open_store(workspace)
    try:
        [attempt] = store.attempts(result["task_id"])
        calls = [e.data for e in store.events(attempt.id) if e.kind == "tool_call"]
        assert [c["allowed"] for c in calls] == [False, True, True]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("limit", "said"),
    [("OVERSEER_LIMITS__SILENCE_TIMEOUT_S", "went silent"), ("OVERSEER_LIMITS__ATTEMPT_TIMEOUT_S", "ran out of time")],
)
def test_a_stuck_agent_is_stopped_by_overseer(
    workspace: Path, scripted: Scripted, overseer: Overseer, monkeypatch: pytest.MonkeyPatch, limit: str, said: str
) -> None:
    monkeypatch.setenv("OVERSEER_LIMITS__MAX_ATTEMPTS", "1")
    monkeypatch.setenv(limit, "2")
    scripted([turn(Use("Bash", {"command": SLEEP, "description": "wait"}))])

    ran = overseer("do", "--json", "-w", str(workspace), TASK)

    assert ran.code == 3, ran.err
    result = ran.json()
    assert result["history"][0]["status"] == "timed_out"
    [finding] = result["findings"]
    assert finding["code"] == "timeout" and said in finding["message"]


def test_human_sends_a_task_back_with_guidance(
    workspace: Path, scripted: Scripted, overseer: Overseer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OVERSEER_LIMITS__MAX_ATTEMPTS", "1")
    server = scripted(
        [
            turn(Say("Done! All tests pass.")),
            *edit(workspace, STUB, RIGHT),
            turn(Say("Implemented word_count in textstats.py with str.split(); 3 passed.")),
        ]
    )
    assert overseer("task", "add", "-w", str(workspace), TASK).code == 0
    assert overseer("run", "-w", str(workspace)).code == 3

    resolved = overseer("resolve", "1", "--retry", "Use str.split() with no argument.", "-w", str(workspace))
    assert resolved.code == 0
    again = overseer("run", "--json", "-w", str(workspace))

    assert again.code == 0, again.err
    [summary] = again.json()["tasks"]
    assert (summary["status"], summary["attempts"]) == ("completed", 2)
    assert "Use str.split() with no argument." in str(server.agent_requests[1]["messages"])


def test_secrets_never_reach_the_store(workspace: Path, scripted: Scripted, overseer: Overseer) -> None:
    scripted(
        [
            turn(Use("Bash", {"command": "echo key=$ANTHROPIC_API_KEY", "description": "show"})),
            *edit(workspace, STUB, RIGHT),
            turn(Say(f"Implemented word_count in textstats.py with {DUMMY_API_KEY}; 3 passed.")),
        ]
    )

    ran = overseer("do", "--json", "-w", str(workspace), TASK)

    assert ran.code == 0, ran.err
    state = workspace / ".overseer"
    stored = b"".join(p.read_bytes() for p in state.glob("state.db*"))
    assert b"key=" in stored  # the tool output itself was stored...
    assert DUMMY_API_KEY.encode() not in stored  # ...with the key masked


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_marks_the_attempt_interrupted_and_the_next_run_goes_on(
    workspace: Path, scripted: Scripted, overseer: Overseer
) -> None:
    """What Ctrl-C leaves behind and how the next run resumes.

    The child gets SIGINT's default disposition back: a process that starts with SIGINT ignored
    keeps ignoring it (Python installs no KeyboardInterrupt handler then, as a shell's background
    job expects), and something earlier in a full-suite run leaves this pytest process so."""
    marker = "interrupt-me"
    scripted(
        [
            turn(Use("Bash", {"command": f"{SLEEP} {marker}", "description": "wait"})),
            *edit(workspace, STUB, RIGHT),
            turn(Say("Implemented word_count in textstats.py; 3 passed.")),
        ]
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "overseer", "do", "-w", str(workspace), TASK],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    try:
        _wait_for_process(marker)
        process.send_signal(2)  # SIGINT, as Ctrl-C sends
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    store = open_store(workspace)
    try:
        [task] = store.list_tasks(store.ensure_project(workspace).id)
        [attempt] = store.attempts(task.id)
        assert (task.status, attempt.status) == (TaskStatus.PENDING, AttemptStatus.INTERRUPTED)
    finally:
        store.close()
    resumed = overseer("run", "--json", "-w", str(workspace))
    assert resumed.code == 0, resumed.err
    [summary] = resumed.json()["tasks"]
    assert (summary["status"], summary["attempts"]) == ("completed", 2)
    assert [a["status"] for a in summary["history"]] == ["interrupted", "finished"]


def _wait_for_process(marker: str, timeout: float = 60) -> None:
    """Wait until a process whose command line holds `marker` runs: the tool call was allowed and started.

    Waiting for the tool_call event alone is not enough: it is stored while the PreToolUse hook is still
    answering, and a Ctrl-C inside that window makes the CLI deny the call and ask the model once more.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if marker.encode() in cmdline.read_bytes():
                    return
            except OSError:  # the process ended while we looked
                continue
        time.sleep(0.2)
    raise AssertionError(f"no process running {marker!r}")


def test_a_question_from_the_agent_waits_for_a_human(workspace: Path, scripted: Scripted, overseer: Overseer) -> None:
    scripted([turn(Say("The tests disagree with the docstring. Should word_count count 'e-mail' as one word?"))])

    ran = overseer("do", "--json", "-w", str(workspace), TASK)

    assert ran.code == 3, ran.err
    result = ran.json()
    assert (result["status"], result["attempts"], result["decision"]) == ("needs_human", 1, "clarify")
    assert "Should word_count count 'e-mail' as one word?" in result["error"]
    assert overseer("run", "-w", str(workspace)).code == 3  # still open: run says so until resolved


def test_run_takes_tasks_in_dependency_then_priority_order(
    workspace: Path, scripted: Scripted, overseer: Overseer
) -> None:
    module = workspace / "textstats.py"
    module.write_text(module.read_text().replace(STUB, RIGHT))  # tests pass: each task only adds a file

    def writes(name: str) -> list[Turn]:
        path = str(workspace / name)
        return [turn(Use("Write", {"file_path": path, "content": name})), turn(Say(f"Created {name}."))]

    server = scripted([*writes("first.txt"), *writes("second.txt"), *writes("third.txt")])
    ws = str(workspace)
    overseer("task", "add", "-w", ws, "write LOW.txt", "--priority", "1")  # 1
    overseer("task", "add", "-w", ws, "write AFTER.txt", "--priority", "9", "--depends-on", "1")  # 2
    overseer("task", "add", "-w", ws, "write HIGH.txt", "--priority", "5")  # 3

    ran = overseer("run", "--json", "-w", ws)

    assert ran.code == 0, ran.err
    assert [t["task_id"] for t in ran.json()["tasks"]] == [3, 1, 2]
    # each task is a new agent session, whose requests carry only that task's prompt
    seen = [[m for m in ("LOW", "AFTER", "HIGH") if m in str(r["messages"])] for r in server.agent_requests]
    assert list(dict.fromkeys(m for markers in seen for m in markers)) == ["HIGH", "LOW", "AFTER"]
    assert all(len(markers) == 1 for markers in seen)


def test_a_task_waits_while_its_dependency_waits_for_a_human(
    workspace: Path, scripted: Scripted, overseer: Overseer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OVERSEER_LIMITS__MAX_ATTEMPTS", "1")
    server = scripted([turn(Say("Done! All tests pass."))])
    ws = str(workspace)
    overseer("task", "add", "-w", ws, TASK)
    overseer("task", "add", "-w", ws, "Document word_count", "--depends-on", "1")

    ran = overseer("run", "--json", "-w", ws)

    assert ran.code == 3, ran.err
    assert [t["task_id"] for t in ran.json()["tasks"]] == [1]
    assert ran.json()["waiting_for_human"] == [1]
    listed = overseer("task", "list", "--json", "-w", ws).json()["tasks"]
    assert [t["status"] for t in listed] == ["needs_human", "pending"]
    assert server.remaining == 0 and len(server.agent_requests) == 1  # task 2 never reached the agent
