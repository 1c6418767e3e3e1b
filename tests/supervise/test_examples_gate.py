"""The examples gate on real attempts: real files, real shadow-git snapshots, a real doctest subprocess."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from overseer.config import GatesConfig
from overseer.domain import AgentResult, Evidence, FileChange, Route, Severity
from overseer.supervise.gates.base import GateContext, GateOutcome
from overseer.supervise.gates.examples import examples_gate, module_of, task_groups, with_arrow_examples
from overseer.workspace.checkpoints import Checkpoints
from overseer.workspace.scratch import Scratch
from tests.supervise.attempts import Files
from tests.supervise.attempts import attempt as make_attempt

MUL_STUB = 'def mul(a, b):\n    """Multiply a by b."""\n    raise NotImplementedError\n'
MUL_ADDS = 'def mul(a, b):\n    """Multiply a by b.\n\n    >>> mul(4, 5)\n    20\n    """\n    return a + b\n'
MUL_RIGHT = MUL_ADDS.replace("a + b", "a * b")


def attempt(root: Path, before: Files, after: Files, task: str = "Implement mul in calc.py.") -> Evidence:
    return make_attempt(root, before, after, task)


def run_gate(evidence: Evidence, timeout_s: float = 30) -> GateOutcome:
    with Scratch(Checkpoints(evidence.workspace)) as scratch:
        return examples_gate(GateContext(evidence, GatesConfig(), scratch), timeout_s=timeout_s)


# --- the case and its mirror ---------------------------------------------------------------


def test_a_mul_that_adds_is_refuted_by_its_own_docstring(tmp_path: Path) -> None:
    evidence = attempt(tmp_path / "ws", {"calc.py": MUL_STUB}, {"calc.py": MUL_ADDS})

    result, findings = run_gate(evidence)

    assert (result.name, result.passed, result.verifies) == ("examples", False, False)
    assert (result.passed_count, result.failed_count) == (0, 1)
    (refuted,) = findings
    assert (refuted.code, refuted.severity, refuted.route) == ("example_refuted", Severity.BLOCKING, Route.AGENT)
    assert refuted.message == "mul(4, 5) gave 9, expected 20 (the example in mul's docstring, calc.py line 4)"
    assert (tmp_path / "ws" / "calc.py").read_text() == MUL_ADDS  # run in a scratch copy, the workspace untouched
    assert not list((tmp_path / "ws").glob("__pycache__"))


AVG_DOC = '''def rounded_avg(n, m):
    """The average of n..m, rounded, in binary; -1 when n > m.
    Example:
    rounded_avg(1, 5) => "0b11"
    rounded_avg(7, 5) => -1
    """
'''


def test_prose_examples_with_an_arrow_are_run_and_refute_a_hard_coded_answer(tmp_path: Path) -> None:
    hard_coded = AVG_DOC + '    return "0b11"\n'  # passes a visible test of (1, 5) only
    right = AVG_DOC + "    return -1 if n > m else bin(round((n + m) / 2))\n"
    stub = AVG_DOC + "    raise NotImplementedError\n"

    _, findings = run_gate(attempt(tmp_path / "wrong", {"avg.py": stub}, {"avg.py": hard_coded}))
    (refuted,) = findings
    assert refuted.code == "example_refuted" and "rounded_avg(7, 5)" in refuted.message and "0b11" in refuted.message

    result, findings = run_gate(attempt(tmp_path / "right", {"avg.py": stub}, {"avg.py": right}))
    assert findings == () and (result.passed, result.verifies, result.passed_count) == (True, True, 2)


def test_only_a_call_and_a_literal_make_an_arrow_example_and_prose_after_one_keeps_it_prose() -> None:
    text = "f(1) => 2\n\nf(2) -> int\nwords: g(1) => 3\n\nh(1) == [1]\nh(2) == [2]\nNote: h is slow\n"
    lines = with_arrow_examples(text).splitlines()
    assert lines[0] == ">>> assert f(1) == 2, f(1)"
    assert lines[2:4] == ["f(2) -> int", "words: g(1) => 3"]  # a type, and prose before the call
    assert lines[5:7] == ["h(1) == [1]", "h(2) == [2]"]  # doctest would read the note as their output
    assert with_arrow_examples(">>> f(1)\nf(1) => 2\n") == ">>> f(1)\nf(1) => 2\n"  # an expected output stays


def test_a_right_mul_passes_and_verifies_the_work(tmp_path: Path) -> None:
    evidence = attempt(tmp_path / "ws", {"calc.py": MUL_STUB}, {"calc.py": MUL_RIGHT})

    result, findings = run_gate(evidence)

    assert findings == ()
    assert (result.passed, result.verifies, result.passed_count, result.summary) == (
        True,
        True,
        1,
        "1 example(s) passed",
    )


# --- which docstrings -----------------------------------------------------------------------------


def test_a_changed_body_runs_its_unchanged_examples_and_untouched_functions_are_left_alone(tmp_path: Path) -> None:
    broken_elsewhere = 'def div(a, b):\n    """\n    >>> div(1, 0)\n    0\n    """\n    return a / b\n\n\n'
    before = broken_elsewhere + MUL_RIGHT
    after = broken_elsewhere + MUL_ADDS  # only mul's body line changes; its example does not
    evidence = attempt(tmp_path / "ws", {"calc.py": before}, {"calc.py": after})

    result, findings = run_gate(evidence)

    assert [f.message for f in findings] == [
        "mul(4, 5) gave 9, expected 20 (the example in mul's docstring, calc.py line 12)"
    ]
    assert result.failed_count == 1 and result.passed_count == 0  # div's broken example was never run


def test_methods_of_a_src_layout_package_run_in_their_module_and_expected_exceptions_pass(tmp_path: Path) -> None:
    shapes = (
        "import math\n\n\nclass Circle:\n"
        "    def __init__(self, r):\n        self.r = r\n\n"
        "    @property\n"
        "    def area(self):\n"
        '        """\n        >>> round(Circle(2).area, 2)\n        12.57\n'
        "        >>> Circle(-1).area\n        Traceback (most recent call last):\n        ValueError: negative radius\n"
        '        """\n'
        "        if self.r < 0:\n            raise ValueError('negative radius')\n"
        "        return math.pi * self.r {op} 2\n"
    )
    before = {"src/geo/__init__.py": "", "src/geo/shapes.py": shapes.format(op="*")}
    evidence = attempt(tmp_path / "ws", before, {"src/geo/shapes.py": shapes.format(op="**")})

    result, findings = run_gate(evidence)

    assert findings == ()
    assert (result.passed, result.passed_count) == (True, 2)
    assert module_of(tmp_path / "ws", "src/geo/shapes.py") == ("src", "geo.shapes")


