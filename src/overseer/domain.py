"""The shared vocabulary: what every layer of overseer talks about, and nothing else.

Plain frozen dataclasses and enums. This module imports nothing of overseer, so any layer may
import it: the agents report an `AgentResult`, the orchestrator builds `Evidence` from it, the
judge turns Evidence into a `Verdict`, the decision engine turns that into an `Outcome`, and the
store persists all of them. None of those layers needs to import another to do so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

# --- lifecycles ------------------------------------------------------------------------------------


class TaskStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    NEEDS_HUMAN = "needs_human"
    COMPLETED = "completed"
    FAILED = "failed"
    ABANDONED = "abandoned"


class AttemptStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"  # overseer died or was killed while the agent worked
    TIMED_OUT = "timed_out"
    ERROR = "error"


# --- what the agent did ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCall:
    """A tool call the agent asked for, and what overseer's guard decided about it."""

    tool_use_id: str
    name: str
    input: dict[str, Any]
    allowed: bool = True
    reason: str = ""
    category: str = ""  # the permission arbiter's class of a command (agents/shell.py), or of a file access


@dataclass(frozen=True)
class DeferredCall:
    """A tool call a breakpoint rule held back: the run ended before it ran, waiting for a developer."""

    tool_use_id: str
    tool: str
    input: dict[str, Any]
    rule: str  # the breakpoint rule that matched it

    def detail(self) -> dict[str, Any]:
        """What a tool breakpoint records of the call."""
        return {"tool_use_id": self.tool_use_id, "tool": self.tool, "input": self.input}


@dataclass(frozen=True)
class AgentReport:
    """The agent's honest way out (agents/honesty.py): a conflict it reports, a question for a human,
    or its word that it cannot finish. `kind` is report_conflict | ask_human | cannot_finish."""

    kind: str
    text: str  # what clashes, the question, or the reason
    evidence: str = ""  # report_conflict: the test and the spec line that clash


@dataclass(frozen=True)
class AgentResult:
    session_id: str | None
    is_error: bool
    text: str
    error: str = ""
    num_turns: int = 0
    cost_usd: float | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    reports: tuple[AgentReport, ...] = ()  # through overseer's own tools, in the order made
    deferred: DeferredCall | None = None  # the call the run stopped before, for a developer to answer

    @property
    def denied_calls(self) -> tuple[ToolCall, ...]:
        return tuple(call for call in self.tool_calls if not call.allowed)


@dataclass(frozen=True)
class FileChange:
    path: str  # relative to the workspace, with forward slashes
    kind: str  # added | modified | deleted
    sha_before: str | None  # git blob hashes of the content
    sha_after: str | None


# --- the judge's input ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """Everything the judge may look at, produced by overseer itself around one attempt."""

    task: str
    attempt: int
    workspace: Path
    result: AgentResult
    changes: tuple[FileChange, ...] = ()
    diff: str = ""
    timed_out: str = ""  # "wall" or "silence" when overseer stopped the agent
    checkpoint_before: str = ""  # shadow-git snapshots around the attempt ("" when not taken)
    checkpoint_after: str = ""
    # The snapshot before the task's first attempt ("": this attempt's own): the code "without the
    # change" for the fail-first gate, when a retry builds on an earlier attempt's work.
    task_checkpoint: str = ""
    # The acceptance criteria a trusted supervisor's brief gave the agent (supervise/draft.py): the
    # acceptance checks are written from them as well as from the task.
    criteria: tuple[str, ...] = ()
    # What overseer saw outside the workspace after the attempt (workspace/outside.py):
    outside_links: tuple[tuple[str, str], ...] = ()  # (symlink in the workspace, its target outside)
    outside_files: tuple[tuple[str, str], ...] = ()  # (path outside, created | modified | deleted)
    outside_unchecked: tuple[str, ...] = ()  # roots whose walk stopped at its bound

    @property
    def cut_short(self) -> bool:
        """The agent's run ended in an error or was stopped: there is no work to judge."""
        return self.result.is_error or bool(self.timed_out)

    @property
    def changed_paths(self) -> tuple[str, ...]:
        return tuple(change.path for change in self.changes)


# --- the judge's output ------------------------------------------------------------------------------


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    BLOCKING = "blocking"  # the attempt must not proceed


class Route(StrEnum):
    """Who must act on a finding (see `supervise/policy.py`, the one table that says it per code)."""

    AGENT = "agent"  # the agent can fix it: it goes into the retry's feedback
    HUMAN = "human"  # only a person can settle it: the task stops with a brief
    OVERSEER = "overseer"  # overseer's own failure: never the agent's feedback
    NOBODY = "nobody"  # shown, acted on by no one


class Decision(StrEnum):
    PROCEED = "proceed"
    RETRY = "retry"
    CLARIFY = "clarify"  # the agent asked a question only a human can answer
    ESCALATE = "escalate"  # stop for a human


class ClaimStatus(StrEnum):
    CONFIRMED = "confirmed"
    REFUTED = "refuted"
    UNVERIFIABLE = "unverifiable"


@dataclass(frozen=True)
class Finding:
    stage: str  # validate | scope | gates | review | decide
    code: str  # machine-readable, e.g. "false_claim", "tests_failed"; its policy row says the rest
    severity: Severity
    message: str  # concrete enough to be sent back to the agent as feedback
    route: Route = Route.AGENT


@dataclass(frozen=True)
class Claim:
    """One thing the agent said it did, and what overseer's own evidence says of it."""

    kind: str  # file | tests | command
    text: str  # the agent's words
    status: ClaimStatus
    detail: str = ""  # what the evidence showed


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool | None  # None: the gate did not apply (no Python files, no tests)
    summary: str
    output: str = ""
    passed_count: int = 0
    failed_count: int = 0
    verifies: bool = False  # a pass of this gate confirms the work (tests, examples), not just its form
    details: dict[str, Any] = field(default_factory=dict)  # per-gate data: test ids, uncovered lines...
    seconds: float = 0.0  # how long the gate took (set by `run_gates`)


@dataclass(frozen=True)
class Review:
    approve: bool
    score: float  # 0..1
    reasons: tuple[str, ...] = ()
    trust: float = 0.0  # how much this model's opinion counts, 0..1 (configuration, measured by the bench)

    @property
    def trusted(self) -> bool:
        """A model trusted enough that its rejection can stop an attempt and its approval verifies."""
        return self.trust >= TRUSTED_REVIEW


TRUSTED_REVIEW = 0.5


@dataclass(frozen=True)
class Verdict:
    findings: tuple[Finding, ...]
    gates: tuple[GateResult, ...] = ()
    review: Review | None = None
    confidence: float = 0.0  # the probability that the attempt is good
    durations: dict[str, float] = field(default_factory=dict)  # seconds per judge stage
    claims: tuple[Claim, ...] = ()
    features: dict[str, float] = field(default_factory=dict)  # what the confidence was computed from
    signature: dict[str, str] = field(default_factory=dict)  # what a repeat of this failure looks like

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.BLOCKING)

    @property
    def verified(self) -> bool:
        """Some check overseer ran itself confirmed the work; "nothing verified" is a state of its own."""
        reviewed = self.review is not None and self.review.approve and self.review.trusted
        return reviewed or any(g.verifies and g.passed for g in self.gates)


@dataclass(frozen=True)
class Outcome:
    """What the decision engine made of a verdict."""

    decision: Decision
    feedback: str = ""  # for RETRY: what the agent must fix
    brief: str = ""  # for CLARIFY / ESCALATE: why a human is needed
    reasons: tuple[str, ...] = field(default_factory=tuple)
