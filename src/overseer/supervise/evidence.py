"""The judge's input (`Evidence`) and output (`Verdict`), and the findings in between.

One immutable Evidence record goes in, one Verdict comes out; each stage adds findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from overseer.agents.base import AgentResult


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    BLOCKING = "blocking"  # the attempt must not proceed


class Decision(StrEnum):
    PROCEED = "proceed"
    RETRY = "retry"
    CLARIFY = "clarify"  # the agent asked a question only a human can answer
    ESCALATE = "escalate"  # stop for a human


@dataclass(frozen=True)
class Finding:
    stage: str  # validate | gates | review
    code: str  # machine-readable, e.g. "false_claim", "tests_failed"
    severity: Severity
    message: str  # concrete enough to be sent back to the agent as feedback


@dataclass(frozen=True)
class FileChange:
    path: str  # relative to the workspace, with forward slashes
    kind: str  # added | modified | deleted
    sha_before: str | None  # git blob hashes of the content
    sha_after: str | None


@dataclass(frozen=True)
class Evidence:
    task: str
    attempt: int
    workspace: Path
    result: AgentResult
    changes: tuple[FileChange, ...] = ()
    diff: str = ""
    timed_out: str = ""  # "wall" or "silence" when overseer stopped the agent

    @property
    def cut_short(self) -> bool:
        """The agent's run ended in an error or was stopped: there is no work to judge."""
        return self.result.is_error or bool(self.timed_out)

    @property
    def changed_paths(self) -> tuple[str, ...]:
        return tuple(change.path for change in self.changes)


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool | None  # None: the gate did not apply (no Python files, no tests)
    summary: str
    output: str = ""
    passed_count: int = 0
    failed_count: int = 0


@dataclass(frozen=True)
class Review:
    approve: bool
    score: float  # 0..1
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    findings: tuple[Finding, ...]
    gates: tuple[GateResult, ...] = ()
    review: Review | None = None
    confidence: float = 0.0
    durations: dict[str, float] = field(default_factory=dict)  # seconds per judge stage

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.BLOCKING)


@dataclass(frozen=True)
class Outcome:
    """What the decision engine made of a verdict."""

    decision: Decision
    feedback: str = ""  # for RETRY: what the agent must fix
    brief: str = ""  # for CLARIFY / ESCALATE: why a human is needed
    reasons: tuple[str, ...] = field(default_factory=tuple)
