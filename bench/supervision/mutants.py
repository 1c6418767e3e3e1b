"""Wrong work that looks like real work: mutants of the canonical solution.

One interface, two operator sources, so swapping where the operators come from is one change:

- `MutmutOperators`: mutmut's own operator table (`mutmut.mutation.mutators.mutation_operators`,
  libcst-based: formatting is kept exactly). Used whenever mutmut is installed.
- `ClassicOperators`: the classic operators written here with `ast` (arithmetic, augmented,
  comparison and boolean operator replacement, constants +1/-1, flipped booleans, negated
  conditions, removed unary operators, return values replaced by None). The fallback while mutmut
  is not in the environment.

Only the canonical body is mutated (lines from `first_line` on), never the signature or docstring,
so a mutant's diff against the stub looks like an implementation, not like an edited spec.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol


@dataclass(frozen=True)
class Mutant:
    operator: str  # what was changed, e.g. "compare Lt -> LtE"
    line: int
    source: str  # the whole module, mutated once


class Operators(Protocol):
    name: str  # recorded in the results: which tool's operators made the wrong outcomes

    def mutants(self, source: str, first_line: int) -> list[Mutant]: ...


def operators() -> Operators:
    """mutmut's operators when mutmut is installed, else the classic ones."""
    if importlib.util.find_spec("mutmut") is not None:
        return MutmutOperators()
    return ClassicOperators()


def distinct(source: str, mutants: list[Mutant]) -> list[Mutant]:
    """Mutants that compile and differ from the original and from each other."""
    seen = {source}
    kept = []
    for mutant in mutants:
        if mutant.source in seen or not _compiles(mutant.source):
            continue
        seen.add(mutant.source)
        kept.append(mutant)
    return kept


def _compiles(source: str) -> bool:
    try:
        compile(source, "solution.py", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


class MutmutOperators:
    """mutmut's operator table applied node by node (mutmut's own runner needs a project and pytest)."""

    def __init__(self) -> None:
        self._cst: Any = importlib.import_module("libcst")
        self._metadata: Any = importlib.import_module("libcst.metadata")
        self._table: Any = importlib.import_module("mutmut.mutation.mutators").mutation_operators
        self.name = f"mutmut {metadata.version('mutmut')}"

    def mutants(self, source: str, first_line: int) -> list[Mutant]:
        wrapper = self._metadata.MetadataWrapper(self._cst.parse_module(source))
        positions = wrapper.resolve(self._metadata.PositionProvider)
        found = []
        for node, where in positions.items():
            if where.start.line < first_line:
                continue
            for node_type, operator in self._table:
                if isinstance(node, node_type):
                    for new in operator(node):
                        code = wrapper.module.deep_replace(node, new).code
                        found.append(Mutant(operator.__name__, where.start.line, code))
        return sorted(found, key=lambda m: m.line)


_SWAPS: dict[type, type] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.And: ast.Or,
    ast.Or: ast.And,
}


class ClassicOperators:
    """The classic mutation operators, each a rewrite of one `ast` node spliced back into the text."""

    name = "classic operators (ast)"

    def mutants(self, source: str, first_line: int) -> list[Mutant]:
        found = []
        for node in ast.walk(ast.parse(source)):
            if getattr(node, "lineno", 0) < first_line:
                continue
            for label, target, text in _rewrites(node):
                found.append(Mutant(label, target.lineno, _splice(source, target, text)))
        return sorted(found, key=lambda m: m.line)


def _rewrites(node: ast.AST) -> Iterator[tuple[str, ast.expr | ast.stmt, str]]:
    """(what changed, the expression to replace, its new text) for every classic operator that applies."""
    if isinstance(node, ast.BinOp | ast.BoolOp | ast.UnaryOp | ast.AugAssign) and type(node.op) in _SWAPS:
        text = ast.unparse(_with(node, op=_SWAPS[type(node.op)]()))
        if isinstance(node.op, ast.Pow):
            text = f"({text})"  # `**` binds tighter than the operator that replaces it
        yield f"swap {type(node.op).__name__}", node, text
    if isinstance(node, ast.Compare):
        for index, op in enumerate(node.ops):
            if type(op) in _SWAPS:
                ops = [*node.ops[:index], _SWAPS[type(op)](), *node.ops[index + 1 :]]
                yield f"compare {type(op).__name__}", node, ast.unparse(_with(node, ops=ops))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
        yield f"drop {type(node.op).__name__}", node, ast.unparse(node.operand)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        yield "constant +1", node, repr(node.value + 1)
        yield "constant -1", node, repr(node.value - 1)
    if isinstance(node, ast.Constant) and type(node.value) is bool:
        yield "flip bool", node, repr(not node.value)
    yield from _negations(node)


def _negations(node: ast.AST) -> Iterator[tuple[str, ast.expr | ast.stmt, str]]:
    """Conditions negated (if, while, conditional expressions, comprehension filters), return values
    replaced by None."""
    tests = [node.test] if isinstance(node, ast.If | ast.While | ast.IfExp) else []
    tests += node.ifs if isinstance(node, ast.comprehension) else []
    for test in tests:
        yield "negate condition", test, ast.unparse(ast.UnaryOp(ast.Not(), test))
    if isinstance(node, ast.Return) and node.value is not None and not _is_none(node.value):
        yield "return None", node.value, "None"


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _with(node: ast.AST, **changes: Any) -> ast.AST:
    """A shallow copy of `node` with some fields replaced (the children are shared, not copied)."""
    fields = {name: getattr(node, name) for name in node._fields}
    return type(node)(**{**fields, **changes})


def _splice(source: str, node: ast.expr | ast.stmt, text: str) -> str:
    """`source` with `node`'s text replaced; offsets are UTF-8 bytes, as `ast` counts them."""
    whole = source.encode("utf-8")
    starts = [0]
    for line in whole.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    start = starts[node.lineno - 1] + node.col_offset
    end = starts[(node.end_lineno or node.lineno) - 1] + (node.end_col_offset or 0)
    return (whole[:start] + text.encode("utf-8") + whole[end:]).decode("utf-8")
