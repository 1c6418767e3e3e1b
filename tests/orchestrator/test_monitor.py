"""The output monitor through the whole loop, with the command agent and scripted faults.

The agent is a real program (a small Python script) run for real by `agent.name: command`; each run
takes its next step from a plan in a file outside the workspace: print a 429 and exit, crash, print
an auth error, hang, hand in wrong work, or fix the stub. The checkpoints, the judge's gates and the
store are the real ones. Waits are kept short through `limits`.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from overseer import demo
from overseer.cli.render import ConsoleReporter
from overseer.domain import AttemptStatus, TaskStatus
from overseer.plugins import Registry
from overseer.runtime import Workspace, build_orchestrator, open_workspace
from tests.conftest import process_gone

AGENT = """
import json, os, pathlib, sys, time
state = pathlib.Path(sys.argv[1])
data = json.loads(state.read_text())
step = data["plan"].pop(0) if data["plan"] else "fix"
data["runs"].append({"step": step, "prompt": sys.stdin.read()})
state.write_text(json.dumps(data))
source = pathlib.Path("textstats.py")
if step == "429":
    print("Error: 429 Too Many Requests; retry-after: 0.2", file=sys.stderr)
    sys.exit(1)
if step == "limit":
    print("openai.RateLimitError: rate limit exceeded", file=sys.stderr)
    sys.exit(1)
if step == "crash":
    print("working on it", flush=True)
    print("Segmentation fault (core dumped)", file=sys.stderr)
    sys.exit(139)
if step == "auth":
    print("Error: invalid api key", file=sys.stderr)
    sys.exit(1)
if step == "hang":
    pathlib.Path(sys.argv[2]).write_text(str(os.getpid()))
    time.sleep(120)
wrong, body = 'return len(text.split(" "))', "return len(text.split())"
if step == "wrong":
    wrong, body = "raise NotImplementedError", wrong
