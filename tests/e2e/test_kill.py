"""SIGKILL anywhere: a real `overseer run` is killed at a known point of an attempt; the next run
recovers it and finishes the task, and nothing is lost on the way.

Each test kills the whole process group at once (overseer, the `claude` CLI, what it runs), as a
closed terminal or a dying container would; one kills overseer alone, as the OOM killer would, and
checks that its agent dies with it. Processes that left the group (a gate's
test run, a sandboxed command) are killed by the test afterwards: no process survives a test.

The kill points are reached deterministically: the agent's tool call runs a process the test can
see; a gate runs a test the agent wrote, which reports its pid in a file and sleeps; the other
points are overseer's test holds (`TEST_OVERSEER_HOLD`, see overseer/orchestrator/holds.py). The
next run is held at `agent` too, so the test sees the workspace after recovery and before the agent
touches it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from overseer.domain import AttemptStatus, Decision, TaskStatus
from overseer.redact import Redactor
from overseer.state.models import Event
from overseer.state.store import Store, sqlite_url
from overseer.testing import Say, ScriptedAnthropicServer, Turn, Use, turn
from overseer.workspace.checkpoints import Checkpoints

Scripted = Callable[[Sequence[Turn]], ScriptedAnthropicServer]

TASK = "Implement word_count in textstats.py so that the tests pass."
STUB = "    raise NotImplementedError\n"
RIGHT = "    return len(text.split())\n"
WRONG = '    return len(text.split(" "))\n'
DONE = turn(Say("Implemented word_count in textstats.py with str.split(); 3 passed."))
WAIT_S = 240  # wide: each wait is for a real CLI and real gates on a shared 2-core machine


@dataclass
class Overseer:
    """One `overseer` process in a session of its own, its output in files."""

    process: subprocess.Popen[bytes]
    out: Path
    err: Path

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def finish(self) -> dict[str, Any]:
        code = self.process.wait(timeout=WAIT_S)
        assert code == 0, self.err.read_text()
        result: dict[str, Any] = json.loads(self.out.read_text())
        return result


@pytest.fixture
def start(workspace: Path, tmp_path: Path) -> Iterator[Callable[..., Overseer]]:
    started: list[Overseer] = []

    def run(*args: str, holds: str = "", name: str = "run", review: str = "auto") -> Overseer:
        env = dict(os.environ, OVERSEER_SUPERVISOR__REVIEW=review)
        if holds:
            env.update(TEST_OVERSEER_HOLD=holds, TEST_OVERSEER_HOLD_DIR=str(hold_dir(tmp_path, name)))
        out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            command = [sys.executable, "-m", "overseer", *args, "-w", str(workspace)]
            process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, start_new_session=True)
        started.append(Overseer(process, out, err))
        return started[-1]

    yield run
    for overseer in started:
        if overseer.process.poll() is None:
            overseer.kill()


def hold_dir(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"holds-{name}"
    path.mkdir(exist_ok=True)
    return path


def wait_for(what: str, ready: Callable[[], bool], process: Overseer) -> None:
    deadline = time.monotonic() + WAIT_S
    while not ready():
        if process.process.poll() is not None:
            raise AssertionError(
                f"overseer exited ({process.process.returncode}) before {what}: {process.err.read_text()}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"never saw {what}")
        time.sleep(0.1)


def open_store(workspace: Path) -> Store:
    return Store.open(sqlite_url(workspace / ".overseer" / "state.db"), redactor=Redactor([]))


def events_of(workspace: Path, kind: str) -> list[Event]:
    with open_store(workspace) as store:
        return [
            e for t in store.list_tasks(1) for a in store.attempts(t.id) for e in store.events(a.id) if e.kind == kind
        ]


def processes_running(marker: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:  # it ended while we looked
            continue
    return found


def kill_left_over(marker: str) -> None:
    """What left overseer's process group (the sandbox runs commands in a session of their own)."""
    for pid in processes_running(marker):
        with contextlib.suppress(ProcessLookupError):  # it may be ending already (bwrap --die-with-parent)
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while processes_running(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not processes_running(marker)


def read_edit(workspace: Path, old: str, new: str) -> list[Turn]:
    module = str(workspace / "textstats.py")
    return [
        turn(Use("Read", {"file_path": module})),
        turn(Use("Edit", {"file_path": module, "old_string": old, "new_string": new})),
    ]


@dataclass(frozen=True)
class Killed:
    """What the store held just after the kill."""

    attempts: list[tuple[int, AttemptStatus]]  # (number, status)
    events: dict[int, list[tuple[int, str, dict[str, Any]]]]  # attempt number -> (seq, kind, data)
    requests: int  # agent requests the scripted model had answered


def look_after_kill(workspace: Path, server: ScriptedAnthropicServer) -> Killed:
    with open_store(workspace) as store:
        [task] = store.list_tasks(1)
        assert task.status is TaskStatus.RUNNING and task.lease_owner  # claimed by the dead runner
        attempts = store.attempts(task.id)
        events = {a.number: [(e.seq, e.kind, e.data) for e in store.events(a.id)] for a in attempts}
    for numbered in events.values():
        assert [seq for seq, _, _ in numbered] == list(range(1, len(numbered) + 1))
    return Killed([(a.number, a.status) for a in attempts], events, len(server.agent_requests))


def assert_workspace_is(workspace: Path, sha: str, tmp_path: Path) -> None:
    """Byte for byte: every file of the snapshot as it was, and no file the snapshot lacks."""
    checkpoints = Checkpoints(workspace)
    checkpoints.verify(sha)  # by hash, including that files added after the snapshot are gone
    exported = tmp_path / f"snapshot-{sha[:8]}"
    exported.mkdir()
    checkpoints.export(sha, exported)
    files = [p.relative_to(exported) for p in exported.rglob("*") if p.is_file()]
    assert files
    for relative in files:
        assert (workspace / relative).read_bytes() == (exported / relative).read_bytes(), relative


def resume(start: Callable[..., Overseer], tmp_path: Path) -> Overseer:
    """The next run, held before its first agent starts; `release` lets it go on."""
    resumed = start("run", "--json", holds="agent", name="resumed")
    wait_for("the resumed attempt", (hold_dir(tmp_path, "resumed") / "agent").exists, resumed)
    return resumed


def release(tmp_path: Path) -> None:
    (hold_dir(tmp_path, "resumed") / "agent").unlink()


def check_recovered(workspace: Path, killed: Killed, summary: dict[str, Any], *, attempts: int) -> None:
    """After the resumed run: every row once, the log before the kill intact, the task completed."""
    assert (summary["status"], summary["attempts"]) == ("completed", attempts)
    with open_store(workspace) as store:
        [task] = store.list_tasks(1)
        assert (task.lease_owner, task.pending_feedback) == (None, None)
        rows = store.attempts(task.id)
        assert [a.number for a in rows] == list(range(1, attempts + 1))
        assert all(a.status is not AttemptStatus.RUNNING for a in rows)
        for attempt in rows:
            events = store.events(attempt.id)
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
            before = killed.events.get(attempt.number, [])
            assert [(e.seq, e.kind, e.data) for e in events[: len(before)]] == before
            judged = store.decision(attempt.id) is not None
            assert judged == (attempt.status is not AttemptStatus.INTERRUPTED)


def interrupted(workspace: Path, number: int) -> tuple[Any, list[tuple[str, str]], list[Event]]:
    with open_store(workspace) as store:
        attempt = store.attempts(1)[number - 1]
        changes = [(c.path, c.kind) for c in store.file_changes(attempt.id)]
        return attempt, changes, store.events(attempt.id)


def test_killed_before_the_agent_starts(
    workspace: Path, tmp_path: Path, scripted: Scripted, start: Callable[..., Overseer]
) -> None:
    server = scripted([*read_edit(workspace, STUB, RIGHT), DONE])
    assert start("task", "add", TASK, name="add").process.wait(timeout=WAIT_S) == 0
    first = start("run", holds="agent", name="first")
    wait_for("the hold before the agent", (hold_dir(tmp_path, "first") / "agent").exists, first)

    first.kill()
    killed = look_after_kill(workspace, server)
    assert killed.attempts == [(1, AttemptStatus.RUNNING)] and killed.requests == 0

    resumed = resume(start, tmp_path)
    attempt, changes, events = interrupted(workspace, 1)
    assert attempt.status is AttemptStatus.INTERRUPTED and attempt.checkpoint_after and changes == []
    assert [e.kind for e in events][-1] == "recovered"
    assert_workspace_is(workspace, attempt.checkpoint_before, tmp_path)
    release(tmp_path)
    [summary] = resumed.finish()["tasks"]

    check_recovered(workspace, killed, summary, attempts=2)
    assert "Do this task" in str(server.agent_requests[0]["messages"])  # no session yet: a new one


def test_killed_during_a_tool_call(
    workspace: Path, tmp_path: Path, scripted: Scripted, start: Callable[..., Overseer]
) -> None:
    marker = "killed-during-a-tool-call"
    sleep = f"{sys.executable} -c 'import time; time.sleep(120)' {marker}"
    server = scripted(
        [
            *read_edit(workspace, STUB, RIGHT),
            turn(Use("Bash", {"command": sleep, "description": "wait"})),
            *read_edit(workspace, STUB, RIGHT),  # resumed: the edit was undone, so it is made again
            DONE,
        ]
    )
    assert start("task", "add", TASK, name="add").process.wait(timeout=WAIT_S) == 0
    first = start("run", name="first")
    wait_for("the tool call running", lambda: bool(processes_running(marker)), first)
    # Live: the calls and the watcher's file event are in the store while the attempt still runs.
    wait_for(
        "the live events", lambda: {"textstats.py"} <= {e.data["path"] for e in events_of(workspace, "file")}, first
    )
    wait_for("the Bash call", lambda: any(e.data["tool"] == "Bash" for e in events_of(workspace, "tool_call")), first)

    first.kill()
    kill_left_over(marker)
    killed = look_after_kill(workspace, server)
    assert killed.attempts == [(1, AttemptStatus.RUNNING)]

    resumed = resume(start, tmp_path)
    attempt, changes, events = interrupted(workspace, 1)
    assert attempt.status is AttemptStatus.INTERRUPTED and attempt.session_id
    # Besides the agent's edit, the empty files the sandbox mounts over dotfiles while a command
    # runs: killed, the sandbox could not remove them. They are recorded, then removed too.
    sandbox_left = [path for path, kind in changes if (path, kind) != ("textstats.py", "modified")]
    assert ("textstats.py", "modified") in changes and {".bashrc", ".gitconfig"} <= set(sandbox_left)
    assert events[-1].kind == "recovered" and events[-1].data["restored"] is True
    assert_workspace_is(workspace, attempt.checkpoint_before, tmp_path)
    assert not [path for path in sandbox_left if (workspace / path).exists()]
    release(tmp_path)
    [summary] = resumed.finish()["tasks"]

    check_recovered(workspace, killed, summary, attempts=2)
    continued = server.agent_requests[killed.requests]  # the resumed attempt's first request
    assert marker in str(continued["messages"])  # the same conversation, the killed call in it
    assert "overseer was stopped during your last attempt" in str(continued["messages"])
    with open_store(workspace) as store:
        assert store.attempts(1)[1].session_id == attempt.session_id


def test_killed_during_the_gates(
    workspace: Path, tmp_path: Path, scripted: Scripted, start: Callable[..., Overseer]
) -> None:
    running = tmp_path / "gate-running"  # the gate's test run writes its pid here
    hold_test = (
        "import os, time\n\n\n"
        f"def test_hold():\n    open({str(running)!r}, 'w').write(str(os.getpid()))\n    time.sleep(120)\n"
    )
    server = scripted(
        [
            *read_edit(workspace, STUB, RIGHT),
            turn(Use("Write", {"file_path": str(workspace / "tests" / "test_hold.py"), "content": hold_test})),
            DONE,
            *read_edit(workspace, STUB, RIGHT),
            DONE,
        ]
    )
    assert start("task", "add", TASK, name="add").process.wait(timeout=WAIT_S) == 0
    first = start("run", name="first")
    wait_for("a gate running the tests", lambda: running.exists() and running.read_text().isdigit(), first)

    first.kill()
    os.killpg(int(running.read_text()), signal.SIGKILL)  # the gate's pytest runs in a session of its own
    killed = look_after_kill(workspace, server)
    assert killed.attempts == [(1, AttemptStatus.RUNNING)] and "result" in [k for _, k, _ in killed.events[1]]

    resumed = resume(start, tmp_path)
    attempt, changes, _ = interrupted(workspace, 1)
    assert changes == [("tests/test_hold.py", "added"), ("textstats.py", "modified")]
    assert_workspace_is(workspace, attempt.checkpoint_before, tmp_path)
    assert not (workspace / "tests" / "test_hold.py").exists()
    release(tmp_path)
    [summary] = resumed.finish()["tasks"]

    check_recovered(workspace, killed, summary, attempts=2)


def test_killed_during_the_review(
    workspace: Path, tmp_path: Path, scripted: Scripted, start: Callable[..., Overseer]
) -> None:
    server = scripted([*read_edit(workspace, STUB, RIGHT), DONE, *read_edit(workspace, STUB, RIGHT), DONE])
    assert start("task", "add", TASK, name="add").process.wait(timeout=WAIT_S) == 0
    first = start("run", holds="review", name="first", review="always")  # the tiny model reviews only when asked
    wait_for("the review", (hold_dir(tmp_path, "first") / "review").exists, first)

    first.kill()
    killed = look_after_kill(workspace, server)
    assert killed.attempts == [(1, AttemptStatus.RUNNING)]

    resumed = resume(start, tmp_path)
    attempt, changes, _ = interrupted(workspace, 1)
    assert changes == [("textstats.py", "modified")]
    assert_workspace_is(workspace, attempt.checkpoint_before, tmp_path)
    assert STUB in (workspace / "textstats.py").read_text()
    release(tmp_path)
    [summary] = resumed.finish()["tasks"]

    check_recovered(workspace, killed, summary, attempts=2)


def test_killed_between_attempts_the_feedback_still_arrives(
    workspace: Path, tmp_path: Path, scripted: Scripted, start: Callable[..., Overseer]
) -> None:
    server = scripted(
        [
            *read_edit(workspace, STUB, WRONG),
            turn(Say("Done! word_count is implemented in textstats.py and all tests pass.")),
            *read_edit(workspace, WRONG, RIGHT),
            DONE,
        ]
    )
    assert start("task", "add", TASK, name="add").process.wait(timeout=WAIT_S) == 0
    first = start("run", holds="next_attempt", name="first")
    wait_for("the retry decided", (hold_dir(tmp_path, "first") / "next_attempt").exists, first)

    first.kill()
    killed = look_after_kill(workspace, server)
    assert killed.attempts == [(1, AttemptStatus.FINISHED)]
    with open_store(workspace) as store:
        decision = store.decision(store.attempts(1)[0].id)
        assert decision is not None and decision.decision is Decision.RETRY
        assert store.get_task(1).pending_feedback == decision.feedback

    resumed = resume(start, tmp_path)
    with open_store(workspace) as store:
        first_attempt = store.attempts(1)[0]
    assert first_attempt.checkpoint_after
    assert_workspace_is(workspace, first_attempt.checkpoint_after, tmp_path)  # a finished attempt is kept
    release(tmp_path)
    [summary] = resumed.finish()["tasks"]

    check_recovered(workspace, killed, summary, attempts=2)
    sent = str(server.agent_requests[killed.requests]["messages"])
    assert "test_extra_whitespace" in sent and "all tests pass" in sent  # the feedback, in the same session


def test_do_recovers_and_finishes_what_a_killed_do_left(
    workspace: Path, tmp_path: Path, scripted: Scripted, start: Callable[..., Overseer]
) -> None:
    notes = str(workspace / "NOTES.md")
    scripted(
        [
            *read_edit(workspace, STUB, RIGHT),
            DONE,
            turn(Use("Write", {"file_path": notes, "content": "word_count counts words.\n"})),
            turn(Say("Created NOTES.md.")),
        ]
    )
    first = start("do", TASK, holds="agent", name="first")
    wait_for("the hold before the agent", (hold_dir(tmp_path, "first") / "agent").exists, first)
    first.kill()

    second = start("do", "--json", "Write NOTES.md saying what word_count does.", name="second")
    result = second.finish()

    assert (result["task_id"], result["status"]) == (2, "completed")
    [resumed] = result["resumed"]
    assert (resumed["task_id"], resumed["status"], resumed["attempts"]) == (1, "completed", 2)
    assert [a["status"] for a in resumed["history"]] == ["interrupted", "finished"]


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended while we looked
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_killed_alone_its_agent_dies_with_it(
    workspace: Path, tmp_path: Path, scripted: Scripted, start: Callable[..., Overseer]
) -> None:
    """`kill -9` of overseer's pid only (the OOM killer's way): the `claude` CLI must not live on to
    write into a workspace that the next run restores. The kernel kills it (parent-death signal)."""
    marker = "killed-alone"
    sleep = f"{sys.executable} -c 'import time; time.sleep(120)' {marker}"
    scripted([*read_edit(workspace, STUB, RIGHT), turn(Use("Bash", {"command": sleep, "description": "wait"})), DONE])
    assert start("task", "add", TASK, name="add").process.wait(timeout=WAIT_S) == 0
    first = start("run", name="first")
    wait_for("the tool call running", lambda: bool(processes_running(marker)), first)
    agents = [pid for pid in children_of(first.process.pid) if b"claude" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert agents, "the agent CLI runs as overseer's child"

    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait()
    deadline = time.monotonic() + 60  # wide: the kernel acts at once; the machine may be busy
    while any(alive(pid) for pid in agents) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = [pid for pid in agents if alive(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    kill_left_over(marker)
    assert not survivors, "the agent outlived overseer"
