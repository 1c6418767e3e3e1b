"""The order tasks run in: every task after the tasks it depends on, higher priority first."""

from __future__ import annotations

from collections.abc import Mapping
from graphlib import CycleError, TopologicalSorter

from overseer.errors import UsageError


def plan(priorities: Mapping[int, int], dependencies: Mapping[int, set[int]]) -> list[int]:
    """All task ids, each after its dependencies; among those ready together, by priority then id."""
    sorter: TopologicalSorter[int] = TopologicalSorter({t: dependencies.get(t, set()) for t in priorities})
    try:
        sorter.prepare()
    except CycleError as exc:
        raise UsageError(f"task dependencies form a cycle: {exc.args[1]}") from exc
    order: list[int] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=lambda task: (-priorities.get(task, 0), task))
        order.extend(ready)
        sorter.done(*ready)
    return order
