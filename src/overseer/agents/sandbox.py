"""The walls around an attempt: what it may write, read and reach, and the OS sandbox that holds them.

`Boundary` is the one definition of those walls. Two layers read it: the tool guard checks each file
tool's path against it, and `claude_settings` renders it into Claude Code's own `sandbox` settings,
which run every Bash command under bubblewrap (Linux) or Seatbelt (macOS): only the workspace and the
attempt's temp directory are writable, the user's home and the workspace's neighbours are hidden, and
the network is closed except for the allowed domains. A regular expression cannot keep up with a
shell; a mount namespace can. See docs/security.md.

Without a working sandbox nothing runs (`check_available` raises), unless the user turned it off.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overseer.errors import ConfigError

# Toolchains that commonly live in the home directory and hold no secrets: without them a hidden home
# would leave the agent with other interpreters than the user's (pyenv, uv, rustup, nvm...).
DEFAULT_READABLE: tuple[str, ...] = (
    "~/.pyenv",
    "~/.local/bin",
    "~/.local/lib",
    "~/.local/share/uv",
    "~/.cargo/bin",
    "~/.rustup",
    "~/.nvm",
)
# The agent's own model credentials: its process talks to the model, its shell commands never need to.
MODEL_CREDENTIALS: tuple[str, ...] = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
)
OPT_OUT = "set agent.options.sandbox: off to run without one (docs/security.md says what that costs)"
_PROBE_TIMEOUT_S = 10
# The probe Claude Code itself runs before it trusts bubblewrap: a user and a network namespace.
_BWRAP_PROBE = ("--unshare-user", "--unshare-net", "--dev-bind", "/", "/", "true")


@dataclass(frozen=True)
class Boundary:
    """What one attempt may write, read and reach. Paths are absolute and resolved.

    Writable: the workspace and the attempt's temp directory, less the `protected` paths (overseer's
    own state: the store and the snapshots the judge compares). Readable: everything except what lies
    under a `hidden` root, unless it is also under a `readable` one. Reachable: `allowed_domains`,
    or any host when that is None (no sandbox, so nothing closes the network).
    """

    workspace: Path
    home: Path
    temp_dir: Path | None = None
    hidden: tuple[Path, ...] = ()
    readable: tuple[Path, ...] = ()
    allowed_domains: tuple[str, ...] | None = None
    protected: tuple[Path, ...] = ()

    @classmethod
    def around(
        cls,
        workspace: Path,
        *,
        home: Path,
        temp_dir: Path | None = None,
        readable: Iterable[str] = (),
        allowed_domains: Sequence[str] | None = None,
        protected: Iterable[Path] = (),
    ) -> Boundary:
        """Hide the home directory and the workspace's parent; open the workspace, the temp dir and `readable`."""
        workspace, home = workspace.resolve(), home.resolve()
        temp = temp_dir.resolve() if temp_dir else None
        hidden = tuple(root for root in dict.fromkeys((home, workspace.parent)) if _may_hide(root, workspace))
        extra = (resolve_path(raw, workspace, home) for raw in readable)
        opened = (workspace, *([temp] if temp else []), *(path for path in extra if path.exists()))
        domains = tuple(allowed_domains) if allowed_domains is not None else None
        kept = tuple(path.resolve() for path in protected)
        return cls(workspace, home, temp, hidden, tuple(dict.fromkeys(opened)), domains, kept)

    @property
    def writable(self) -> tuple[Path, ...]:
        return (self.workspace, self.temp_dir) if self.temp_dir else (self.workspace,)

    def may_write(self, path: Path) -> bool:
        return any(path.is_relative_to(root) for root in self.writable) and self.protecting(path) is None

    def protecting(self, path: Path) -> Path | None:
        """The protected path that keeps `path` from being written, or None."""
        return next((root for root in self.protected if path.is_relative_to(root)), None)

    def may_read(self, path: Path) -> bool:
        return self.hiding(path) is None

    def hiding(self, path: Path) -> Path | None:
        """The hidden root that keeps `path` from being read, or None when it is readable."""
        if any(path.is_relative_to(root) for root in self.readable):
            return None
        return next((root for root in self.hidden if path.is_relative_to(root)), None)

    def may_reach(self, host: str) -> bool:
        if self.allowed_domains is None:
            return True
        host = host.lower().rstrip(".")
        return any(_domain_matches(host, pattern.lower()) for pattern in self.allowed_domains)


