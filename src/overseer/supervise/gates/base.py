"""What every gate is: a function from a `GateContext` to a result and the findings it raised.

A gate that does not apply (no Python changed, no tests) reports `passed=None`, never a pass:
"nothing was checked" must not read as "all is well". A gate whose pass confirms the work (the
tests, the examples) says so with `verifies=True`; "nothing verified" is a state of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from overseer.config import GatesConfig
from overseer.domain import Evidence, Finding, GateResult
from overseer.workspace.scratch import Scratch

STAGE = "gates"

GateOutcome = tuple[GateResult, tuple[Finding, ...]]


@dataclass(frozen=True)
class GateContext:
    """What a gate may use: the evidence, its settings, and scratch copies of the attempt's snapshots
    (None when the attempt has no snapshots, as in some unit tests: such gates run in the workspace)."""

    evidence: Evidence
    config: GatesConfig
    scratch: Scratch | None = None


Gate = Callable[[GateContext], GateOutcome]
