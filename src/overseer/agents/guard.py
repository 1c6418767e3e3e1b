"""The tool-call guard: which of the agent's tool calls may run. The first of three layers.

Every tool call passes through here (from a PreToolUse hook) before it runs. A file tool's path is
resolved the way the file system will resolve it (relative to the agent's working directory, `~` and
`$HOME` expanded, `..` collapsed, symlinks followed) and checked against the attempt's `Boundary`:
writes must land in the workspace (or the attempt's temp dir), reads must not land in a hidden
directory (the home directory, the workspace's neighbours). Shell commands on the deny list, and
those whose visible targets reach outside, are refused too.

The guard reads command text, and no reader keeps up with a shell (`python -c "open('/tmp/x', 'w')"`),
so it is never the only layer: the OS sandbox contains what Bash really does (`sandbox.py`), and the
after-attempt check (`workspace/outside.py`) looks for what got out anyway.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from overseer.agents.sandbox import Boundary, resolve_path

DEFAULT_DENY_COMMANDS: tuple[str, ...] = (
    r"\bsudo\b",
    r"\brm\s+-[a-zA-Z]*[rf][a-zA-Z]*\s+(/|~|\$HOME)(\s|$)",
    r"\bgit\s+push\b",
    r"\b(curl|wget)\b[^|]*\|\s*(ba|z)?sh\b",
    r"\bmkfs(\.\w+)?\b",
    r":\(\)\s*\{",
)

# Claude Code's tools that only read; any other tool that names a path may write there.
_READ_TOOLS = frozenset({"Read", "Glob", "Grep", "LS", "NotebookRead"})
_GLOB_CHARS = re.compile(r"[*?\[{]")
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
_HOME_PREFIXES = ("/", "~", "$HOME", "${HOME}")


@dataclass(frozen=True)
class GuardDecision:
    allowed: bool
    reason: str = ""


class ToolGuard:
    """Decides each tool call. Without a `boundary`, only the workspace is writable and reads are free."""

    def __init__(
        self,
        workspace: Path,
        deny_commands: Sequence[str] = DEFAULT_DENY_COMMANDS,
        *,
        boundary: Boundary | None = None,
    ) -> None:
        self.boundary = boundary or Boundary(workspace.resolve(), Path.home())
        self.workspace = self.boundary.workspace
        self._deny = [re.compile(pattern) for pattern in deny_commands]

    def check(self, tool: str, tool_input: dict[str, Any]) -> GuardDecision:
        if tool == "Bash":
            return self._check_command(str(tool_input.get("command", "")))
        if tool == "WebFetch":
            return self._check_fetch(str(tool_input.get("url", "")))
        for raw in _path_arguments(tool, tool_input):
            decision = self._check_read(raw) if tool in _READ_TOOLS else self._check_write(raw)
            if not decision.allowed:
                return decision
        return GuardDecision(True)

    def resolve(self, path: str) -> Path:
        """Where `path` lands; the agent's working directory is the workspace."""
        return resolve_path(path, self.workspace, self.boundary.home)

    def _check_write(self, raw: str, what: str = "writes") -> GuardDecision:
        path = self.resolve(raw)
        protected = self.boundary.protecting(path)
        if protected is not None:
            return GuardDecision(False, f"{what} overseer's own state: {raw} resolves to {path}, under {protected}")
        if not self.boundary.may_write(path):
            return GuardDecision(False, f"{what} outside the workspace: {raw} resolves to {path} ({self._walls()})")
        return GuardDecision(True)

    def _check_read(self, raw: str) -> GuardDecision:
        path = self.resolve(raw)
        hidden = self.boundary.hiding(path)
        if hidden is None:
            return GuardDecision(True)
        return GuardDecision(False, f"reads a hidden directory: {raw} resolves to {path}, under {hidden}")

    def _check_fetch(self, url: str) -> GuardDecision:
        host = urlsplit(url).hostname or ""
        if self.boundary.may_reach(host):
            return GuardDecision(True)
        return GuardDecision(False, f"fetches {host or url}, which is not in agent.options.allowed_domains")

    def _check_command(self, command: str) -> GuardDecision:
        for pattern in self._deny:
            if pattern.search(command):
                return GuardDecision(False, f"command matches the deny list ({pattern.pattern}): {command}")
        for target in _command_targets(command):
            decision = self._check_write(target, "command writes")
            if not decision.allowed:
                return decision
        return GuardDecision(True)

    def _walls(self) -> str:
        return "writable: " + ", ".join(str(path) for path in self.boundary.writable)


def _path_arguments(tool: str, tool_input: dict[str, Any]) -> Iterator[str]:
    """The paths a tool call names: `path`, `*_path`, `*_dir`, and the fixed part of a Glob pattern."""
    for key, value in tool_input.items():
        if isinstance(value, str) and value and (key == "path" or key.endswith(("_path", "_dir"))):
            yield value
    pattern = tool_input.get("pattern")
    if tool == "Glob" and isinstance(pattern, str) and pattern.startswith(_HOME_PREFIXES):
        yield _glob_root(pattern)


def _glob_root(pattern: str) -> str:
    """The directory a Glob pattern starts from: `/home/u/.ssh/*` searches `/home/u/.ssh`."""
    fixed = _GLOB_CHARS.split(pattern, maxsplit=1)[0]
    if fixed == pattern:
        return pattern
    return fixed.rsplit("/", 1)[0] or "/"


def _command_targets(command: str) -> list[str]:
    """The paths a command visibly writes to, changes into or redirects to (relative ones are taken
    from the workspace: the guard does not follow the shell's `cd`)."""
    targets = [m.group(1).strip("'\"") for m in _REDIRECT.finditer(command)]
    for segment in re.split(r"&&|\|\||;|\|", command):
        try:
            words = shlex.split(segment)
        except ValueError:  # unbalanced quotes: judge what we can see
            words = segment.split()
        if words and os.path.basename(words[0]) in _WRITING_COMMANDS:
            targets.extend(w for w in words[1:] if not w.startswith("-"))
    return [t for t in targets if t not in _HARMLESS_TARGETS]
