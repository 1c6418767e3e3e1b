"""What every gate is: a function from a `GateContext` to a result and the findings it raised.

A gate that does not apply (no Python changed, no tests) reports `passed=None`, never a pass:
"nothing was checked" must not read as "all is well". A gate whose pass confirms the work (the
tests, the examples) says so with `verifies=True`; "nothing verified" is a state of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from overseer.config import GatesConfig
from overseer.domain import Evidence, Finding, GateResult
from overseer.workspace.host import Host
from overseer.workspace.local_host import LOCAL
from overseer.workspace.scratch import Scratch

if TYPE_CHECKING:  # baseline.py imports the gates' command runner: a run-time import would be a cycle
    from overseer.supervise.baseline import Baseline

STAGE = "gates"

GateOutcome = tuple[GateResult, tuple[Finding, ...]]


@dataclass(frozen=True)
class GateContext:
    """What a gate may use: the evidence, its settings, scratch copies of the attempt's snapshots
    (None when the attempt has no snapshots, as in some unit tests: such gates run in the workspace),
    and the baseline, run before the attempt (None: the tests gate runs it itself, or finds it cached)."""

    evidence: Evidence
    config: GatesConfig
    scratch: Scratch | None = None
    baseline: Baseline | None = None
    # The workspace directory on this machine, where overseer keeps its own state (the baselines'
    # cache) when the workspace's files are on another host; None: the evidence's workspace.
    local_workspace: Path | None = None
    # What one gate computed and another reads, for this one judgment: the tests gate's runs, which
    # the coverage gate measures. Whichever gate runs first computes them.
    shared: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def host(self) -> Host:
        """Where the workspace and the scratch copies are: the scratch's host (this machine without one)."""
        return self.scratch.host if self.scratch is not None else LOCAL


Gate = Callable[[GateContext], GateOutcome]
