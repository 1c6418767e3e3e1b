"""The judge: runs the stages in order over one Evidence record and returns one Verdict.

validation -> quality gates -> claims against the gates, and the conflicts the agent reported
between the tests and the spec -> acceptance checks -> LLM review -> confidence. Each stage adds
findings; none reaches back. The policy table then classifies every finding (severity, route), the
user's overrides included. The acceptance checks and the review are
skipped when a blocking finding already decides the attempt: a model cannot rescue it, and skipping
the model saves seconds on every failed attempt.

What needs no result of the agent's runs while the agent works: `prepare` starts the baseline (which
tests pass on the code before the attempt) on a thread of its own, and `judge` picks it up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from overseer.config import GatesConfig
from overseer.domain import Evidence, Finding, GateResult, Severity, Verdict
from overseer.supervise.acceptance import AcceptanceChecks
from overseer.supervise.baseline import Baseline, Baselines, kept_in
from overseer.supervise.calibration import Calibration
from overseer.supervise.claims import read_claims
from overseer.supervise.confidence import assess
from overseer.supervise.conflict import check_conflicts
from overseer.supervise.gates import GateContext, run_gates
from overseer.supervise.policy import DEFAULT_POLICY, Policy
from overseer.supervise.review import Reviewer
from overseer.supervise.scope import scope_findings
from overseer.supervise.signature import signature
from overseer.supervise.validate import check_claims, validate
from overseer.workspace.checkpoints import Checkpoints
from overseer.workspace.host import Host
from overseer.workspace.local_host import LOCAL
from overseer.workspace.scratch import Scratch

logger = logging.getLogger(__name__)


class Judge:
    def __init__(
        self,
        gates: GatesConfig,
        reviewer: Reviewer | None,
        policy: Policy = DEFAULT_POLICY,
        calibration: Calibration | None = None,
        acceptance: AcceptanceChecks | None = None,
        local_workspace: Path | None = None,
    ) -> None:
        self.gates = gates
        self.reviewer = reviewer  # None: no review (supervisor.review), the evidence alone judges
        self.acceptance = acceptance  # None: no acceptance checks (no supervisor model to write them)
        self.policy = policy
        self.calibration = calibration  # None: the packaged model
        # The workspace directory on this machine, with overseer's own state (the baselines' cache,
        # the prompt templates), for a workspace whose files are on another host. None: the
        # evidence's workspace is that directory (its files are here).
        self.local_workspace = local_workspace
        self._baseline: tuple[str, Future[Baseline]] | None = None

    def prepare(self, workspace: Path, checkpoint_before: str, host: Host = LOCAL) -> None:
        """While the agent works: start the baseline of the snapshot taken before the attempt, and
        warm the supervisor model for its review, each on a thread of its own. `host`: where the
        workspace is.

        The threads are not daemons: at exit Python waits for them rather than orphan a test run or
        a model mid-evaluation (a baseline is bounded by `gates.test_timeout_s`, and usually cached
        by the tree's hash; a warm-up is one short evaluation).
        """
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="overseer-prepare")
        if self.reviewer is not None:
            pool.submit(self.reviewer.warm, self.local_workspace or workspace)  # its templates are here
        if self.gates.tests:
            kept = kept_in(workspace, host, self.local_workspace)
            baseline = pool.submit(_baseline, workspace, kept, self.gates, checkpoint_before, host)
            self._baseline = (checkpoint_before, baseline)
        pool.shutdown(wait=False)  # the threads finish their one job each, then end

    def judge(self, evidence: Evidence, host: Host = LOCAL) -> Verdict:
        """The verdict on one attempt; `host`: where its workspace is (the gates run there)."""
        clock = _StageClock()
        claims = read_claims(evidence.result.text)
        findings: list[Finding] = list(validate(evidence, claims))
        if evidence.cut_short:
            findings = list(self.policy.apply(findings))
            probability, values = assess(findings, (), None, (), self.calibration)
            return Verdict(tuple(findings), confidence=probability, durations=clock.lap("validate"), features=values)
        checkpoints = _checkpoints(evidence, host)
        if self.gates.scope:
            findings += scope_findings(evidence, max_diff_lines=self.gates.max_diff_lines, checkpoints=checkpoints)
        clock.lap("validate")
        with _scratch(checkpoints) as scratch:
            prepared = self._prepared(evidence)
            context = GateContext(evidence, self.gates, scratch, prepared, local_workspace=self.local_workspace)
            gates, gate_findings = run_gates(context)
            checked, claim_findings = check_claims(claims, evidence, gates)
            conflicts = check_conflicts(context, evidence.result.reports, self.gates.examples_timeout_s)
            findings = list(self.policy.apply([*findings, *gate_findings, *claim_findings, *conflicts]))
            clock.lap("gates")
            if context.baseline is not None:
                clock.durations["baseline"] = 0.0 if context.baseline.cached else round(context.baseline.seconds, 4)
            if (accepted := self._acceptance(evidence, scratch, findings)) is not None:
                gates, findings = (*gates, accepted[0]), findings + list(self.policy.apply(accepted[1]))
                clock.lap("acceptance")
        clock.durations.update({f"gate_{gate.name}": gate.seconds for gate in gates})
        review = None
        if self.reviewer is not None and not any(f.severity is Severity.BLOCKING for f in findings):
            review, review_findings = self.reviewer.review(evidence, gates)
            findings += self.policy.apply(review_findings)
        durations = clock.lap("review")
        probability, values = assess(findings, gates, review, checked, self.calibration)
        return Verdict(
            tuple(findings),
            gates,
            review,
            probability,
            durations,
            claims=checked,
            features=values,
            signature=signature(findings, gates, evidence.diff),
        )

    def _acceptance(
        self, evidence: Evidence, scratch: Scratch | None, findings: list[Finding]
    ) -> tuple[GateResult, tuple[Finding, ...]] | None:
        """The acceptance checks' gate result, timed like the gates; None when they did not run."""
        if self.acceptance is None or any(f.severity is Severity.BLOCKING for f in findings):
            return None
        started = time.perf_counter()
        outcome = self.acceptance.check(evidence, scratch, self.local_workspace)
        if outcome is None:
            return None
        return replace(outcome[0], seconds=round(time.perf_counter() - started, 4)), outcome[1]

    def _prepared(self, evidence: Evidence) -> Baseline | None:
        """The baseline `prepare` ran for this attempt's snapshot; None lets the tests gate run it."""
        prepared, self._baseline = self._baseline, None
        if prepared is None or prepared[0] != evidence.checkpoint_before:
            return None
        try:
            return prepared[1].result()
        except Exception:  # the gate runs it again and reports what fails; the cause goes to the log
            logger.exception("the baseline of attempt %s failed on its thread", evidence.attempt)
            return None


def _baseline(workspace: Path, kept: Path | None, gates: GatesConfig, sha: str, host: Host) -> Baseline:
    with Scratch(Checkpoints(workspace, host=host)) as scratch:
        return Baselines(kept, gates).get(scratch, sha)


def _checkpoints(evidence: Evidence, host: Host) -> Checkpoints | None:
    """The snapshots of the attempt's workspace, on its host; None when the attempt has none."""
    if not (evidence.checkpoint_before and evidence.checkpoint_after):
        return None
    return Checkpoints(evidence.workspace, host=host)


@contextmanager
def _scratch(checkpoints: Checkpoints | None) -> Iterator[Scratch | None]:
    """Scratch copies of the attempt's snapshots (on the workspace's host), removed when the gates are done."""
    if checkpoints is None:
        yield None
        return
    with Scratch(checkpoints) as scratch:
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
