"""The judge: runs the stages in order over one Evidence record and returns one Verdict.

validation -> quality gates -> claims against the gates -> LLM review -> confidence. Each stage adds
findings; none reaches back. The policy table then classifies every finding (severity, route), the
user's overrides included. The review is skipped when a blocking finding already decides the
attempt: a model's opinion cannot rescue it, and skipping it saves seconds on every failed attempt.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from overseer.config import GatesConfig
from overseer.domain import Evidence, Finding, Severity, Verdict
from overseer.supervise.claims import read_claims
from overseer.supervise.confidence import confidence
from overseer.supervise.gates import GateContext, run_gates
from overseer.supervise.policy import DEFAULT_POLICY, Policy
from overseer.supervise.review import Reviewer
from overseer.supervise.scope import scope_findings
from overseer.supervise.validate import contradictions, validate
from overseer.workspace.checkpoints import Checkpoints
from overseer.workspace.scratch import Scratch


class Judge:
    def __init__(self, gates: GatesConfig, reviewer: Reviewer, policy: Policy = DEFAULT_POLICY) -> None:
        self.gates = gates
        self.reviewer = reviewer
        self.policy = policy

    def judge(self, evidence: Evidence) -> Verdict:
        clock = _StageClock()
        claims = read_claims(evidence.result.text)
        findings: list[Finding] = list(validate(evidence, claims))
        if evidence.cut_short:
            findings = list(self.policy.apply(findings))
            return Verdict(tuple(findings), confidence=confidence(findings, (), None), durations=clock.lap("validate"))
        if self.gates.scope:
            findings += scope_findings(evidence, max_diff_lines=self.gates.max_diff_lines)
        clock.lap("validate")
        with _scratch(evidence) as scratch:
            gates, gate_findings = run_gates(GateContext(evidence, self.gates, scratch))
        findings = list(self.policy.apply([*findings, *gate_findings, *contradictions(claims, gates)]))
        clock.lap("gates")
        review = None
        if not any(f.severity is Severity.BLOCKING for f in findings):
            review, review_findings = self.reviewer.review(evidence, gates)
            findings += self.policy.apply(review_findings)
        durations = clock.lap("review")
        return Verdict(tuple(findings), gates, review, confidence(findings, gates, review), durations)


@contextmanager
def _scratch(evidence: Evidence) -> Iterator[Scratch | None]:
    """Scratch copies of the attempt's snapshots, removed when the gates are done."""
    if not (evidence.checkpoint_before and evidence.checkpoint_after):
        yield None
        return
    with Scratch(Checkpoints(evidence.workspace)) as scratch:
        yield scratch


class _StageClock:
    """Seconds spent per stage, so benchmarks can tell overseer's own time from the models'."""

    def __init__(self) -> None:
        self.durations: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> dict[str, float]:
        now = time.perf_counter()
        self.durations[stage] = round(now - self._last, 4)
        self._last = now
        return self.durations
