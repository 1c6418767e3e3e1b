"""`overseer shell` through a real pseudo-terminal (pexpect): typed tasks run in the background with
the real `claude` CLI against the scripted server, a breakpoint is answered at the prompt, Ctrl-C
stops an attempt and a second one leaves."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pexpect
import pytest
import yaml

from overseer.cli.common import open_ws
from overseer.domain import AttemptStatus, TaskStatus
from overseer.testing import Say, ScriptedAnthropicServer, Turn, Use, turn

Scripted = Callable[[Sequence[Turn]], ScriptedAnthropicServer]
Shell = Callable[[Path], "pexpect.spawn[str]"]

TASK = "Implement word_count in textstats.py so that the tests pass."
STUB = "    raise NotImplementedError\n"
RIGHT = "    return len(text.split())\n"
WAIT_S = 120  # each wait is for a real CLI and real gates on a shared 2-core machine
SLEEP = f"{sys.executable} -c 'import time; time.sleep(60)'"
PROMPT = r"overseer( \(running\))?>"  # the shell's prompt when no task waits for an answer


def honest(workspace: Path) -> list[Turn]:
    module = str(workspace / "textstats.py")
    return [turn(Use("Edit", {"file_path": module, "old_string": STUB, "new_string": RIGHT})), turn(Say("Done."))]


@pytest.fixture
def shell() -> Iterator[Shell]:
    started: list[pexpect.spawn[str]] = []

    def start(workspace: Path) -> pexpect.spawn[str]:
        env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm"}
        child = pexpect.spawn(
            sys.executable, ["-m", "overseer", "shell", "-w", str(workspace)], env=env, encoding="utf-8", timeout=WAIT_S
        )
        started.append(child)
        child.expect("overseer>")  # the renderer draws the trailing space apart
        return child

    yield start
    for child in started:
        child.terminate(force=True)


def test_a_typed_task_runs_in_the_background_and_slash_commands_work(
    workspace: Path, scripted: Scripted, shell: Shell
) -> None:
    scripted(honest(workspace))
    child = shell(workspace)

    child.sendline(TASK)
    child.expect("added task 1")
    child.expect(r"-> Edit .*textstats\.py")  # the run's progress streams above the prompt
    child.expect(r"\[run ended: exit 0\]")
    child.sendline("/status 1")
    child.expect("completed")
    child.sendcontrol("c")  # nothing running: Ctrl-C leaves
    child.expect(pexpect.EOF)
    assert "split()" in (workspace / "textstats.py").read_text()


def test_a_breakpoint_is_a_question_at_the_prompt(workspace: Path, scripted: Scripted, shell: Shell) -> None:
    config = workspace / ".overseer" / "config.yaml"
    config.parent.mkdir()
    config.write_text(yaml.safe_dump({"breakpoints": {"stats": {"paths": ["textstats.py"]}}}), encoding="utf-8")
    scripted(honest(workspace))
    child = shell(workspace)

    child.sendline(TASK)
    child.expect(r"task 1 waits: breakpoint stats: it changed textstats\.py")
    child.expect("a / r GUIDANCE / x >")
    child.sendline("a")
    child.expect("task 1: accepted: completed")
    child.expect(PROMPT)  # as a user would: Ctrl-D typed before the next prompt is drawn can be lost
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    with open_ws(workspace) as ws:
        assert ws.store.get_task(1).status is TaskStatus.COMPLETED
        [(_, resolution)] = ws.store.breakpoints(ws.project_id)
        assert resolution is not None and resolution.action == "accept"


def test_ctrl_c_stops_the_running_attempt_and_a_second_one_leaves(
    workspace: Path, scripted: Scripted, shell: Shell
) -> None:
    scripted([turn(Use("Bash", {"command": SLEEP, "description": "wait"})), turn(Say("Done."))])
    child = shell(workspace)

    child.sendline(TASK)
    child.expect(r"-> Bash .*time\.sleep")
    child.sendcontrol("c")
    child.expect("stopping the running attempt")
    child.expect(r"\[run ended: exit 130\]")
    child.sendcontrol("c")
    child.sendcontrol("c")
    child.expect(pexpect.EOF)
    with open_ws(workspace) as ws:
        [attempt] = ws.store.attempts(1)
        assert attempt.status is AttemptStatus.INTERRUPTED


def test_a_held_tool_call_is_answered_at_the_prompt(workspace: Path, scripted: Scripted, shell: Shell) -> None:
    """The shell's part only: the question a held call asks, and the answer recorded and run on (what
    the resumed session does with it is tests/e2e/test_tool_approval.py's)."""
    config = workspace / ".overseer" / "config.yaml"
    config.parent.mkdir()
    config.write_text(yaml.safe_dump({"breakpoints": {"deploy": {"tool": "Bash(echo deploy*)"}}}), encoding="utf-8")
    fix, _ = honest(workspace)
    done = turn(Say("Implemented word_count and deployed."))
    scripted([fix, turn(Use("Bash", {"command": "echo deploy >> deployed.txt"})), done, done, done])
    child = shell(workspace)

    child.sendline(TASK)
    child.expect(r"task 1 waits: breakpoint deploy: the agent wants to run Bash\(echo deploy")
    child.expect(r"y \(allow\) / n REASON \(deny\) >")
    child.sendline("y")
    child.expect("task 1: the call is allowed")
    child.expect(r"task 1 attempt 2: the agent is working")  # the shell ran the task on
    child.expect(r"\[run ended: exit \d\]")
    child.expect(PROMPT)
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    with open_ws(workspace) as ws:
        [(point, resolution)] = ws.store.breakpoints(ws.project_id)
        assert point.kind == "tool" and resolution is not None and resolution.action == "allow"