code = source.read_text().replace("raise NotImplementedError", body).replace(wrong, body)
source.write_text(code)
print("Implemented word_count in textstats.py; the tests pass.")
"""


@dataclass
class Faulty:
    """A workspace whose agent follows `plan`, and what each of its runs saw."""

    workspace: Path
    state: Path
    pid_file: Path

    def runs(self) -> list[dict[str, str]]:
        runs: list[dict[str, str]] = json.loads(self.state.read_text())["runs"]
        return runs


Make = Callable[..., AbstractContextManager[tuple[Faulty, Workspace]]]


@pytest.fixture
def faulty(tmp_path: Path) -> Make:
    @contextmanager
    def make(plan: Sequence[str], **limits: float) -> Iterator[tuple[Faulty, Workspace]]:
        workspace = tmp_path / "work" / "project"  # overseer looks for files changed beside the workspace:
        workspace.mkdir(parents=True)  # the script's own files are kept elsewhere
        demo.create_project(workspace)
        (tmp_path / "agent").mkdir()
        state, pid_file, script = (tmp_path / "agent" / name for name in ("state.json", "agent.pid", "agent.py"))
        state.write_text(json.dumps({"plan": list(plan), "runs": []}))
        script.write_text(AGENT)
        command = [sys.executable, str(script), str(state), str(pid_file)]
        overrides = {
            "agent": {"name": "command", "options": {"command": command}},
            "limits": {"rate_limit_backoff_s": 0.05, "rate_limit_backoff_max_s": 0.1, **limits},
        }
        with open_workspace(workspace, os.environ, overrides, create=True) as ws:
            yield Faulty(workspace, state, pid_file), ws

    return make


def run_task(ws: Workspace, text: str = demo.TASK, reporter: ConsoleReporter | None = None) -> int:
    task = ws.store.add_task(ws.project_id, text)
    build_orchestrator(ws, Registry.from_entry_points(), reporter).run([task.id])
    return task.id


def monitor_events(ws: Workspace, task_id: int) -> list[dict[str, Any]]:
    return [e.data for a in ws.store.attempts(task_id) for e in ws.store.events(a.id) if e.kind == "monitor"]


def test_a_rate_limit_is_waited_out_and_the_same_attempt_runs_again(faulty: Make) -> None:
    with faulty(["429", "limit", "limit", "fix"]) as (agent, ws):
        started = time.monotonic()
        printed = io.StringIO()
        task_id = run_task(ws, reporter=ConsoleReporter(Console(file=printed, width=200)))

        [attempt] = ws.store.attempts(task_id)
        waits = [(e["signal"], e["action"], e["wait_s"]) for e in monitor_events(ws, task_id)]
        assert ws.store.get_task(task_id).status is TaskStatus.COMPLETED
        assert attempt.number == 1 and attempt.status is AttemptStatus.FINISHED
        # the 429's retry-after first, then the backoff (0.05 s doubling at each wait, capped at 0.1 s)
        assert waits == [("rate_limited", "wait", 0.2), ("rate_limited", "wait", 0.1), ("rate_limited", "wait", 0.1)]
        assert [run["step"] for run in agent.runs()] == ["429", "limit", "limit", "fix"]
        assert len({run["prompt"] for run in agent.runs()}) == 1  # the same request each time
        timings = next(e.data for e in ws.store.events(attempt.id) if e.kind == "timings")
        assert timings["rate_limit_wait_s"] == pytest.approx(0.4)
        assert time.monotonic() - started > 0.4
        assert "monitor: rate_limited: the agent command exited with code 1; Error: 429" in printed.getvalue()
        assert "-> wait 0.2 s, the attempt is not used up" in printed.getvalue()


def test_rate_limits_past_the_wait_budget_fail_the_task_loudly(faulty: Make) -> None:
    with faulty(["limit"] * 10, rate_limit_max_wait_s=0.2) as (agent, ws):
        task_id = run_task(ws)

        task = ws.store.get_task(task_id)
        assert task.status is TaskStatus.FAILED
        assert "still rate-limited" in (task.brief or "")
        assert monitor_events(ws, task_id)[-1]["action"] == "gave up waiting"
        assert [run["step"] for run in agent.runs()] == ["limit"] * 3  # waited 0.05 + 0.1, the next 0.1 is over


def test_a_crash_is_restarted_and_recorded(faulty: Make) -> None:
    with faulty(["crash", "fix"]) as (agent, ws):
        task_id = run_task(ws)

        assert ws.store.get_task(task_id).status is TaskStatus.COMPLETED
        assert len(ws.store.attempts(task_id)) == 1  # the restart was within the attempt
        [restart] = monitor_events(ws, task_id)
        assert (restart["signal"], restart["action"], restart["restart"], restart["of"]) == ("crashed", "restart", 1, 2)
        assert "exited with code 139" in restart["reason"]
        assert len(agent.runs()) == 2


def test_a_crash_past_the_restart_limit_fails_the_task(faulty: Make) -> None:
    with faulty(["crash"] * 5) as (agent, ws):
        task_id = run_task(ws)

        task = ws.store.get_task(task_id)
        assert task.status is TaskStatus.FAILED
        assert "the agent crashed 3 times" in (task.brief or "")
        actions = [e["action"] for e in monitor_events(ws, task_id)]
        assert actions == ["restart", "restart", "gave up"]
        assert len(agent.runs()) == 3  # limits.agent_restarts: 2
        [attempt] = ws.store.attempts(task_id)
        assert attempt.status is AttemptStatus.ERROR and "crashed 3 times" in (attempt.error or "")


def test_an_auth_error_stops_for_a_human_without_a_retry_and_runs_no_other_task(faulty: Make) -> None:
    with faulty(["auth", "fix"]) as (agent, ws):
        later = ws.store.add_task(ws.project_id, "Another task.")
        task_id = run_task(ws)
        build_orchestrator(ws, Registry.from_entry_points())  # nothing else ran: `later` is still pending

        task = ws.store.get_task(task_id)
        assert task.status is TaskStatus.NEEDS_HUMAN
        assert "invalid api key" in (task.brief or "") and "log the agent in again" in (task.brief or "")
        assert [run["step"] for run in agent.runs()] == ["auth"]
        assert [e["signal"] for e in monitor_events(ws, task_id)] == ["auth"]
        assert ws.store.get_task(later.id).status is TaskStatus.PENDING


def test_a_silent_agent_is_stalled_with_its_reason_and_killed(faulty: Make) -> None:
    with faulty(["hang"], silence_timeout_s=1, max_attempts=1) as (agent, ws):
        task_id = run_task(ws)

        [attempt] = ws.store.attempts(task_id)
        [stall] = monitor_events(ws, task_id)
        assert attempt.status is AttemptStatus.TIMED_OUT
        assert (stall["signal"], stall["action"]) == ("stalled", "ended the run")
        assert "no output or event from the agent for 1 s (limits.silence_timeout_s)" in stall["reason"]
        assert process_gone(int(agent.pid_file.read_text()))


def test_a_retry_of_a_sessionless_agent_carries_the_whole_task_and_the_feedback(faulty: Make) -> None:
    with faulty(["wrong", "fix"]) as (agent, ws):
        task_id = run_task(ws)

        assert ws.store.get_task(task_id).status is TaskStatus.COMPLETED
        first, retry = (run["prompt"] for run in agent.runs())
        assert demo.TASK in first and demo.TASK in retry
        assert "Your previous attempt at this task was not accepted" in retry
        assert "test_textstats" in retry.split("not accepted")[1]  # the failing tests overseer found
        assert [a.session_id for a in ws.store.attempts(task_id)] == [None, None]
