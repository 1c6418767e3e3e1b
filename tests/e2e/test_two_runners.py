"""Two `overseer run` processes at once on one store: every task is claimed by one of them and runs once.

Both runners work on the same workspace, so they take turns on it task by task (the workspace
lock); the claims in the store decide which runner gets which task. On SQLite (the workspace's own
file) and on PostgreSQL (the session's real server).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from overseer.domain import AttemptStatus, TaskStatus
from overseer.redact import Redactor
from overseer.state.store import Store, sqlite_url
from overseer.testing import Say, ScriptedAnthropicServer, Turn, Use, turn
from overseer.testing.postgres import PostgresCluster
from tests.conftest import Ran

Scripted = Callable[[Sequence[Turn]], ScriptedAnthropicServer]
TASKS = 4
WAIT_S = 600  # wide: four supervised attempts, one at a time, on a shared 2-core machine


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "sqlite":
        return sqlite_url(workspace / ".overseer" / "state.db")
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    url = cluster.create_database()
    monkeypatch.setenv("OVERSEER_STORE__URL", url)  # every overseer of the test, in-process or not
    return url


def test_two_runners_run_every_task_exactly_once(
    workspace: Path, store_url: str, scripted: Scripted, overseer: Callable[..., Ran], tmp_path: Path
) -> None:
    module = workspace / "textstats.py"
    module.write_text(module.read_text().replace("    raise NotImplementedError\n", "    return len(text.split())\n"))
    turns: list[Turn] = []
    for n in range(TASKS):  # whichever task comes n-th writes file n: agents never overlap on the workspace
        name = f"file{n}.txt"
        turns += [
            turn(Use("Write", {"file_path": str(workspace / name), "content": name})),
            turn(Say(f"Created {name}.")),
        ]
    server = scripted(turns)
    texts = [f"Write the file for task {n}." for n in range(TASKS)]
    for text in texts:
        assert overseer("task", "add", "-w", str(workspace), text).code == 0

    runners = [_start(workspace, tmp_path / f"runner{n}") for n in range(2)]
    ran = [_ran(runner, tmp_path / f"runner{n}") for n, runner in enumerate(runners)]

    ids = [task_id for by_runner in ran for task_id in by_runner]
    assert sorted(ids) == list(range(1, TASKS + 1))  # every task, and none twice
    with Store.open(store_url, redactor=Redactor([])) as store:
        tasks = store.list_tasks(store.ensure_project(workspace).id)
        assert [t.status for t in tasks] == [TaskStatus.COMPLETED] * TASKS
        assert all(t.lease_owner is None for t in tasks)
        for task in tasks:
            [attempt] = store.attempts(task.id)
            assert attempt.status is AttemptStatus.FINISHED and task.text in attempt.prompt
    assert server.remaining == 0 and len(server.agent_requests) == 2 * TASKS
    assert sorted(p.name for p in workspace.glob("file*.txt")) == [f"file{n}.txt" for n in range(TASKS)]


def _start(workspace: Path, output: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "overseer", "run", "--json", "-w", str(workspace)]
    with output.with_suffix(".out").open("wb") as out, output.with_suffix(".err").open("wb") as err:
        return subprocess.Popen(command, stdout=out, stderr=err, env=dict(os.environ))


def _ran(runner: subprocess.Popen[bytes], output: Path) -> list[int]:
    try:
        code = runner.wait(timeout=WAIT_S)
    finally:
        runner.kill()
    assert code == 0, output.with_suffix(".err").read_text()
    result = json.loads(output.with_suffix(".out").read_text())
    return [summary["task_id"] for summary in result["tasks"]]
