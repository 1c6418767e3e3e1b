"""Tool calls that wait for a developer: breakpoint `tool:` rules, and the developer's answers.

A rule is a tool's name (`WebFetch`: every call of it) or a name with a glob (`Bash(git push*)`,
`Write(*.lock)`). The glob is matched (fnmatch, `*` crossing `/`) against the call's main argument:

    Bash                               the command, and each simple command in it (`cd app && git push`)
    Write, Edit, MultiEdit, Read       the file's path: as written, absolute, and workspace-relative
    NotebookEdit                       the notebook's path, the same three ways
    WebFetch                           the URL
    any other tool                     the JSON of its input

A matching call is deferred (agents/claude_code.py): the run ends with the call pending, and the
developer answers with `overseer resolve --allow` or `--deny REASON`. The session then resumes and
is told the answer; the hook lets that same call through once, or keeps refusing it with the reason.
"That same call" is the CLI's replay of the pending call when the resumed CLI has our hook in time,
or else the agent's own repeat of it: the CLI may replay it before the SDK has registered the hook
(anthropics/claude-agent-sdk-python#993), and then refuses it itself, so the agent is told to make
the call again if it has not run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from overseer.agents.sandbox import resolve_path
from overseer.agents.shell import simple_commands
from overseer.errors import ConfigError
from overseer.text import clip

_RULE = re.compile(r"^(?P<tool>[A-Za-z_][\w.-]*)(?:\((?P<glob>.+)\))?$", re.DOTALL)
_MAIN_KEY = {
    "Bash": "command",
    "WebFetch": "url",
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "Read": "file_path",
    "NotebookEdit": "notebook_path",
}
_PATH_TOOLS = frozenset(tool for tool, key in _MAIN_KEY.items() if key.endswith("_path"))
_COSMETIC = frozenset({"description"})  # what a model rewrites when it makes the same call again
_SHOWN = 200  # characters of a call's argument shown in a brief or a prompt


@dataclass(frozen=True)
class ToolRule:
    tool: str
    glob: str | None = None  # None: every call of the tool

    @classmethod
    def parse(cls, pattern: str) -> ToolRule:
        match = _RULE.match(pattern.strip())
        if match is None:
            raise ConfigError(
                f"invalid configuration: breakpoints: tool {pattern!r} is not Name or Name(glob)",
                hint='e.g. tool: "Bash(git push*)", "Write(*.lock)" or "WebFetch"',
            )
        return cls(match["tool"], match["glob"])

    def matches(self, tool: str, tool_input: Mapping[str, Any], workspace: Path) -> bool:
        if tool != self.tool:
            return False
        glob = self.glob
        return glob is None or any(fnmatchcase(text, glob) for text in arguments(tool, tool_input, workspace))


class ToolRules:
    """The user's tool rules by name, in config order; the first that matches a call names it."""

    def __init__(self, patterns: Mapping[str, str]) -> None:
        self.rules = {name: ToolRule.parse(pattern) for name, pattern in patterns.items()}

    def first(self, tool: str, tool_input: Mapping[str, Any], workspace: Path) -> str | None:
        return next((name for name, rule in self.rules.items() if rule.matches(tool, tool_input, workspace)), None)


@dataclass(frozen=True)
class AnsweredCall:
    """A deferred call and the developer's answer to it (`overseer resolve --allow | --deny REASON`)."""

    tool: str
    input: dict[str, Any]
    allowed: bool
    reason: str = ""  # why it was denied
    breakpoint: int = 0  # the breakpoint it answered

    def same(self, tool: str, tool_input: Mapping[str, Any]) -> bool:
        """Whether a call is this one made again: same tool, same input, whatever its description says."""
        return tool == self.tool and _essential(tool_input) == _essential(self.input)

    @property
    def hook_reason(self) -> str:
        """What the hook tells the CLI (and so the model) about the call."""
        if self.allowed:
            return f"allowed by the developer at breakpoint #{self.breakpoint}"
        return f"denied by the developer at breakpoint #{self.breakpoint}: {self.reason}"

    @property
    def note(self) -> str:
        """What the resumed session is told first."""
        call = f"{self.tool}: {main_argument(self.tool, self.input)}"
        if self.allowed:
            return f"The developer allowed your call {call}. If it has not run yet, make it again now; then carry on."
        return f"The developer denied your call {call}: {self.reason}. Do not make it; carry on without it."


class Answers:
    """The answered calls one run may meet: an allowed one goes through once, a denied one never."""

    def __init__(self, answered: Sequence[AnsweredCall]) -> None:
        self._waiting = list(answered)

    def take(self, tool: str, tool_input: Mapping[str, Any]) -> AnsweredCall | None:
        answer = next((a for a in self._waiting if a.same(tool, tool_input)), None)
        if answer is not None and answer.allowed:
            self._waiting.remove(answer)
        return answer


def main_argument(tool: str, tool_input: Mapping[str, Any]) -> str:
    """The argument a person reads a call by: the command, the path, the URL, else the input's JSON."""
    key = _MAIN_KEY.get(tool)
    value = tool_input.get(key) if key else None
    text = value if isinstance(value, str) else json.dumps(dict(tool_input), sort_keys=True, default=str)
    return clip(text, _SHOWN)


def described(tool: str, tool_input: Mapping[str, Any]) -> str:
    """`Bash(git push origin main)`, in the rules' own syntax."""
    return f"{tool}({main_argument(tool, tool_input)})"


def arguments(tool: str, tool_input: Mapping[str, Any], workspace: Path) -> list[str]:
    """Every text a rule's glob may match for this call (see the module's table)."""
    key = _MAIN_KEY.get(tool)
    value = tool_input.get(key) if key else None
    if not isinstance(value, str):
        return [json.dumps(dict(tool_input), sort_keys=True, default=str)]
    if tool == "Bash":
        return [value, *simple_commands(value)]
    if tool in _PATH_TOOLS:
        return list(dict.fromkeys(_path_forms(value, workspace)))
    return [value]


def _path_forms(raw: str, workspace: Path) -> Iterator[str]:
    yield raw
    workspace = workspace.resolve()
    path = resolve_path(raw, workspace, Path.home())
    yield str(path)
    if path.is_relative_to(workspace):
        yield path.relative_to(workspace).as_posix()


def _essential(tool_input: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in tool_input.items() if key not in _COSMETIC}
