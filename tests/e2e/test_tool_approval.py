"""Approving a tool call live, on the real `claude` CLI: a breakpoint rule holds a call back, the task
waits with the call pending, and the developer's answer reaches the resumed session: an allowed call
goes through once, a denied one is refused with the developer's reason.

On resume the CLI replays the pending call: through overseer's hook when the SDK has registered it in
time (what this machine shows), else refused by the CLI itself (anthropics/claude-agent-sdk-python#993),
and then the agent makes it again when told the answer. The scripts below hold for both: after the
answer the model makes the call once more, then says it is done, with a spare turn for the CLI's own
"continue" request that a replay through the hook brings."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from overseer.testing import Say, ScriptedAnthropicServer, Turn, Use, turn
from tests.conftest import Ran
from tests.e2e.test_breakpoints import TASK, configure, honest

Overseer = Callable[..., Ran]
Scripted = Callable[[Sequence[Turn]], ScriptedAnthropicServer]

DEPLOY = {"command": "echo deploy >> deployed.txt"}
WAITING = "breakpoint deploy: the agent wants to run Bash(echo deploy >> deployed.txt)"


def deferred_first(workspace: Path, *after: Turn) -> list[Turn]:
    """The honest fix, then the held call; the turns after it answer the resumed session."""
    fix, _done = honest(workspace)
    return [fix, turn(Use("Bash", DEPLOY)), *after]


def waits_on_the_call(workspace: Path, overseer: Overseer, server: ScriptedAnthropicServer, left: int) -> int:
    """`overseer do` stops before the call; return the task's id."""
    configure(workspace, {"breakpoints": {"deploy": {"tool": "Bash(echo deploy*)"}}})
    ran = overseer("do", "--json", "-w", str(workspace), TASK)

    assert ran.code == 3, ran.err
    result = ran.json()
    assert (result["status"], result["decision"], result["error"]) == ("needs_human", "escalate", WAITING)
    assert not (workspace / "deployed.txt").exists()  # held back: it did not run
    assert "split()" in (workspace / "textstats.py").read_text()  # the work before it is kept
    assert server.remaining == left  # the run ended at the held call
    [point] = overseer("breakpoints", "--json", "-w", str(workspace)).json()["open"]
    assert (point["rule"], point["kind"], point["reason"]) == ("deploy", "tool", WAITING.split(": ", 1)[1])
    assert (point["detail"]["tool"], point["detail"]["input"]) == ("Bash", DEPLOY)
    assert point["detail"]["tool_use_id"].startswith("toolu_")
    return int(result["task_id"])


def sent_text(request: dict[str, Any]) -> str:
    return json.dumps(request["messages"])


def heard(server: ScriptedAnthropicServer, text: str) -> bool:
    """Whether the resumed session's requests carried `text` to the model."""
    return any(text in sent_text(request) for request in server.agent_requests[2:])


def test_an_allowed_call_goes_through_once(workspace: Path, scripted: Scripted, overseer: Overseer) -> None:
    done = turn(Say("Implemented word_count and deployed. Tests: 3 passed."))
    server = scripted(deferred_first(workspace, turn(Use("Bash", DEPLOY)), done, done))
    task = waits_on_the_call(workspace, overseer, server, left=3)

    mismatched = overseer("resolve", str(task), "--accept", "-w", str(workspace))
    assert mismatched.code == 2 and "--allow or --deny" in mismatched.err
    assert overseer("resolve", str(task), "--allow", "-w", str(workspace)).code == 0
    ran = overseer("run", "-w", str(workspace))

    assert ran.code == 0, ran.err
    assert (workspace / "deployed.txt").read_text() == "deploy\n"  # once: `>>` would show a second run
    assert overseer("status", str(task), "--json", "-w", str(workspace)).json()["status"] == "completed"
    assert heard(server, "The developer allowed your call Bash: echo deploy >> deployed.txt. If it has not run yet")
    listed = overseer("breakpoints", "--json", "-w", str(workspace)).json()
    [point] = listed["past"]
    assert listed["open"] == [] and point["resolution"]["action"] == "allow" and point["resolution"]["by"]


def test_a_denied_call_is_refused_with_the_reason_when_the_agent_tries_it_again(
    workspace: Path, scripted: Scripted, overseer: Overseer
) -> None:
    gave_up = turn(Say("Implemented word_count; I did not deploy, as the developer asked. Tests: 3 passed."))
    server = scripted(deferred_first(workspace, turn(Use("Bash", DEPLOY)), gave_up, gave_up))
    task = waits_on_the_call(workspace, overseer, server, left=3)

    empty = overseer("resolve", str(task), "--deny", " ", "-w", str(workspace))
    assert empty.code == 2 and "a denial needs a reason" in empty.err
    denied = overseer("resolve", str(task), "--deny", "not on a Friday", "-w", str(workspace))
    assert denied.code == 0, denied.err
    ran = overseer("run", "-w", str(workspace))

    assert ran.code == 0, ran.err  # judged with the work made before the held call
    assert overseer("status", str(task), "--json", "-w", str(workspace)).json()["status"] == "completed"
    assert not (workspace / "deployed.txt").exists()
    assert heard(server, "The developer denied your call Bash: echo deploy >> deployed.txt: not on a Friday.")
    refused = sent_text(server.agent_requests[-1])  # the call's result, as the model read it last
    assert "denied by the developer at breakpoint #1: not on a Friday" in refused
    [point] = overseer("breakpoints", "--json", "-w", str(workspace)).json()["past"]
    assert (point["resolution"]["action"], point["resolution"]["note"]) == ("deny", "not on a Friday")


@pytest.mark.parametrize("answer", [["--allow"], ["--deny", "no"]])
def test_allow_and_deny_answer_only_a_held_call(
    workspace: Path, scripted: Scripted, overseer: Overseer, answer: list[str]
) -> None:
    configure(workspace, {"breakpoints": {"new-area": {"first_attempt_tagged": "risky"}}})
    scripted(honest(workspace))
    task = overseer("do", "--json", "--tag", "risky", "-w", str(workspace), TASK).json()["task_id"]

    ran = overseer("resolve", str(task), *answer, "-w", str(workspace))

    assert ran.code == 2 and "waits on no tool call" in ran.err


def test_a_malformed_tool_rule_stops_the_run_before_any_attempt(workspace: Path, overseer: Overseer) -> None:
    configure(workspace, {"breakpoints": {"deploy": {"tool": "Bash(./deploy.sh"}}})

    ran = overseer("do", "-w", str(workspace), TASK)

    assert ran.code == 2 and "tool 'Bash(./deploy.sh' is not Name or Name(glob)" in ran.err
    assert overseer("status", "--json", "-w", str(workspace)).json()["tasks"] == []
