"""The permission arbiter: what may run of each class of shell command (`shell.py` says the class).

Each part of a command gets its class's policy (`agent.options.commands`); the command's decision is
the strictest of its parts' (a deny anywhere denies the whole line), and it is recorded under the
strictest class with that part's reason. The policies:

    allow / deny   as said
    sandboxed      allow when Bash runs in the OS sandbox (which contains its writes and admits only
                   `allowed_domains` to the network), deny when the sandbox is off
    model          (unknown commands only) ask the supervisor LLM for a risk call when a trusted model
                   is configured (trust >= 0.5); without one, or when it gives no usable answer,
                   `sandboxed` is the conservative default

Discarding git work is never allowed automatically: the only policy for `git_discard` is deny. A human
could allow it case by case once overseer's breakpoints exist (issue 10); until then the agent is told
to leave it to the user.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from overseer.agents.shell import Part, rank
from overseer.errors import SupervisorError
from overseer.llm.base import LLM
from overseer.text import clip

logger = logging.getLogger(__name__)
Action = Literal["allow", "deny", "sandboxed"]
MAX_RISK_REASON = 80
_GIT_DISCARD_REASON = (
    "discarding git work is never allowed automatically; leave it to the user "
    "(overseer cannot yet ask a human mid-attempt)"
)


class CommandPolicy(BaseModel):
    """`agent.options.commands`: what happens to each class of shell command (see shell.py)."""

    model_config = ConfigDict(extra="forbid")

    read_only: Action = "allow"
    execute: Action = "allow"
    workspace_write: Action = "allow"
    delete: Action = "allow"  # one file at a time; the attempt's checkpoint can restore it
    network: Action = "sandboxed"  # the sandbox's proxy admits only allowed_domains
    install: Action = "deny"
    publish: Action = "deny"
    recursive_delete: Action = "deny"  # a whole tree, ignored files (not in any checkpoint) included
    system: Action = "deny"
    git_discard: Literal["deny"] = "deny"
    unknown: Literal["model", "allow", "deny", "sandboxed"] = "model"


@dataclass(frozen=True)
class Ruling:
    allowed: bool
    category: str
    reason: str


RISK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "risk": {"type": "string", "enum": ["low", "high"]},
        "reason": {"type": "string", "maxLength": MAX_RISK_REASON},
    },
    "required": ["risk", "reason"],
    "additionalProperties": False,
}
_RISK_SYSTEM = (
    "You guard a coding agent's shell. The agent works on a software project in its workspace "
    "directory. Judge one shell command it wants to run. Answer risk 'low' when it only reads, "
    "builds, tests or edits files inside the workspace; 'high' when it could delete or overwrite "
    "work, change the machine outside the workspace, reach the network, install software, or you "
    "cannot tell what it does. Give a short reason."
)


class CommandRisk:
    """The supervisor LLM's risk call on a command no rule names. Given only a trusted model (runtime.py)."""

    def __init__(self, llm: LLM) -> None:
        self._llm = llm

    def judge(self, command: str, parts: Sequence[Part]) -> Ruling | None:
        """Allowed when the model says "low"; None when it gives no usable answer."""
        unknown = "\n".join(f"- {part.reason}" for part in parts)
        user = f"Command:\n{clip(command, 2000)}\n\nParts no rule covers:\n{unknown}"
        try:
            answer = self._llm.complete_json(_RISK_SYSTEM, user, RISK_SCHEMA)
        except SupervisorError as exc:
            logger.warning("the supervisor model gave no risk call on %r: %s", clip(command, 200), exc)
            return None
        risk, reason = answer.get("risk"), clip(str(answer.get("reason", "")), MAX_RISK_REASON)
        if risk not in ("low", "high"):
            logger.warning("the supervisor model's risk call is out of its schema: %r", clip(str(answer), 200))
            return None
        verdict = "allowed" if risk == "low" else "denied"
        return Ruling(
            risk == "low",
            "unknown",
            f"{parts[0].reason}; the supervisor model judged it {risk} risk, {verdict}: {reason}",
        )


class Arbiter:
    """Decides a command from its parts. `sandboxed`: Bash runs in the OS sandbox."""

    def __init__(
        self, policy: CommandPolicy | None = None, *, sandboxed: bool = True, risk: CommandRisk | None = None
    ) -> None:
        self.policy = policy or CommandPolicy()
        self.sandboxed = sandboxed
        self.risk = risk
        self._asked: dict[str, Ruling | None] = {}  # one risk call per command text in a run

    def decide(self, command: str, parts: Sequence[Part]) -> Ruling:
        actions = [(part, self._action(part)) for part in parts]
        denied = [part for part, action in actions if action == "deny"]
        if denied:
            return self._denied(max(denied, key=lambda part: rank(part.category)))
        asked = [part for part, action in actions if action == "model"]
        if asked:
            return self._ask(command, asked)
        worst = max(parts, key=lambda part: rank(part.category))
        if getattr(self.policy, worst.category) in ("sandboxed", "model"):
            return Ruling(True, worst.category, f"{worst.reason}; allowed because Bash runs in the OS sandbox")
        return Ruling(True, worst.category, worst.reason)

    def _action(self, part: Part) -> str:
        action: str = getattr(self.policy, part.category)
        if action == "model" and self.risk is None:
            action = "sandboxed"
        if action == "sandboxed":
            return "allow" if self.sandboxed else "deny"
        return action

    def _denied(self, part: Part) -> Ruling:
        if part.category == "git_discard":
            return Ruling(False, part.category, f"{part.reason}: {_GIT_DISCARD_REASON}")
        setting = f"agent.options.commands.{part.category}"
        if getattr(self.policy, part.category) in ("sandboxed", "model") and not self.sandboxed:
            return Ruling(False, part.category, f"{part.reason}: denied because the OS sandbox is off ({setting})")
        return Ruling(False, part.category, f"{part.reason}: {part.category} commands are denied ({setting})")

    def _ask(self, command: str, parts: Sequence[Part]) -> Ruling:
        assert self.risk is not None  # _action asks only when there is a model
        if command not in self._asked:
            self._asked[command] = self.risk.judge(command, parts)
        ruling = self._asked[command]
        if ruling is not None:
            return ruling
        fallback = "allowed: Bash runs in the OS sandbox" if self.sandboxed else "denied: the OS sandbox is off"
        return Ruling(
            self.sandboxed, "unknown", f"{parts[0].reason}; the supervisor model gave no risk call, {fallback}"
        )
