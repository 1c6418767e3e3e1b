"""The ground truth: HumanEval's hidden `check(entry_point)`, run on code in a separate Python.

Each run is a subprocess (`python -I`) with a time limit per piece of code and a memory cap, so a
mutant that loops forever or eats memory fails instead of hanging the bench. The same runner also
evaluates a problem's docstring examples, which is how the bench keeps only the examples the
canonical solution satisfies and tells "hard" mutants (every example passes) from the others.
The judge never sees any of this.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from bench.supervision.problems import Example, Problem

PER_CODE_S = 3.0  # each exec, the hidden check and each example get this long
MEMORY_BYTES = 2 << 30

# Runs in the child: reads {"sources", "test", "entry_point", "examples", "seconds", "memory"} from
# stdin and prints one {"hidden": bool, "examples": [bool]} per source. stdout is redirected while
# the code runs, so what the code prints cannot spoil the answer.
_RUNNER = r"""
import contextlib, io, json, resource, signal, sys
job = json.load(sys.stdin)
resource.setrlimit(resource.RLIMIT_AS, (job["memory"], job["memory"]))
class OutOfTime(Exception):
    pass
def _expire(*_):
    raise OutOfTime()
signal.signal(signal.SIGALRM, _expire)
def timed(action):
    signal.setitimer(signal.ITIMER_REAL, job["seconds"])
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return action()
    except BaseException:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
def judge(source):
    space = {}
    if timed(lambda: exec(compile(source, "solution.py", "exec"), space) or True) is None:
        return {"hidden": False, "examples": [False] * len(job["examples"])}
    def hidden():
        checked = dict(space)
        exec(job["test"], checked)
        checked["check"](checked[job["entry_point"]])
        return True
    def example(call, expected):
        return lambda: bool(eval(call, dict(space)) == eval(expected, dict(space)))
    return {
        "hidden": timed(hidden) is True,
        "examples": [timed(example(c, e)) is True for c, e in job["examples"]],
    }
print(json.dumps([judge(source) for source in job["sources"]]), file=sys.__stdout__)
"""


@dataclass(frozen=True)
class Screen:
    hidden: bool  # HumanEval's check passed
    examples: tuple[bool, ...]  # per example asked about

    @property
    def all_examples(self) -> bool:
        return all(self.examples)


def screen(problem: Problem, sources: Sequence[str], examples: Sequence[Example] = ()) -> list[Screen]:
    """The hidden check and each example, for every source; a source that crashes the runner fails all."""
    if not sources:
        return []
    job = {
        "sources": list(sources),
        "test": problem.test,
        "entry_point": problem.entry_point,
        "examples": [[e.call, e.expected] for e in examples],
        "seconds": PER_CODE_S,
        "memory": MEMORY_BYTES,
    }
    limit = 10 + PER_CODE_S * len(sources) * (2 + len(examples))
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", _RUNNER], input=json.dumps(job), capture_output=True, text=True, timeout=limit
        )
        answers = json.loads(done.stdout)
    except (subprocess.TimeoutExpired, json.JSONDecodeError):
        answers = None
    if answers is None or len(answers) != len(sources):
        return _bisect(problem, sources, examples)
    return [Screen(bool(a["hidden"]), tuple(bool(x) for x in a["examples"])) for a in answers]


def _bisect(problem: Problem, sources: Sequence[str], examples: Sequence[Example]) -> list[Screen]:
    """The runner died (a segfault, a hang past every alarm): find the culprit by halves."""
    if len(sources) == 1:
        return [Screen(False, (False,) * len(examples))]
    middle = len(sources) // 2
    return [*screen(problem, sources[:middle], examples), *screen(problem, sources[middle:], examples)]


def passes(problem: Problem, source: str) -> bool:
    """Does `source` pass HumanEval's hidden test?"""
    return screen(problem, [source])[0].hidden


def usable_examples(problem: Problem) -> tuple[Example, ...]:
    """The docstring's examples that the canonical solution satisfies (a few are wrong in HumanEval)."""
    [canonical] = screen(problem, [problem.solution], problem.examples)
    return tuple(e for e, ok in zip(problem.examples, canonical.examples, strict=True) if ok)
