"""Who writes the agent's prompt: a trusted supervisor model's brief, rendered by overseer, or the templates.

The model is the stand-in `ScriptedLLM` here because only it can be made to answer well, badly or
not at all on demand; the drafting on a real model is tested end to end against llama.cpp's server
(tests/e2e/test_drafted_prompts.py).
"""

from __future__ import annotations

from pathlib import Path

from overseer.errors import SupervisorError
from overseer.llm.base import Window
from overseer.llm.tokens import Estimate, prompt_budget
from overseer.supervise.draft import PromptWriter
from overseer.supervise.prompts import render
from tests.supervise.llms import ScriptedLLM

TASK = "Fix add() in calc.py: add(2, 3) must be 5."
BRIEF = {
    "criteria": ["add(2, 3) returns 5", "add(-1, 1) returns 0", "add(2, 3) returns 5"],
    "read_first": ["calc.py", "tests/test_calc.py", "made_up.py"],
    "do_not_touch": ["tests/test_calc.py"],
}


def workspace(root: Path) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (root / "tests" / "test_calc.py").write_text("from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    (root / "README.md").write_text("# calc\n")
    return root


def test_without_a_trusted_model_the_templates_write_the_prompt_and_no_question_is_asked(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    untrusted = ScriptedLLM(BRIEF)
    for writer in (PromptWriter(root), PromptWriter(root, untrusted, trust=0.3)):
        prompt = writer.first(TASK)
        assert prompt.source == "template" and prompt.template == "task.j2" and prompt.note == ""
        assert prompt.text == render(
            "task.j2",
            root,
            task=TASK,
            workspace=root,
            files=["README.md", "calc.py", "tests/test_calc.py"],
            guidance="",
        )
        retry = writer.retry(TASK, "tests fail: test_add")
        assert retry.source == "template" and "tests fail: test_add" in retry.text
    assert untrusted.prompts == []


def test_a_trusted_model_briefs_the_agent_and_the_task_stays_verbatim(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    llm = ScriptedLLM(BRIEF)
    prompt = PromptWriter(root, llm, trust=0.7).first(TASK, guidance="Keep it small.")
    assert prompt.source == "supervisor" and prompt.template == "drafted.j2"
    assert TASK in prompt.text and "Keep it small." in prompt.text  # the user's words, untouched
    assert "Do not weaken or delete existing tests" in prompt.text  # overseer's rules still follow the task
    assert "- add(2, 3) returns 5\n- add(-1, 1) returns 0\n" in prompt.text  # a repeat is dropped
    assert "- calc.py\n- tests/test_calc.py\n" in prompt.text and "made_up.py" not in prompt.text
    assert prompt.record()["draft"] == {
        "criteria": ["add(2, 3) returns 5", "add(-1, 1) returns 0"],
        "read_first": ["calc.py", "tests/test_calc.py"],
        "do_not_touch": ["tests/test_calc.py"],
    }
    [(system, question)] = llm.prompts
    assert "acceptance criteria" in system
    assert TASK in question and "### calc.py\ndef add(a, b):" in question and "# calc" in question


def test_a_failed_or_empty_draft_falls_back_to_the_templates_and_says_why(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    template = PromptWriter(root).first(TASK).text
    for answer, why in (
        (SupervisorError("the server refused the request"), "refused"),
        ({"criteria": [], "read_first": ["calc.py"], "do_not_touch": []}, "no acceptance criteria"),
        ({"criteria": "not a list", "read_first": None}, "no acceptance criteria"),
    ):
        prompt = PromptWriter(root, ScriptedLLM(answer), trust=0.7).first(TASK)
        assert prompt.source == "template" and prompt.text == template
        assert why in prompt.note


def test_a_retry_carries_overseers_findings_verbatim_and_the_models_explanation(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    llm = ScriptedLLM({"what_was_wrong": ["add() subtracts"], "next_steps": ["return a + b in calc.py"]})
    feedback = "Fix these problems:\n- tests fail on the new code: test_add (assert -1 == 5)"
    prompt = PromptWriter(root, llm, trust=0.7).retry(
        TASK, feedback, diff="-    return a - b\n+    return a * b\n", history=[["tests fail: test_add"]]
    )
    assert prompt.source == "supervisor" and feedback in prompt.text
    assert "What was wrong:\n- add() subtracts\n" in prompt.text and "- return a + b in calc.py" in prompt.text
    [(_, question)] = llm.prompts
    assert "+    return a * b" in question and "Attempt 1:\n- tests fail: test_add" in question


def test_the_drafting_question_fits_the_models_window_whatever_the_workspace_holds(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    (root / "calc.py").write_text("def add(a, b):\n    return a - b\n" + "# padding\n" * 1_000_000)  # 10 MB
    llm = ScriptedLLM(BRIEF)
    llm.window = Window(1024, 128)
    history = [[f"tests fail ({n})"] * 20 for n in range(100)]
    PromptWriter(root, llm, trust=0.7).first(TASK, history=history)
    PromptWriter(root, llm, trust=0.7).retry(TASK, "tests fail", diff="+x\n" * 3_000_000, history=history)
    for system, question in llm.prompts:
        if "summary" not in system:  # the history's summary is a question of its own, packed the same way
            assert Estimate().count(question) <= prompt_budget(1024, 128, system, Estimate())
            assert TASK in question
