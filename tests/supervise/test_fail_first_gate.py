"""The fail-first gate on real attempts: real git snapshots, real pytest in scratch copies.

Each attempt changes calc.py and/or its tests; the gate runs the tests the attempt wrote on the code
before it, and says which of them would have passed had the agent changed nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from rich.console import Console

from overseer.cli.render import render_task
from overseer.config import GatesConfig
from overseer.domain import AgentResult, Evidence, Finding, GateResult, Route, Severity
from overseer.supervise.features import features
from overseer.supervise.gates import run_gates
from overseer.supervise.gates.base import GateContext
from overseer.workspace.checkpoints import Checkpoints
from overseer.workspace.scratch import Scratch
from tests.supervise.attempts import Files, attempt, write

CALC = "def add(a, b):\n    return a + b\n"
SUB = CALC + "\n\ndef sub(a, b):\n    return a - b\n"
NONE_IS_ZERO = "def add(a, b):\n    return (a or 0) + (b or 0)\n"
TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n"
BEFORE = {"calc.py": CALC, "tests/test_calc.py": TESTS}
FILE = "tests/test_calc.py"


@pytest.fixture(autouse=True, scope="module")
def _no_plugin_autoload() -> Iterator[None]:
    """The workspaces need no third-party pytest plugin; autoloading the dev environment's costs seconds."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        yield


@dataclass(frozen=True)
class Judged:
    gate: GateResult | None  # None: the gate did not run
    findings: tuple[Finding, ...]
    features: dict[str, float]

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def finding(self, code: str) -> Finding:
        [found] = [f for f in self.findings if f.code == code]
        return found

    def before(self, test: str) -> str:
        assert self.gate is not None
        outcome: str = self.gate.details["tests"][f"{FILE}::{test}"]["before"]
        return outcome


