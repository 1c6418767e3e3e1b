"""The tool-call guard: which of the agent's tool calls may run. The first of three layers.

Every tool call passes through here (from a PreToolUse hook) before it runs. A file tool's path is
resolved the way the file system will resolve it (relative to the agent's working directory, `~` and
`$HOME` expanded, `..` collapsed, symlinks followed) and checked against the attempt's `Boundary`:
writes must land in the workspace (or the attempt's temp dir), reads must not land in a hidden
directory (the home directory, the workspace's neighbours). A shell command is parsed and each of its
parts classified (`shell.py`); a part whose visible targets reach outside is refused, the user's own
deny patterns (`agent.options.deny_commands`, regular expressions) are refused, and the rest is the
permission arbiter's to decide by class (`arbiter.py`). Every decision carries its class and reason.

The guard reads command text, and no reader keeps up with a shell (`python -c "open('/tmp/x', 'w')"`),
so it is never the only layer: the OS sandbox contains what Bash really does (`sandbox.py`), and the
after-attempt check (`workspace/outside.py`) looks for what got out anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from overseer.agents.arbiter import Arbiter
from overseer.agents.sandbox import Boundary, resolve_path
from overseer.agents.shell import classify

# Claude Code's tools that only read; any other tool that names a path may write there.
_READ_TOOLS = frozenset({"Read", "Glob", "Grep", "LS", "NotebookRead"})
_GLOB_CHARS = re.compile(r"[*?\[{]")
_HOME_PREFIXES = ("/", "~", "$HOME", "${HOME}")


@dataclass(frozen=True)
class GuardDecision:
    allowed: bool
    reason: str = ""
    category: str = ""  # the command's class (shell.py), or the kind of file access; "deny_list" for a pattern


class ToolGuard:
    """Decides each tool call. Without a `boundary`, only the workspace is writable and reads are free."""

    def __init__(
        self,
        workspace: Path,
        deny_commands: Sequence[str] = (),
        *,
        boundary: Boundary | None = None,
        arbiter: Arbiter | None = None,
    ) -> None:
        """`deny_commands`: the user's own patterns, refused on top of the arbiter's classes."""
        self.boundary = boundary or Boundary(workspace.resolve(), Path.home())
        self.workspace = self.boundary.workspace
        self._deny = [re.compile(pattern) for pattern in deny_commands]
        self.arbiter = arbiter or Arbiter()

    def check(self, tool: str, tool_input: dict[str, Any]) -> GuardDecision:
        if tool == "Bash":
            return self._check_command(str(tool_input.get("command", "")))
        if tool == "WebFetch":
            return self._check_fetch(str(tool_input.get("url", "")))
        paths = list(_path_arguments(tool, tool_input))
        for raw in paths:
            decision = self._check_read(raw) if tool in _READ_TOOLS else self._check_write(raw)
            if not decision.allowed:
                return decision
        if not paths:
            return GuardDecision(True)
        return GuardDecision(True, category="read_only" if tool in _READ_TOOLS else "workspace_write")

    def resolve(self, path: str) -> Path:
        """Where `path` lands; the agent's working directory is the workspace."""
        return resolve_path(path, self.workspace, self.boundary.home)

    def _check_write(self, raw: str, what: str = "writes", category: str = "workspace_write") -> GuardDecision:
        try:
            path = self.resolve(raw)
        except (ValueError, OSError) as exc:  # a NUL byte, a name too long: nothing to write to, and not ours to guess
            return GuardDecision(False, f"{what} a path that cannot be resolved ({exc}): {raw!r}", category)
        protected = self.boundary.protecting(path)
        if protected is not None:
            reason = f"{what} overseer's own state: {raw} resolves to {path}, under {protected}"
            return GuardDecision(False, reason, category)
        if not self.boundary.may_write(path):
            reason = f"{what} outside the workspace: {raw} resolves to {path} ({self._walls()})"
            return GuardDecision(False, reason, category)
        return GuardDecision(True, category=category)

    def _check_read(self, raw: str) -> GuardDecision:
        try:
            path = self.resolve(raw)
        except (ValueError, OSError) as exc:
            return GuardDecision(False, f"reads a path that cannot be resolved ({exc}): {raw!r}", "read_only")
        hidden = self.boundary.hiding(path)
        if hidden is None:
            return GuardDecision(True)
        return GuardDecision(False, f"reads a hidden directory: {raw} resolves to {path}, under {hidden}", "read_only")

    def _check_fetch(self, url: str) -> GuardDecision:
        host = urlsplit(url).hostname or ""
        if self.boundary.may_reach(host):
            return GuardDecision(True, category="network")
        return GuardDecision(False, f"fetches {host or url}, which is not in agent.options.allowed_domains", "network")

    def _check_command(self, command: str) -> GuardDecision:
        """Visible targets outside first (the most specific reason), then the user's patterns, then the class."""
        parts = classify(command, self.workspace)
        for part in parts:
            for target in part.writes:
                decision = self._check_write(target, "command writes", part.category)
                if not decision.allowed:
                    return decision
        for pattern in self._deny:
            if pattern.search(command):
                return GuardDecision(
                    False, f"command matches deny_commands ({pattern.pattern}): {command}", "deny_list"
                )
        ruling = self.arbiter.decide(command, parts)
        return GuardDecision(ruling.allowed, ruling.reason, ruling.category)

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
