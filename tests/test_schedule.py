"""Task order: dependencies first, then priority, then age."""

from __future__ import annotations

import pytest

from overseer.errors import UsageError
from overseer.schedule import plan


def test_priority_among_ready_tasks() -> None:
    assert plan({1: 0, 2: 5, 3: 1}, {}) == [2, 3, 1]


def test_dependencies_come_first_whatever_their_priority() -> None:
    assert plan({1: 0, 2: 9, 3: 5}, {2: {1}}) == [3, 1, 2]


def test_a_cycle_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="cycle"):
        plan({1: 0, 2: 0}, {1: {2}, 2: {1}})