def test_no_examples_means_the_gate_did_not_apply(tmp_path: Path) -> None:
    evidence = attempt(
        tmp_path / "ws",
        {"calc.py": MUL_STUB},
        {"calc.py": MUL_STUB.replace("raise NotImplementedError", "return a * b")},
    )

    result, findings = run_gate(evidence)

    assert (result.passed, result.verifies, findings) == (None, False, ())
    assert result.summary == "no examples in the changed functions or the task"


# --- the task's examples ---------------------------------------------------------------------------


TASK = """Make mul in calc.py multiply, for example:

```
>>> mul(2, 3)
6
```
"""


def test_the_tasks_examples_run_against_the_changed_modules(tmp_path: Path) -> None:
    plain = MUL_STUB.replace('    """Multiply a by b."""\n', "")
    wrong = attempt(
        tmp_path / "wrong",
        {"calc.py": plain},
        {"calc.py": plain.replace("raise NotImplementedError", "return a + b")},
        TASK,
    )
    right = attempt(
        tmp_path / "right",
        {"calc.py": plain},
        {"calc.py": plain.replace("raise NotImplementedError", "return a * b")},
        TASK,
    )

    wrong_result, wrong_findings = run_gate(wrong)
    right_result, right_findings = run_gate(right)

    assert [f.message for f in wrong_findings] == ["mul(2, 3) gave 5, expected 6 (the example in the task, line 4)"]
    assert wrong_result.passed is False
    assert (right_result.passed, right_result.verifies, right_findings) == (True, True, ())


def test_a_task_example_naming_nothing_the_attempt_changed_is_not_held_against_it(tmp_path: Path) -> None:
    task = "Speed up calc.py.\n>>> fast_mul(2, 3)\n6\n"
    evidence = attempt(tmp_path / "ws", {"calc.py": "X = 1\n"}, {"calc.py": "X = 2\n"}, task)

    result, findings = run_gate(evidence)

    assert (result.passed, findings) == (None, ())
    assert "name 'fast_mul' is not defined" in result.details["not_run"][0]


def test_only_modules_defining_a_name_the_task_uses_are_imported() -> None:
    (group,) = task_groups("Try:\n>>> from calc import mul\n>>> mul(2, 3)\n6", {"calc": {"mul"}, "script": {"main"}})
    assert group.modules == ("calc",)


