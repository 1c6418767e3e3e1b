"""Acceptance checks written by a trusted supervisor model, run by the real judge on real attempts.

The supervisor is `OllamaLLM` through the real `ollama` client, against `ScriptedOllamaServer`
scripted to answer with checks: a fake, because no capable model can run on the test machines (no
GPU, no weights) and tests must not reach a model service. Everything else is real: git snapshots,
scratch copies, pytest and the checks themselves in subprocesses, the policy table and the decision.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from overseer.config import GatesConfig
from overseer.domain import Decision, Evidence, GateResult, Route, Severity, Verdict
from overseer.llm.ollama import OllamaConfig, OllamaLLM
from overseer.supervise.acceptance import AcceptanceChecks, parse_checks, stubs
from overseer.supervise.calibration import priors
from overseer.supervise.decide import DecisionEngine
from overseer.supervise.judge import Judge
from overseer.supervise.review import Reviewer
from overseer.testing import ScriptedOllamaServer
from tests.supervise.attempts import Files, attempt

STUB = 'def mul(a, b):\n    """Return the product of a and b."""\n    raise NotImplementedError\n'
WRONG = STUB.replace("raise NotImplementedError", "return a + b")
RIGHT = STUB.replace("raise NotImplementedError", "return a * b")
ADD = "def add(a, b):\n    return a + b\n\n\n"
WEAK_TESTS = "from calc import mul\n\n\ndef test_mul():\n    assert mul(2, 2) == 4\n"  # 2 + 2 == 2 * 2
TASK = "Implement mul(a, b) in calc.py: it returns the product of a and b."
PRODUCTS = {"name": "products", "source": "from calc import mul\n\nassert mul(3, 4) == 12\nassert mul(0, 5) == 0\n"}
APPROVE = {"approve": True, "score": 9, "reasons": ["does the task"]}


def checks(*items: dict[str, str]) -> dict[str, Any]:
    return {"checks": list(items)}


def asked_for_checks(server: ScriptedOllamaServer) -> list[dict[str, Any]]:
    """The chat requests that asked for acceptance checks (told apart from reviews by their schema)."""
    return [body for body in server.requests if "checks" in body.get("format", {}).get("properties", {})]


def judge(server: ScriptedOllamaServer, *, trust: float = 0.5, review_trust: float = 0.5, **gates: Any) -> Judge:
    """A judge whose supervisor is the scripted server. The calibration is the hand-set priors: the
    packaged fit predates the acceptance features, so it gives them no weight yet."""
    config = GatesConfig(lint=False, **gates)
    llm = OllamaLLM(OllamaConfig(host=server.url))
    reviewer = Reviewer(llm, trust=review_trust)
    return Judge(config, reviewer, calibration=priors(), acceptance=AcceptanceChecks(llm, trust=trust, config=config))


def run(tmp_path: Path, answers: list[Any], before: Files, after: Files, **options: Any) -> tuple[Verdict, Any]:
    tmp_path.mkdir(exist_ok=True)
    with ScriptedOllamaServer(answers) as server:
        verdict = judge(server, **options).judge(attempt(tmp_path / "ws", before, after, TASK))
    return verdict, server


def gate(verdict: Verdict) -> GateResult:
    (found,) = (g for g in verdict.gates if g.name == "acceptance")
    return found


def statuses(verdict: Verdict) -> list[str]:
    return [check["status"] for check in gate(verdict).details["checks"]]


def decide(verdict: Verdict) -> Any:
    return DecisionEngine(proceed_threshold=0.7, max_attempts=3).decide(verdict, 1)


def test_a_wrong_mul_that_passes_the_tests_is_sent_back_with_the_check(tmp_path: Path) -> None:
    before = {"calc.py": STUB, "tests/test_calc.py": WEAK_TESTS}
    verdict, server = run(tmp_path, [checks(PRODUCTS)], before, {"calc.py": WRONG})

    tests = next(g for g in verdict.gates if g.name == "tests")
    assert tests.passed is True  # the workspace's own tests did not catch it
    (failed,) = [f for f in verdict.findings if f.code == "acceptance_failed"]
    assert (failed.severity, failed.route) == (Severity.BLOCKING, Route.AGENT)
    assert (gate(verdict).passed, statuses(verdict), verdict.features["acceptance_refuted"]) == (False, ["refuted"], 1)
    record = gate(verdict).details["checks"][0]
    assert record["after"]["error"] == "AssertionError"
    assert record["before"]["error"] == "NotImplementedError" and record["before"]["where"] == "code"
    outcome = decide(verdict)
    assert outcome.decision is Decision.RETRY
    assert "assert mul(3, 4) == 12" in outcome.feedback and 'File "check.py", line 3' in outcome.feedback
    assert len(server.requests) == 1  # blocked: the review was not asked


def test_a_right_mul_is_verified_by_the_checks_alone_and_proceeds(tmp_path: Path) -> None:
    """No tests, no examples, an untrusted review: only the acceptance checks can verify the work."""
    verdict, _ = run(tmp_path, [checks(PRODUCTS), APPROVE], {"calc.py": STUB}, {"calc.py": RIGHT}, review_trust=0.0)

    result = gate(verdict)
    assert (result.passed, result.verifies, result.passed_count, statuses(verdict)) == (True, True, 1, ["confirmed"])
    assert result.details["checks"][0]["before"]["outcome"] == "error"  # the stub raised: the check tells them apart
    assert verdict.verified and verdict.features["acceptance_confirmed"] == 1.0
    assert not [f for f in verdict.findings if f.code.startswith("acceptance")]
    assert decide(verdict).decision is Decision.PROCEED


def test_the_model_is_shown_the_task_and_signatures_never_the_bodies(tmp_path: Path) -> None:
    _, server = run(tmp_path, [checks()], {"calc.py": STUB}, {"calc.py": RIGHT, "geometry/__init__.py": "X = 1\n"})

    (request,) = asked_for_checks(server)
    prompt = request["messages"][1]["content"]
    assert TASK in prompt and "def mul(a, b):" in prompt and "Return the product of a and b." in prompt
    assert "a * b" not in prompt
    assert "`import calc`" in prompt and "`import geometry`" in prompt


def test_a_check_that_passes_before_the_change_too_is_not_counted(tmp_path: Path) -> None:
    adds = {"name": "adds", "source": "from calc import add\nassert add(2, 3) == 5\n"}
    before, after = {"calc.py": ADD + STUB}, {"calc.py": ADD + RIGHT}

    alone, _ = run(tmp_path / "alone", [checks(adds), APPROVE], before, after, review_trust=0.0)
    beside, _ = run(tmp_path / "beside", [checks(adds, PRODUCTS), APPROVE], before, after, review_trust=0.0)

    assert statuses(alone) == ["passes_before_too"]
    assert (gate(alone).passed, gate(alone).verifies, alone.verified) == (None, False, False)
    assert alone.features["acceptance_confirmed"] == 0.0
    assert statuses(beside) == ["passes_before_too", "confirmed"]
    assert (gate(beside).passed, gate(beside).passed_count, beside.verified) == (True, 1, True)


def test_checks_that_do_not_fit_the_code_are_not_blamed_on_the_agent(tmp_path: Path) -> None:
    broken = checks(
        {"name": "syntax", "source": "assert mul(2, 3) == 6 +\n"},
        {"name": "made-up module", "source": "from calculator import mul\nassert mul(2, 3) == 6\n"},
        {"name": "own error", "source": "from calc import mul\nassert mul(2, 3) == expected\n"},
    )
    verdict, _ = run(tmp_path, [broken, APPROVE], {"calc.py": STUB}, {"calc.py": RIGHT})

    assert statuses(verdict) == ["broken", "broken", "broken"]
    assert gate(verdict).passed is None
    (note,) = [f for f in verdict.findings if f.code.startswith("acceptance")]
    assert (note.code, note.severity, note.route) == ("acceptance_broken", Severity.INFO, Route.OVERSEER)
    assert "SyntaxError" in note.message and "calculator" in note.message and "expected" in note.message
    outcome = decide(verdict)  # the trusted review's approval verifies the work
    assert (outcome.decision, outcome.feedback) == (Decision.PROCEED, "")


@pytest.mark.parametrize("answer", ["not JSON {", {"checks": "assert True"}], ids=["invalid-json", "off-schema"])
def test_a_reply_that_is_no_checks_is_overseers_problem(tmp_path: Path, answer: Any) -> None:
    before = {"calc.py": STUB, "tests/test_calc.py": WEAK_TESTS}
    verdict, _ = run(tmp_path, [answer, APPROVE], before, {"calc.py": RIGHT})

    (note,) = [f for f in verdict.findings if f.code.startswith("acceptance")]
    assert (note.code, note.severity, note.route) == ("acceptance_unavailable", Severity.INFO, Route.OVERSEER)
    assert gate(verdict).passed is None
    outcome = decide(verdict)  # the tests verified the work; the agent hears nothing of the model's failure
    assert (outcome.decision, outcome.feedback) == (Decision.PROCEED, "")


@pytest.mark.parametrize(("trust", "enabled"), [(0.0, True), (0.49, True), (0.5, False)])
def test_no_checks_are_asked_for_from_an_untrusted_model_or_when_off(
    tmp_path: Path, trust: float, enabled: bool
) -> None:
    verdict, server = run(
        tmp_path, [APPROVE], {"calc.py": STUB}, {"calc.py": RIGHT}, trust=trust, review_trust=trust, acceptance=enabled
    )

    assert asked_for_checks(server) == []
    assert len(server.requests) == 1  # the review was asked, so the server was reachable
    assert "acceptance" not in [g.name for g in verdict.gates]


def test_a_check_that_hangs_on_the_new_code_is_refuted_and_killed(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    record_pid = f"import os\nopen({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
    source = record_pid + "from calc import mul\nassert mul(2, 3) == 6\n"
    hangs = STUB.replace("raise NotImplementedError", "while True:\n        pass")
    verdict, _ = run(
        tmp_path,
        [checks({"name": "hang", "source": source})],
        {"calc.py": STUB},
        {"calc.py": hangs},
        acceptance_timeout_s=1,
    )

    assert statuses(verdict) == ["refuted"]
    (failed,) = [f for f in verdict.findings if f.code == "acceptance_failed"]
    assert "did not finish within 1s" in failed.message
    for pid in map(int, pids.read_text().split()):  # the after run and the before run
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_the_workspace_is_untouched_by_the_checks(tmp_path: Path) -> None:
    writes = {
        "name": "writes",
        "source": "open('made-by-check.txt', 'w').write('x')\nfrom calc import mul\nassert mul(2, 3) == 6\n",
    }
    verdict, _ = run(tmp_path, [checks(writes), APPROVE], {"calc.py": STUB}, {"calc.py": RIGHT})

    assert statuses(verdict) == ["confirmed"]
    assert sorted(p.name for p in (tmp_path / "ws").iterdir() if p.name != ".overseer") == ["calc.py"]


def evidence_without_snapshots(tmp_path: Path) -> Evidence:
    full = attempt(tmp_path / "ws", {"calc.py": STUB}, {"calc.py": RIGHT}, TASK)
    return Evidence(full.task, full.attempt, full.workspace, full.result, full.changes, full.diff)


def test_without_snapshots_nothing_is_asked(tmp_path: Path) -> None:
    with ScriptedOllamaServer([APPROVE]) as server:
        verdict = judge(server).judge(evidence_without_snapshots(tmp_path))
    assert asked_for_checks(server) == [] and "acceptance" not in [g.name for g in verdict.gates]


def test_malformed_items_cost_only_themselves_and_extra_checks_are_dropped() -> None:
    junk: list[Any] = ["assert True", {"name": "no source"}, {"source": "  "}]
    answer = {"checks": [*junk, {"source": "a = 1"}, {"name": " x ", "source": "b"}, {"source": "c"}, {"source": "d"}]}
    assert parse_checks(answer) == [("check 4", "a = 1"), ("x", "b"), ("check 6", "c")]


def test_a_changed_class_is_shown_with_its_fields_and_method_signatures(tmp_path: Path) -> None:
    code = (
        "import dataclasses\n\n\n@dataclasses.dataclass\nclass Box:\n"
        '    """A box."""\n\n    size: int = 3\n\n'
        '    def grow(self, n: int) -> "Box":\n        """Bigger by n."""\n        return Box(self.size + n)\n\n\n'
        "def untouched():\n    return 1\n"
    )
    (tmp_path / "box.py").write_text(code)

    shown = stubs(tmp_path / "box.py", {12})  # the line of grow's body

    assert shown == (
        '@dataclasses.dataclass\nclass Box:\n    """A box."""\n    size: int = 3\n\n'
        '    def grow(self, n: int) -> \'Box\':\n        """Bigger by n."""\n        ...'
    )
