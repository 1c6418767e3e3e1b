"""`history`, `export`, `checkpoints`, `rollback` and `gc` through the real command, on real git and SQLite.

One test lets the real `claude` CLI (against the scripted Messages API server: the remote model is
the only fake) change the workspace with its file tools and with Bash, then rolls it back and
forth; the others build a task's record through the store, which is quicker and just as real.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from overseer.domain import AttemptStatus, Decision, FileChange, Outcome, TaskStatus
from overseer.redact import Redactor
from overseer.state.history import timeline
from overseer.state.store import Store, sqlite_url
from overseer.workspace.checkpoints import Checkpoints
from tests.cli.test_commands import one_line_error
from tests.conftest import Ran

Overseer = Callable[..., Ran]


def files(root: Path) -> dict[str, bytes]:
    """Every file of the workspace outside .git and .overseer, by relative path."""
    found = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith((".git/", ".overseer/")) and "__pycache__" not in rel:
            found[rel] = path.read_bytes()
    return found


def test_rollback_undoes_file_tools_and_bash_and_leaves_ignored_files_alone(
    overseer: Overseer, workspace: Path, scripted: Callable[..., object]
) -> None:
    from overseer.testing import Say, Use, turn

    (workspace / ".gitignore").write_text("__pycache__/\n*.log\n")
    (workspace / "README.md").write_text("# project\n")
    (workspace / "data.txt").write_text("one\n")
    (workspace / "kept.log").write_text("ignored before\n")
    before = files(workspace)
    shell = "echo two >> data.txt && rm README.md && echo made > build.log && echo changed >> kept.log"
    scripted(
        [
            turn(Use("Write", {"file_path": str(workspace / "textstats.py"), "content": "def word_count(t):\n"})),
            turn(Use("Write", {"file_path": str(workspace / "notes.txt"), "content": "scratch\n"})),
            turn(Use("Bash", {"command": shell, "description": "edit with a shell"})),
            turn(Say("Done.")),
        ]
    )
    assert overseer("do", "-w", str(workspace), "implement word_count").code in (0, 1, 3)
    after = files(workspace)
    assert after["data.txt"] == b"one\ntwo\n" and "README.md" not in after and "notes.txt" in after
    [newest, start] = overseer("checkpoints", "1", "--json", "-w", str(workspace)).json()["checkpoints"]
    assert [(row["role"], row["attempt"], row["pruned"]) for row in (newest, start)] == [
        ("after", 1, False),
        ("before", 1, False),
    ]

    ran = overseer("rollback", start["id"][:10], "-w", str(workspace))

    assert ran.code == 0, ran.err
    restored = files(workspace)
    assert restored["build.log"] == b"made\n"  # created by the agent, but ignored: left alone
    assert restored["kept.log"] == b"ignored before\nchanged\n"  # ignored: left as the agent left it
    ignored = {"build.log", "kept.log"}
    assert {k: v for k, v in restored.items() if k not in ignored} == {
        k: v for k, v in before.items() if k not in ignored
    }
    history = overseer("history", "1", "--json", "-w", str(workspace)).json()["timeline"]
    [rolled] = [entry for entry in history if entry["type"] == "resolution"]
    assert rolled["action"] == "rollback" and start["id"] in rolled["guidance"]
    saved = overseer("checkpoints", "1", "--json", "-w", str(workspace)).json()["checkpoints"][0]
    assert (saved["task_id"], saved["role"]) == (1, None) and saved["id"] in rolled["guidance"]

    assert overseer("rollback", saved["id"], "-w", str(workspace)).code == 0  # a rollback can be undone
    assert files(workspace) == after


def test_history_and_export_of_a_real_run(overseer: Overseer, workspace: Path, scripted: Callable[..., object]) -> None:
    from overseer.testing import Say, Use, turn

    module = str(workspace / "textstats.py")
    scripted(
        [
            turn(Use("Read", {"file_path": module})),
            turn(
                Use("Write", {"file_path": module, "content": "def word_count(text):\n    return len(text.split())\n"})
            ),
            turn(Use("Bash", {"command": "ls", "description": "look around"})),
            turn(Say("Implemented word_count.")),
        ]
    )
    overseer("do", "-w", str(workspace), "implement word_count")

    shown = overseer("history", "1", "--json", "-w", str(workspace)).json()
    exported = workspace / "task-1.jsonl"
    assert overseer("export", "1", "-o", str(exported), "-w", str(workspace)).code == 0

    assert shown["task"]["id"] == 1
    entries = shown["timeline"]
    assert entries[0]["type"] == "attempt" and entries[-1]["type"] == "decision"
    assert [e["tool"] for e in entries if e["type"] == "tool_call"] == ["Read", "Write", "Bash"]
    assert {(e["path"], e["kind"]) for e in entries if e["type"] == "file_change"} == {("textstats.py", "modified")}
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert lines[0]["type"] == "task" and lines[0]["id"] == 1
    kinds = [line["type"] for line in lines]
    assert {"attempt", "event", "file_change", "verdict", "decision"} <= set(kinds)
    events = [line for line in lines if line["type"] == "event"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert sum(e["kind"] == "tool_call" for e in events) == 3
    text = overseer("history", "1", "-w", str(workspace))
    assert "attempt 1" in text.out and "Write" in text.out and "textstats.py" in text.out


# Records built through the store: two tasks, each with one attempt between two real snapshots.


def _attempt(store: Store, shadow: Checkpoints, task_id: int, events: int, decision: Decision) -> tuple[str, str]:
    before = shadow.snapshot(f"task {task_id} attempt 1: before")
    attempt = store.start_attempt(task_id, number=1, prompt="do it", checkpoint_before=before)
    for seq in range(events):
        store.add_event(attempt.id, "tool_call", {"tool": "Bash", "input": {"command": f"step {seq}"}, "allowed": True})
    after = shadow.snapshot(f"task {task_id} attempt 1: after")
    store.finish_attempt(
        attempt.id,
        status=AttemptStatus.FINISHED,
        session_id=None,
        result_text="done",
        error="",
        cost_usd=None,
        checkpoint_after=after,
        changes=[FileChange("a.txt", "modified", None, None)],
        verdict=None,
        outcome=Outcome(decision),
    )
    return before, after


@pytest.fixture
def recorded(overseer: Overseer, workspace: Path) -> Iterator[dict[str, str]]:
    """Task 1 completed and task 2 waiting for a human, with their checkpoints and events."""
    assert overseer("init", str(workspace)).code == 0
    shadow = Checkpoints(workspace)
    with Store.open(sqlite_url(workspace / ".overseer" / "state.db"), redactor=Redactor([])) as store:
        project = store.ensure_project(workspace).id
        shas = {}
        for task_id, status, decision in (
            (1, TaskStatus.COMPLETED, Decision.PROCEED),
            (2, TaskStatus.NEEDS_HUMAN, Decision.ESCALATE),
        ):
            store.add_task(project, f"task {task_id}")
            (workspace / "a.txt").write_text(f"task {task_id}\n")
            shas[f"{task_id} before"], shas[f"{task_id} after"] = _attempt(store, shadow, task_id, 3, decision)
            store.set_task_status(task_id, status)
    yield shas


def rows(workspace: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(workspace / ".overseer" / "state.db") as db:
        return db.execute(query).fetchall()


@pytest.mark.parametrize("bad_id", ["0123abcd", "HEAD", "zz"])
def test_a_checkpoint_id_that_does_not_exist_is_one_line_exit_2_and_nothing_written(
    overseer: Overseer, workspace: Path, recorded: dict[str, str], bad_id: str
) -> None:
    shadow = Checkpoints(workspace)
    snapshots, before = shadow.snapshots(), files(workspace)

    ran = overseer("rollback", bad_id, "-w", str(workspace))

    assert ran.code == 2
    assert "checkpoint" in one_line_error(ran) and "overseer checkpoints" in ran.err
    assert shadow.snapshots() == snapshots and files(workspace) == before
    assert rows(workspace, "select count(*) from resolutions") == [(0,)]


def test_unknown_task_for_history_export_and_checkpoints(overseer: Overseer, workspace: Path) -> None:
    overseer("init", str(workspace))
    target = workspace / "out.jsonl"
    for command in (["history", "9"], ["export", "9", "-o", str(target)], ["checkpoints", "9"]):
        ran = overseer(*command, "-w", str(workspace))
        assert ran.code == 2 and "unknown task id 9" in one_line_error(ran)
    assert not target.exists() and list(workspace.glob(".out.jsonl*")) == []


def test_history_reads_each_kind_of_row_once_however_many_attempts(
    workspace: Path, overseer: Overseer, recorded: dict[str, str]
) -> None:
    """No query per attempt: a task's history costs the same few queries with 1 attempt or 5."""
    with Store.open(sqlite_url(workspace / ".overseer" / "state.db"), redactor=Redactor([])) as store:
        shadow = Checkpoints(workspace)
        for number in range(2, 6):
            attempt = store.start_attempt(1, number=number, prompt="again", checkpoint_before=shadow.snapshot("x"))
            store.add_event(attempt.id, "tool_call", {"tool": "Read", "input": {"file_path": "a.txt"}})
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(args[2])

        with store.reading() as session:
            engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", count)
        counts = []
        try:
            for task_id in (2, 1):  # one attempt, then five
                statements.clear()
                with store.reading() as session:
                    entries = timeline(session, task_id)
                counts.append(len(statements))
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert [e["attempt"] for e in entries if e["type"] == "attempt"] == [1, 2, 3, 4, 5]
    assert counts[0] == counts[1]