# --- examples that misbehave --------------------------------------------------------------------------


def test_a_hanging_example_is_stopped_and_leaves_no_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    spin = (
        "import os\n\n\ndef spin():\n"
        f'    """\n    >>> spin()\n    1\n    """\n    open({str(pid_file)!r}, "w").write(str(os.getpid()))\n'
        "    while True:\n        pass\n"
    )
    evidence = attempt(tmp_path / "ws", {"calc.py": "X = 1\n"}, {"calc.py": spin})

    started = time.monotonic()
    result, findings = run_gate(evidence, timeout_s=1)

    assert time.monotonic() - started < 10
    assert [f.message for f in findings] == [
        "spin() did not finish within 1s (the example in spin's docstring, calc.py line 6)"
    ]
    assert result.passed is False
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_an_example_that_kills_its_interpreter_is_reported_and_the_others_still_count(tmp_path: Path) -> None:
    code = (
        "import os\n\n\n"
        'def ok():\n    """\n    >>> ok()\n    1\n    """\n    return 1\n\n\n'
        'def die():\n    """\n    >>> die()\n    """\n    os._exit(3)\n'
    )
    evidence = attempt(tmp_path / "ws", {"calc.py": "X = 1\n"}, {"calc.py": code})

    result, findings = run_gate(evidence)

    assert [f.message for f in findings] == [
        "die() ended the Python process (exit code 3) (the example in die's docstring, calc.py line 14)"
    ]
    assert (result.passed_count, result.failed_count) == (1, 1)


def test_code_that_writes_into_the_runners_results_cannot_crash_the_gate(tmp_path: Path) -> None:
    forger = (
        "import sys\n\n\n"
        'def forge():\n    """\n    >>> forge()\n    1\n    """\n'
        "    with open(sys.argv[2], 'a') as results:\n"
        '        results.write(\'{"g": 99, "event": "passed"}\\n[1]\\n{"event": []}\\n{"g": 0}\\nnot json\\n\')\n'
        "    return 2\n"
    )
    evidence = attempt(tmp_path / "ws", {"calc.py": "X = 1\n"}, {"calc.py": forger})

    result, findings = run_gate(evidence)

    assert [f.message for f in findings] == [
        "forge() gave 2, expected 1 (the example in forge's docstring, calc.py line 6)"
    ]
    assert (result.passed_count, result.failed_count) == (0, 1)


def test_a_module_that_fails_at_import_refutes_its_examples_but_a_missing_package_does_not(tmp_path: Path) -> None:
    broken = MUL_ADDS + "\nRATE = 1 / 0\n"
    missing = "import numpy_that_is_not_installed\n\n\n" + MUL_RIGHT
    crash = attempt(tmp_path / "crash", {"calc.py": MUL_STUB}, {"calc.py": broken})
    absent = attempt(tmp_path / "absent", {"calc.py": MUL_STUB}, {"calc.py": missing})

    crash_result, crash_findings = run_gate(crash)
    absent_result, absent_findings = run_gate(absent)

    assert [(f.code, f.message) for f in crash_findings] == [
        (
            "example_refuted",
            "Importing calc raised ZeroDivisionError: division by zero, "
            "so the examples in mul's docstring could not run",
        )
    ]
    assert crash_result.passed is False
    assert (absent_result.passed, absent_findings) == (None, ())
    assert "No module named 'numpy_that_is_not_installed'" in absent_result.details["not_run"][0]


def test_binary_and_unreadable_python_files_among_the_changes_are_passed_over(tmp_path: Path) -> None:
    after: Files = {"calc.py": MUL_RIGHT, "logo.png": bytes(range(256)) * 64, "blob.py": b"x = 1\0\xff\xfe\n"}
    evidence = attempt(tmp_path / "ws", {"calc.py": MUL_STUB}, after)

    result, findings = run_gate(evidence)

    assert (result.passed, result.passed_count, findings) == (True, 1, ())


def test_without_snapshots_the_gate_reads_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "calc.py").write_text(MUL_ADDS)
    evidence = Evidence(
        task="fix mul",
        attempt=1,
        workspace=tmp_path,
        result=AgentResult(session_id=None, is_error=False, text=""),
        changes=(FileChange("calc.py", "modified", None, None),),
    )

    result, findings = examples_gate(GateContext(evidence, GatesConfig()))

    assert result.passed is False and findings[0].code == "example_refuted"
