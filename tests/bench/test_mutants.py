"""The wrong outcomes: mutants of the body only, each a real change that still compiles."""

from __future__ import annotations

import pytest

from bench.supervision.mutants import ClassicOperators, Mutant, Operators, distinct

SOURCE = '''def count_small(numbers: list[int], limit: int) -> int:
    """How many numbers are below `limit`.
    >>> count_small([1, 5, 2], 3)
    2
    """
    count = 0
    for number in numbers:
        if number < limit and not number == -1:
            count += 1
    return count if count >= 0 else -count * 2 ** 1
'''
BODY = 6


def changed_lines(mutant: Mutant) -> set[int]:
    before, after = SOURCE.splitlines(), mutant.source.splitlines()
    return {number for number, (old, new) in enumerate(zip(before, after, strict=True), 1) if old != new}


def check_operators(operators: Operators) -> list[Mutant]:
    mutants = distinct(SOURCE, operators.mutants(SOURCE, BODY))
    assert mutants
    for mutant in mutants:
        compile(mutant.source, "solution.py", "exec")
        assert len(changed_lines(mutant)) == 1 and min(changed_lines(mutant)) >= BODY, mutant
    return mutants


def test_classic_operators_cover_the_classic_mutations() -> None:
    mutants = check_operators(ClassicOperators())
    lines = {m.source.splitlines()[m.line - 1].strip() for m in mutants}
    assert {
        "count = 1",  # constant +1
        "if number <= limit and not number == -1:",  # comparison
        "if number < limit or not number == -1:",  # boolean operator
        "if not (number < limit and (not number == -1)):",  # negated condition
        "if number < limit and number == -1:",  # unary operator dropped
        "count -= 1",  # augmented arithmetic
        "return None",  # return value
        "return count if count >= 0 else -count * (2 * 1)",  # `**` replaced, precedence kept
    } <= lines
    assert len({m.source for m in mutants}) == len(mutants)


def test_mutmut_operators_when_mutmut_is_installed() -> None:
    pytest.importorskip("mutmut", reason="mutmut is not in the environment yet (see bench/supervision/mutants.py)")
    from bench.supervision.mutants import MutmutOperators

    operators = MutmutOperators()
    assert operators.name.startswith("mutmut ")
    check_operators(operators)
