"""The review stage: on the real packaged model, and its mapping of answers to findings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from overseer.domain import AgentResult, Evidence, FileChange, GateResult, Review, Route, Severity
from overseer.errors import SupervisorError
from overseer.llm.base import InvalidAnswer, Window
from overseer.llm.embedded import EmbeddedConfig, EmbeddedLLM
from overseer.llm.tokens import Estimate, prompt_budget
from overseer.supervise.review import REVIEW_SCHEMA, Reviewer
from tests.supervise.llms import ScriptedLLM

DIFF = """\
diff --git a/calc.py b/calc.py
--- a/calc.py
+++ b/calc.py
@@ -1,2 +1,5 @@
 def sub(a, b):
     return a - b
+
+def add(a, b):
+    return a + b
"""
PASSING = (GateResult("pytest", True, "3 passed", passed_count=3),)


def evidence(diff: str = DIFF, text: str = "Done! I added add() and all tests pass.") -> Evidence:
    return Evidence(
        task="Add a function add(a, b) to calc.py that returns the sum.",
        attempt=1,
        workspace=Path("/nonexistent/workspace"),
        result=AgentResult(session_id="session-1", is_error=False, text=text),
        changes=(FileChange("calc.py", "modified", "a" * 40, "b" * 40),),
        diff=diff,
    )


def test_the_real_model_gives_a_review_with_a_score_between_0_and_1(embedded_llm: EmbeddedLLM) -> None:
    review, findings = Reviewer(embedded_llm).review(evidence(), PASSING)
    assert isinstance(review, Review)
    assert 0.0 <= review.score <= 1.0
    assert len(review.reasons) <= 3
    # The packaged tiny model is untrusted: its opinion is shown and never stops an attempt.
    assert all(finding.stage == "review" and finding.severity is Severity.INFO for finding in findings)


def test_the_real_model_still_reviews_a_diff_far_longer_than_its_context() -> None:
    """The reviewer leaves the budget to the LLM; a small context keeps this test quick."""
    small = EmbeddedLLM(EmbeddedConfig(n_ctx=768))
    review, findings = Reviewer(small).review(evidence(diff=DIFF * 300), PASSING)
    assert review is not None, findings


def test_an_approval_gives_a_normalised_score_and_no_finding() -> None:
    llm = ScriptedLLM({"approve": True, "score": 8, "reasons": ["adds add()", "tests pass"]})
    review, findings = Reviewer(llm).review(evidence(), PASSING)
    assert review == Review(approve=True, score=0.8, reasons=("adds add()", "tests pass"))
    assert findings == ()


def test_a_trusted_models_rejection_blocks_and_carries_the_reasons_to_the_agent() -> None:
    llm = ScriptedLLM({"approve": False, "score": 2, "reasons": ["add() is missing", "no test added"]})
    review, findings = Reviewer(llm, trust=0.7).review(evidence(), PASSING)
    assert review is not None and not review.approve and review.score == 0.2 and review.trusted
    [finding] = findings
    assert (finding.code, finding.severity, finding.route) == ("review_rejected", Severity.BLOCKING, Route.AGENT)
    assert "add() is missing" in finding.message and "no test added" in finding.message


def test_an_untrusted_models_rejection_is_shown_and_decides_nothing() -> None:
    llm = ScriptedLLM({"approve": False, "score": 2, "reasons": ["add() is missing"]})
    review, findings = Reviewer(llm, trust=0.0).review(evidence(), PASSING)
    assert review is not None and not review.trusted
    [finding] = findings
    assert (finding.code, finding.severity, finding.route) == ("review_opinion", Severity.INFO, Route.NOBODY)
    assert "add() is missing" in finding.message


def test_a_trusted_model_that_gives_no_answer_stops_for_a_human_as_overseers_problem() -> None:
    """The provider has already asked again on transient failures; the reviewer does not add its own round."""
    llm = ScriptedLLM(
        SupervisorError("the Ollama server failed", attempts=4), {"approve": True, "score": 9, "reasons": []}
    )
    review, findings = Reviewer(llm, trust=0.7).review(evidence(), PASSING)
    assert review is None
    assert len(llm.prompts) == 1
    [finding] = findings
    # overseer's own problem: never feedback for the agent, and a person decides
    assert (finding.code, finding.severity, finding.route) == ("review_unavailable", Severity.BLOCKING, Route.OVERSEER)
    assert "the Ollama server failed" in finding.message and "attempts=4" in finding.message


def test_a_trusted_answer_out_of_shape_is_asked_for_once_more() -> None:
    out_of_shape = InvalidAnswer("the supervisor model answered invalid JSON", answer="Sure! yes")
    llm = ScriptedLLM(out_of_shape, {"approve": False, "score": 3, "reasons": ["add() is missing"]})
    review, findings = Reviewer(llm, trust=0.7).review(evidence(), PASSING)
    assert len(llm.prompts) == 2
    assert review is not None and not review.approve
    assert [finding.code for finding in findings] == ["review_rejected"]


def test_a_trusted_answer_out_of_shape_twice_is_not_sure_never_an_approval() -> None:
    llm = ScriptedLLM({"approve": True, "score": 11, "reasons": []})  # approves, out of the schema's range
    review, findings = Reviewer(llm, trust=0.7).review(evidence(), PASSING)
    assert review is None
    assert len(llm.prompts) == 2  # asked once more, never a third time
    [finding] = findings
    assert (finding.code, finding.severity, finding.route) == ("review_unavailable", Severity.BLOCKING, Route.OVERSEER)
    assert "asked 2 times" in finding.message


@pytest.mark.parametrize(
    "failure",
    [SupervisorError("the supervisor model failed"), InvalidAnswer("answered invalid JSON")],
    ids=["no-answer", "out-of-shape"],
)
def test_an_untrusted_model_that_fails_is_not_asked_again_and_decides_nothing(failure: SupervisorError) -> None:
    llm = ScriptedLLM(failure)
    review, findings = Reviewer(llm, trust=0.0).review(evidence(), PASSING)
    assert review is None and len(llm.prompts) == 1
    assert [(f.code, f.severity, f.route) for f in findings] == [("review_missing", Severity.INFO, Route.NOBODY)]


@pytest.mark.parametrize(
    "answer",
    [
        {"approve": "yes", "score": 8, "reasons": []},
        {"approve": True, "score": 11, "reasons": []},
        {"approve": True, "score": True, "reasons": []},
        {"approve": True, "reasons": []},
        {"approve": True, "score": 5, "reasons": "fine"},
    ],
    ids=["approve-not-bool", "score-above-10", "score-bool", "score-missing", "reasons-not-list"],
)
def test_an_answer_outside_the_schema_makes_the_review_unavailable(answer: dict[str, Any]) -> None:
    review, findings = Reviewer(ScriptedLLM(answer), trust=0.7).review(evidence(), PASSING)
    assert review is None
    assert [finding.code for finding in findings] == ["review_unavailable"]


def test_reasons_from_a_provider_that_ignores_the_bounds_are_trimmed() -> None:
    answer = {"approve": True, "score": 7, "reasons": ["  ok  ", "", 3, "x" * 500, "four", "five"]}
    review, _ = Reviewer(ScriptedLLM(answer)).review(evidence(), PASSING)
    assert review is not None
    assert review.reasons == (
        "ok",
        "x" * REVIEW_SCHEMA["properties"]["reasons"]["items"]["maxLength"],
        "four",
    )


def test_the_prompt_carries_the_task_the_message_the_gates_and_a_truncated_diff() -> None:
    llm = ScriptedLLM({"approve": True, "score": 9, "reasons": []})
    long_diff = DIFF + "".join(f"+line {n}\n" for n in range(2000))
    gates = (*PASSING, GateResult("ruff", False, "2 errors"), GateResult("mypy", None, "no Python files"))
    Reviewer(llm, window=Window(1024, 256)).review(evidence(diff=long_diff, text="All done, trust me."), gates)
    [(system, user)] = llm.prompts
    assert "Add a function add(a, b) to calc.py" in user
    assert "All done, trust me." in user
    assert "pytest: passed (3 passed)" in user
    assert "ruff: FAILED (2 errors)" in user
    assert "mypy: did not apply" in user
    assert "+def add(a, b):" in user
    assert "+line 1999" not in user  # the tail of the diff was cut
    assert f"of {len(long_diff)} characters" in user
    assert Estimate().count(user) <= prompt_budget(1024, 256, system, Estimate())
