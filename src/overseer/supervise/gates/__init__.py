"""Quality gates: checks overseer runs itself, so an attempt is judged on results, not on claims.

Each gate is a module with one function from a `GateContext` to a `GateResult` and its findings:

- syntax: every Python file the agent added or modified must compile;
- tests: the tests as they were before the attempt against the new code, the agent's own tests,
  each compared with a baseline taken before the attempt;
- fail_first: the tests the agent added or edited, on the code before the attempt: one that passes
  there does not test the change;
- coverage: the changed lines no test runs;
- examples: the `>>>` examples of the functions the attempt changed, and of the task;
- lint: the project's own linters, new problems on changed lines only.
"""

from __future__ import annotations

import time
from dataclasses import replace
from functools import partial

from overseer.domain import Finding, GateResult
from overseer.supervise.gates.base import Gate, GateContext, GateOutcome
from overseer.supervise.gates.coverage import coverage_gate
from overseer.supervise.gates.examples import examples_gate
from overseer.supervise.gates.fail_first import fail_first_gate
from overseer.supervise.gates.lint import lint_gate
from overseer.supervise.gates.syntax import syntax_gate
from overseer.supervise.gates.tests import tests_gate

__all__ = ["Gate", "GateContext", "GateOutcome", "enabled_gates", "run_gates"]


def enabled_gates(ctx: GateContext) -> list[Gate]:
    gates: list[Gate] = []
    if ctx.config.syntax:
        gates.append(syntax_gate)
    if ctx.config.tests:
        gates.append(tests_gate)
    if ctx.config.tests and ctx.config.fail_first:
        gates.append(fail_first_gate)  # it reads the tests gate's comparison
    if ctx.config.tests and ctx.config.coverage:
        gates.append(coverage_gate)  # it reads the runs the tests gate made
    if ctx.config.examples:
        gates.append(partial(examples_gate, timeout_s=ctx.config.examples_timeout_s))
    if ctx.config.lint:
        gates.append(partial(lint_gate, command=ctx.config.lint_command, timeout_s=ctx.config.lint_timeout_s))
    return gates


def _timed(gate: Gate, ctx: GateContext) -> GateOutcome:
    started = time.perf_counter()
    result, findings = gate(ctx)
    return replace(result, seconds=round(time.perf_counter() - started, 4)), findings


def run_gates(ctx: GateContext) -> tuple[tuple[GateResult, ...], tuple[Finding, ...]]:
    """Run the enabled gates in order; every gate runs even when an earlier one fails, so one
    retry's feedback carries every problem at once."""
    outcomes: list[GateOutcome] = [_timed(gate, ctx) for gate in enabled_gates(ctx)]
    results = tuple(result for result, _ in outcomes)
    findings = tuple(finding for _, gate_findings in outcomes for finding in gate_findings)
    return results, findings
