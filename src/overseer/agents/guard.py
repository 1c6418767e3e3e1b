"""The tool-call guard: which of the agent's tool calls may run.

Every tool call passes through here (from a PreToolUse hook) before it runs. Writes outside the
workspace and shell commands on the deny list are refused. This is a guard, not a sandbox: a
determined shell command can still reach outside (`python -c ...`); the guard catches the plain
cases and records every call, and the checkpoint shows what changed inside.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DENY_COMMANDS: tuple[str, ...] = (
    r"\bsudo\b",
    r"\brm\s+-[a-zA-Z]*[rf][a-zA-Z]*\s+(/|~|\$HOME)(\s|$)",
    r"\bgit\s+push\b",
    r"\b(curl|wget)\b[^|]*\|\s*(ba|z)?sh\b",
    r"\bmkfs(\.\w+)?\b",
    r":\(\)\s*\{",
)

# Tools whose input names a file they will write.
_WRITE_TOOLS = {
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
}
# Shell commands whose path arguments they write to (or change directory into).
_WRITING_COMMANDS = {
    "cd",
    "cp",
    "mv",
    "rm",
    "rmdir",
    "touch",
    "mkdir",
    "tee",
    "ln",
    "chmod",
    "chown",
    "install",
}
_HARMLESS_TARGETS = {"/dev/null", "/dev/stdout", "/dev/stderr"}
_REDIRECT = re.compile(r"(?:^|[^<\d&])\d?>>?\s*([^\s;&|]+)")


@dataclass(frozen=True)
class GuardDecision:
    allowed: bool
    reason: str = ""


class ToolGuard:
    def __init__(self, workspace: Path, deny_commands: Sequence[str] = DEFAULT_DENY_COMMANDS) -> None:
        self.workspace = workspace.resolve()
        self._deny = [re.compile(pattern) for pattern in deny_commands]

    def check(self, tool: str, tool_input: dict[str, Any]) -> GuardDecision:
        if tool in _WRITE_TOOLS:
            return self._check_write(str(tool_input.get(_WRITE_TOOLS[tool], "")))
        if tool == "Bash":
            return self._check_command(str(tool_input.get("command", "")))
        return GuardDecision(True)

    def inside(self, path: str) -> bool:
        candidate = Path(os.path.expanduser(path))
        if not candidate.is_absolute():
            candidate = self.workspace / candidate
        resolved = candidate.resolve()
        return resolved == self.workspace or self.workspace in resolved.parents

    def _check_write(self, path: str) -> GuardDecision:
        if not path or self.inside(path):
            return GuardDecision(True)
        return GuardDecision(False, f"writes outside the workspace: {path} (the workspace is {self.workspace})")

    def _check_command(self, command: str) -> GuardDecision:
        for pattern in self._deny:
            if pattern.search(command):
                return GuardDecision(False, f"command matches the deny list ({pattern.pattern}): {command}")
        for target in _outside_targets(command):
            if not self.inside(target):
                return GuardDecision(False, f"command writes or moves outside the workspace: {target}")
        return GuardDecision(True)


def _outside_targets(command: str) -> list[str]:
    """Absolute (or ~) paths the command writes to, changes into, or redirects output to."""
    targets = [m.group(1) for m in _REDIRECT.finditer(command)]
    for segment in re.split(r"&&|\|\||;|\|", command):
        try:
            words = shlex.split(segment)
        except ValueError:  # unbalanced quotes: judge what we can see
            words = segment.split()
        if words and os.path.basename(words[0]) in _WRITING_COMMANDS:
            targets.extend(w for w in words[1:] if not w.startswith("-"))
    return [t for t in targets if t.startswith(("/", "~")) and t not in _HARMLESS_TARGETS]