def resolve_path(raw: str, cwd: Path, home: Path) -> Path:
    """Where a path the agent names really lands: `~` and `$HOME` expanded, relative to `cwd`,
    `..` collapsed and symlinks followed (as far as they exist)."""
    text = raw.strip()
    for prefix in ("${HOME}", "$HOME", "~"):
        if text == prefix or text.startswith(prefix + "/"):
            text = str(home) + text[len(prefix) :]
            break
    else:
        text = os.path.expanduser(text)  # ~user
    path = Path(text)
    return (path if path.is_absolute() else cwd / path).resolve()


def claude_settings(boundary: Boundary, *, sandboxed: bool) -> dict[str, Any]:
    """Claude Code settings (the `--settings` layer) that hold `boundary`.

    The file tools run in the CLI itself, outside the sandbox: `blockWritesOutsideWorkingDirectories`
    makes the CLI refuse their writes outside the working directories even when the guard allowed them.
    """
    settings: dict[str, Any] = {"permissions": {"blockWritesOutsideWorkingDirectories": True}}
    if sandboxed:
        settings["sandbox"] = {
            "enabled": True,
            "failIfUnavailable": True,  # the CLI refuses to start rather than run commands unconfined
            "allowUnsandboxedCommands": False,  # the model cannot ask its way out (dangerouslyDisableSandbox)
            "excludedCommands": [],
            "network": {"allowedDomains": list(boundary.allowed_domains or ())},
            "filesystem": {
                "allowWrite": [str(path) for path in boundary.writable],
                "denyWrite": [str(path) for path in boundary.protected],  # wins over allowWrite
                "denyRead": [str(path) for path in boundary.hidden],
                "allowRead": [str(path) for path in boundary.readable],
            },
            "credentials": {"envVars": [{"name": name, "mode": "deny"} for name in MODEL_CREDENTIALS]},  # unset
        }
    return settings


def sandbox_event(boundary: Boundary, *, sandboxed: bool) -> dict[str, Any]:
    """What the `sandbox` event records on every attempt: whether the sandbox applied, and its walls."""
    if not sandboxed:
        return {"enabled": False, "reason": "agent.options.sandbox is off", "temp_dir": str(boundary.temp_dir)}
    return {
        "enabled": True,
        "writable": [str(path) for path in boundary.writable],
        "protected": [str(path) for path in boundary.protected],
        "hidden": [str(path) for path in boundary.hidden],
        "readable": [str(path) for path in boundary.readable],
        "allowed_domains": list(boundary.allowed_domains or ()),
        "temp_dir": str(boundary.temp_dir),
    }


def check_available(path_env: str | None, *, system: str | None = None) -> None:
    """Raise ConfigError, with one line saying why and how to fix it, when the sandbox cannot start."""
    system = system or platform.system()
    if system == "Darwin":
        _require("sandbox-exec", path_env, "macOS's sandbox-exec is missing")
    elif system == "Linux":
        bwrap = _require("bwrap", path_env, "bubblewrap (bwrap) is not installed")
        _require("socat", path_env, "socat is not installed")
        _probe(bwrap, path_env)
    else:
        raise ConfigError(f"the sandbox cannot start: Claude Code has no sandbox on {system}", hint=OPT_OUT)


def _require(program: str, path_env: str | None, why: str) -> str:
    found = shutil.which(program, path=path_env)
    if found is None:
        raise ConfigError(f"the sandbox cannot start: {why}", hint=f"apt-get install bubblewrap socat, or {OPT_OUT}")
    return found


def _probe(bwrap: str, path_env: str | None) -> None:
    """Run what Claude Code runs to test bubblewrap; it fails where user namespaces are off."""
    env = {"PATH": path_env or os.defpath}
    try:
        done = subprocess.run(
            [bwrap, *_BWRAP_PROBE], env=env, capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"the sandbox cannot start: bubblewrap did not run: {exc}", hint=OPT_OUT) from exc
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        hint = (
            "enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu also "
            f"kernel.apparmor_restrict_unprivileged_userns=0), or {OPT_OUT}"
        )
        raise ConfigError(f"the sandbox cannot start: bubblewrap cannot create a user namespace: {why}", hint=hint)


def _may_hide(root: Path, workspace: Path) -> bool:
    """Hiding `/` or the workspace itself (or anything in it) would leave the agent nothing to run."""
    return root != Path(root.anchor) and not root.is_relative_to(workspace)


def _domain_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern
