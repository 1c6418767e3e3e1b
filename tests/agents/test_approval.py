"""Tool rules: which calls wait for the developer, and how an answered call is known again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from overseer.agents.approval import AnsweredCall, Answers, ToolRule, ToolRules, described
from overseer.agents.shell import simple_commands
from overseer.errors import ConfigError

WORKSPACE = Path("/srv/project")


@pytest.mark.parametrize(
    ("pattern", "tool", "tool_input", "matches"),
    [
        ("Bash(git push*)", "Bash", {"command": "git push origin main"}, True),
        ("Bash(git push*)", "Bash", {"command": "cd app && git push --tags"}, True),
        ("Bash(git push*)", "Bash", {"command": "GIT_TRACE=1 git push"}, True),
        ("Bash(git push*)", "Bash", {"command": "bash -c 'git fetch; git push'"}, True),
        ("Bash(git push*)", "Bash", {"command": "for r in a b; do git push $r; done"}, True),
        ("Bash(git push*)", "Bash", {"command": "case $x in a) git push;; esac"}, True),  # unparsed: split
        ("Bash(git push*)", "Bash", {"command": "git status && git log"}, False),
        ("Bash(git push*)", "Bash", {"command": "echo 'do not git push'"}, False),
        ("Bash(git push*)", "Read", {"file_path": "git push"}, False),  # another tool
        ("Write(*.lock)", "Write", {"file_path": "/srv/project/poetry.lock", "content": ""}, True),
        ("Write(*.lock)", "Write", {"file_path": "sub/Cargo.lock", "content": ""}, True),
        ("Write(*.lock)", "Edit", {"file_path": "/srv/project/poetry.lock"}, False),
        ("Write(src/*.py)", "Write", {"file_path": "/srv/project/src/a.py", "content": ""}, True),  # relative form
        ("Write(/srv/project/src/*)", "Write", {"file_path": "src/a.py", "content": ""}, True),  # absolute form
        ("Write(src/*.py)", "Write", {"file_path": "/elsewhere/src/a.py", "content": ""}, False),
        ("NotebookEdit(*.ipynb)", "NotebookEdit", {"notebook_path": "/srv/project/n.ipynb"}, True),
        ("WebFetch", "WebFetch", {"url": "https://example.com", "prompt": "read"}, True),
        ("WebFetch(https://internal.*)", "WebFetch", {"url": "https://example.com", "prompt": "read"}, False),
        ("mcp__db__query(*DROP*)", "mcp__db__query", {"sql": "DROP TABLE users"}, True),  # the input's JSON
    ],
)
def test_a_rule_matches_the_calls_main_argument(
    pattern: str, tool: str, tool_input: dict[str, Any], matches: bool
) -> None:
    assert ToolRule.parse(pattern).matches(tool, tool_input, WORKSPACE) is matches


@pytest.mark.parametrize("pattern", ["", "Bash(git push", "Bash git push", "(x)"])
def test_a_malformed_rule_is_a_config_error(pattern: str) -> None:
    with pytest.raises(ConfigError, match="Name or Name\\(glob\\)"):
        ToolRule.parse(pattern)


def test_the_first_rule_in_config_order_names_the_call() -> None:
    rules = ToolRules({"deploy": "Bash(./deploy*)", "anything": "Bash", "locks": "Write(*.lock)"})

    assert rules.first("Bash", {"command": "./deploy.sh prod"}, WORKSPACE) == "deploy"
    assert rules.first("Bash", {"command": "ls"}, WORKSPACE) == "anything"
    assert rules.first("Edit", {"file_path": "a.lock"}, WORKSPACE) is None


def test_simple_commands_start_at_the_program() -> None:
    assert simple_commands("A=1 make deploy > log.txt && echo $(date)") == [
        "make deploy > log.txt",
        "echo $(date)",
        "date",
    ]


def test_an_allowed_call_goes_through_once_and_a_denied_one_never() -> None:
    push = {"command": "git push", "description": "Push the branch"}
    answers = Answers(
        [
            AnsweredCall("Bash", push, allowed=True, breakpoint=3),
            AnsweredCall("Write", {"file_path": "a.lock", "content": "x"}, allowed=False, reason="no", breakpoint=4),
        ]
    )

    again = answers.take("Bash", {"command": "git push", "description": "Push it again"})  # reworded: the same call
    assert again is not None and again.allowed and again.hook_reason == "allowed by the developer at breakpoint #3"
    assert answers.take("Bash", push) is None  # once
    assert answers.take("Bash", {"command": "git push --force"}) is None  # another call
    for _ in range(2):
        denied = answers.take("Write", {"file_path": "a.lock", "content": "x"})
        assert denied is not None and denied.hook_reason == "denied by the developer at breakpoint #4: no"
    assert answers.take("Write", {"file_path": "a.lock", "content": "y"}) is None  # other content: not that call


def test_the_resumed_session_is_told_the_answer() -> None:
    call = {"command": "git push origin main"}
    allowed = AnsweredCall("Bash", call, allowed=True, breakpoint=1)
    denied = AnsweredCall("Bash", call, allowed=False, reason="not on a Friday", breakpoint=1)

    assert allowed.note == (
        "The developer allowed your call Bash: git push origin main. If it has not run yet, make it again now;"
        " then carry on."
    )
    assert denied.note == (
        "The developer denied your call Bash: git push origin main: not on a Friday."
        " Do not make it; carry on without it."
    )
    assert described("Bash", call) == "Bash(git push origin main)"
    assert described("mcp__x__y", {"b": 1, "a": 2}) == 'mcp__x__y({"a": 2, "b": 1})'


def test_the_claude_agents_can_hold_a_call_back() -> None:
    from overseer.agents.aider import AiderAgent
    from overseer.agents.base import StopsForApproval
    from overseer.agents.claude_code import ClaudeCodeAgent
    from overseer.agents.claude_docker import ClaudeDockerAgent

    assert issubclass(ClaudeCodeAgent, StopsForApproval) and issubclass(ClaudeDockerAgent, StopsForApproval)
    assert not issubclass(AiderAgent, StopsForApproval)  # its tool rules do nothing


def test_the_hook_holds_a_matching_call_and_answers_an_answered_one(tmp_path: Path) -> None:
    """The Claude agent's PreToolUse hook itself, with the real guard: what the CLI is told for each call."""
    import asyncio
    from typing import cast

    from claude_agent_sdk.types import HookContext, HookInput

    from overseer.agents.claude_code import _Run
    from overseer.agents.guard import ToolGuard
    from overseer.agents.honesty import TOOL_NAMES

    honest = next(iter(TOOL_NAMES))
    rules = ToolRules({"deploy": "Bash(./deploy*)", "own": honest})
    allowed = AnsweredCall("Bash", {"command": "./deploy.sh"}, allowed=True, breakpoint=2)
    run = _Run(ToolGuard(tmp_path), lambda _event: None, rules=rules, answered=(allowed,))

    def decide(tool: str, tool_input: dict[str, Any], tool_use_id: str) -> tuple[str, str]:
        data = cast(HookInput, {"hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": tool_input})
        output = asyncio.run(run.pre_tool_use(data, tool_use_id, cast(HookContext, {"signal": None})))
        specific = output["hookSpecificOutput"]
        return specific["permissionDecision"], specific["permissionDecisionReason"]  # type: ignore[typeddict-item]

    assert decide("Bash", {"command": "./deploy.sh"}, "t1") == ("allow", "allowed by the developer at breakpoint #2")
    assert decide("Bash", {"command": "./deploy.sh"}, "t2") == ("defer", "waits for the developer (breakpoint deploy)")
    assert decide(honest, {"text": "a test contradicts the spec"}, "t3")[0] == "allow"  # overseer's own: never held
    assert decide("Bash", {"command": "ls"}, "t4")[0] == "allow"  # no rule: the guard's call
    assert run.deferred == {"t2": "deploy"}
