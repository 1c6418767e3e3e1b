"""The orchestrator: the loop over tasks and attempts, the claims that let runners share a store,
and the recovery of what a stopped runner left behind."""

from overseer.orchestrator.loop import Orchestrator, Reporter, SilentReporter

__all__ = ["Orchestrator", "Reporter", "SilentReporter"]