def test_gc_prunes_old_events_and_checkpoints_of_finished_tasks_only(
    overseer: Overseer, workspace: Path, recorded: dict[str, str]
) -> None:
    args = ("-w", str(workspace))
    kept = overseer("gc", "--json", *args).json()  # the default keeps 30 days
    assert (kept["events"], kept["checkpoints"]) == (0, [])

    dry = overseer("gc", "--keep-days", "0", "--dry-run", "--json", *args).json()
    assert dry["events"] == 3 and set(dry["checkpoints"]) == {recorded["1 before"], recorded["1 after"]}
    assert rows(workspace, "select count(*) from events") == [(6,)]  # a dry run changes nothing
    assert len(overseer("checkpoints", "--json", *args).json()["checkpoints"]) == 4

    done = overseer("gc", "--keep-days", "0", "--json", *args).json()

    assert (done["events"], set(done["checkpoints"])) == (3, set(dry["checkpoints"]))
    assert rows(workspace, "select attempt_id, count(*) from events group by attempt_id") == [(2, 3)]
    assert rows(workspace, "select count(*) from attempts") == [(2,)]  # the history stays
    listed = {row["id"] for row in overseer("checkpoints", "--json", *args).json()["checkpoints"]}
    assert listed == {recorded["2 before"], recorded["2 after"]}
    of_task_1 = overseer("checkpoints", "1", "--json", *args).json()["checkpoints"]
    assert [(row["role"], row["pruned"]) for row in of_task_1] == [("after", True), ("before", True)]
    ran = overseer("rollback", recorded["1 before"], *args)
    assert ran.code == 2 and "no checkpoint" in one_line_error(ran)
    assert overseer("rollback", recorded["2 before"], *args).code == 0  # the waiting task's is whole


def test_history_shows_a_human_resolution_after_the_attempt_it_answered(
    overseer: Overseer, workspace: Path, recorded: dict[str, str]
) -> None:
    assert overseer("resolve", "2", "--retry", "use the other API", "-w", str(workspace)).code == 0

    entries = overseer("history", "2", "--json", "-w", str(workspace)).json()["timeline"]

    assert [e["type"] for e in entries] == ["attempt", *["tool_call"] * 3, "file_change", "decision", "resolution"]
    assert (entries[-1]["action"], entries[-1]["guidance"], entries[-1]["attempt"]) == ("retry", "use the other API", 1)
    assert entries[-2]["decision"] == "escalate"