def judge(tmp_path: Path, after: Files, *, before: Files = BEFORE, **config: object) -> Judged:
    """The tests and fail-first gates over one real attempt, as the judge runs them."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    evidence = attempt(tmp_path / "project", before, after, task="Make add treat None as 0.")
    return judge_evidence(evidence, **config)


def judge_evidence(evidence: Evidence, **config: object) -> Judged:
    gates_config = GatesConfig.model_validate(
        {"syntax": False, "coverage": False, "examples": False, "lint": False, **config}
    )
    with Scratch(Checkpoints(evidence.workspace)) as scratch:
        results, findings = run_gates(GateContext(evidence, gates_config, scratch))
    gate = next((result for result in results if result.name == "fail_first"), None)
    return Judged(gate, findings, features(findings, results, None))


def with_test(body: str, name: str = "test_new") -> str:
    return TESTS + f"\n\ndef {name}():\n{body}"


def test_a_new_test_that_passes_without_the_change_is_caught_and_named(tmp_path: Path) -> None:
    judged = judge(tmp_path, {"calc.py": NONE_IS_ZERO, FILE: with_test("    assert add(0, 0) == 0\n", "test_zero")})

    assert judged.codes == ["vacuous_test"]
    vacuous = judged.finding("vacuous_test")
    assert (vacuous.severity, vacuous.route) == (Severity.BLOCKING, Route.AGENT)
    assert vacuous.message.startswith("test_zero passes without your change; make it test what you changed")
    assert f"- {FILE}::test_zero: passed without the change" in vacuous.message
    assert judged.gate is not None and judged.gate.passed is False
    assert judged.gate.details["pass_before"] == [f"{FILE}::test_zero"]
    assert (judged.features["vacuous_tests"], judged.features["tests_fail_first"]) == (1.0, 0.0)


def test_a_new_test_that_fails_without_the_change_passes_the_check(tmp_path: Path) -> None:
    judged = judge(tmp_path, {"calc.py": NONE_IS_ZERO, FILE: with_test("    assert add(None, 1) == 1\n")})

    assert judged.codes == []
    assert judged.gate is not None and judged.gate.passed is True
    assert judged.before("test_new") == "failed"
    assert "TypeError" in judged.gate.details["tests"][f"{FILE}::test_new"]["reason"]
    assert judged.gate.details["fail_first"] == [f"{FILE}::test_new"]
    assert (judged.features["vacuous_tests"], judged.features["tests_fail_first"]) == (0.0, 1.0)


def test_a_test_of_a_function_that_does_not_exist_before_counts_as_failing(tmp_path: Path) -> None:
    new_file = "from calc import sub\n\n\ndef test_sub():\n    assert sub(3, 2) == 1\n"

    judged = judge(tmp_path, {"calc.py": SUB, "tests/test_sub.py": new_file})

    assert judged.codes == []
    assert judged.gate is not None and judged.gate.passed is True
    check = judged.gate.details["tests"]["tests/test_sub.py::test_sub"]
    assert check["before"] == "error" and "cannot import name 'sub'" in check["reason"]
    assert "overseer-scratch" not in check["reason"]  # no path of a copy that is gone


def test_a_function_missing_at_call_time_counts_as_failing(tmp_path: Path) -> None:
    call_time = "import calc\n\n\ndef test_sub():\n    assert calc.sub(3, 2) == 1\n"

    judged = judge(tmp_path, {"calc.py": SUB, "tests/test_sub.py": call_time})

    assert judged.codes == []
    check = judged.gate.details["tests"]["tests/test_sub.py::test_sub"] if judged.gate else {}
    assert check["before"] == "failed" and "AttributeError" in check["reason"]


def test_a_changed_test_runs_in_its_new_version(tmp_path: Path) -> None:
    stronger = TESTS + "    assert add(None, 2) == 2\n"
    weaker_edit = TESTS + "    assert add(0, 2) == 2\n"

    real = judge(tmp_path / "real", {"calc.py": NONE_IS_ZERO, FILE: stronger})
    vacuous = judge(tmp_path / "vacuous", {"calc.py": NONE_IS_ZERO, FILE: weaker_edit})

    assert (real.codes, real.before("test_add")) == (["tests_modified"], "failed")  # the tests gate's warning
    assert "vacuous_test" in vacuous.codes and vacuous.before("test_add") == "passed"
    assert vacuous.finding("vacuous_test").message.startswith("test_add passes without your change")


def test_a_retry_runs_its_tests_on_the_code_before_the_task_not_before_the_retry(tmp_path: Path) -> None:
    """Attempt 1 changed add and wrote a vacuous test; attempt 2 only replaces the test. On attempt
    1's code the new test passes too: only the task's starting point shows that it fails first."""
    write(tmp_path, BEFORE)
    checkpoints = Checkpoints(tmp_path)
    start = checkpoints.snapshot("task 1 attempt 1: before")
    write(tmp_path, {"calc.py": NONE_IS_ZERO, FILE: with_test("    assert add(0, 0) == 0\n", "test_zero")})
    first = checkpoints.snapshot("task 1 attempt 1: after")
    write(tmp_path, {FILE: with_test("    assert add(None, 1) == 1\n")})
    second = checkpoints.snapshot("task 1 attempt 2: after")
    retry = Evidence(
        task="Make add treat None as 0.",
        attempt=2,
        workspace=tmp_path,
        result=AgentResult(session_id=None, is_error=False, text="Done."),
        changes=checkpoints.changes(first, second),
        checkpoint_before=first,
        checkpoint_after=second,
    )

    from_the_task = judge_evidence(replace(retry, task_checkpoint=start))
    from_the_retry = judge_evidence(retry)

    assert "vacuous_test" not in from_the_task.codes and from_the_task.before("test_new") == "failed"
    assert from_the_task.gate is not None and from_the_task.gate.details["code_changed"] is True
    assert from_the_retry.before("test_new") == "passed"  # what the gate would wrongly see without it


def test_a_tests_only_attempt_is_recorded_not_blocked(tmp_path: Path) -> None:
    judged = judge(tmp_path, {FILE: with_test("    assert add(0, 0) == 0\n", "test_zero")})

    assert judged.codes == ["tests_pass_before"]
    recorded = judged.finding("tests_pass_before")
    assert (recorded.severity, recorded.route) == (Severity.INFO, Route.NOBODY)
    assert "changed no code" in recorded.message and "test_zero" in recorded.message
    assert judged.gate is not None and judged.gate.passed is True
    assert judged.features["vacuous_tests"] == 0.0


def test_a_guard_beside_a_test_that_fails_first_is_recorded_not_blocked(tmp_path: Path) -> None:
    tests = with_test("    assert add(None, 1) == 1\n") + "\n\ndef test_zero():\n    assert add(0, 0) == 0\n"

    judged = judge(tmp_path, {"calc.py": NONE_IS_ZERO, FILE: tests})

    assert judged.codes == ["tests_pass_before"]
    assert "other tests of the attempt fail without the change" in judged.finding("tests_pass_before").message
    assert judged.gate is not None and judged.gate.details["fail_first"] == [f"{FILE}::test_new"]
    assert judged.gate.details["pass_before"] == [f"{FILE}::test_zero"]


def test_a_conftest_fixture_the_attempt_added_is_copied_in(tmp_path: Path) -> None:
    conftest = "import pytest\n\n\n@pytest.fixture\ndef zero():\n    return 0\n"
    tests = with_test("    assert add(zero, zero) == 0\n", "test_zero").replace("test_zero()", "test_zero(zero)")

    judged = judge(tmp_path, {"calc.py": NONE_IS_ZERO, "tests/conftest.py": conftest, FILE: tests})

    assert judged.before("test_zero") == "passed"  # the fixture was there: a real pass, not a missing fixture
    assert judged.codes == ["vacuous_test"]


def test_tests_that_fail_on_the_new_code_and_untouched_tests_are_not_checked(tmp_path: Path) -> None:
    judged = judge(tmp_path, {"calc.py": NONE_IS_ZERO, FILE: with_test("    assert add(None, 1) == 5\n")})

    assert "new_test_failed" in judged.codes and "vacuous_test" not in judged.codes
    assert judged.gate is not None and judged.gate.passed is None  # nothing to check: test_add is untouched
    untouched = judge(tmp_path / "untouched", {"calc.py": NONE_IS_ZERO})
    assert untouched.gate is not None and untouched.gate.passed is None and untouched.codes == []


def test_the_gate_can_be_switched_off(tmp_path: Path) -> None:
    judged = judge(
        tmp_path, {"calc.py": NONE_IS_ZERO, FILE: with_test("    assert add(0, 0) == 0\n")}, fail_first=False
    )

    assert judged.gate is None and judged.codes == []


def test_status_shows_each_test_and_whether_it_fails_without_the_change(tmp_path: Path) -> None:
    tests = with_test("    assert add(None, 1) == 1\n") + "\n\ndef test_zero():\n    assert add(0, 0) == 0\n"
    judged = judge(tmp_path, {"calc.py": NONE_IS_ZERO, FILE: tests})
    assert judged.gate is not None
    gate = {"name": "fail_first", "passed": judged.gate.passed, "details": judged.gate.details}
    attempt_row = {
        "number": 1,
        "status": "judged",
        "decision": "proceed",
        "confidence": 0.9,
        "verified": True,
        "files_changed": [],
        "findings": [],
        "claims": [],
        "gates": [gate],
        "sandbox": None,
    }
    summary = {"task_id": 1, "status": "completed", "text": "t", "history": [attempt_row], "files_changed": []}
    console = Console(record=True, width=200)

    render_task(console, {**summary, "error": ""})

    shown = console.export_text()
    assert f"{FILE}::test_new fails without the change (failed: " in shown
    assert f"{FILE}::test_zero passes without the change" in shown
