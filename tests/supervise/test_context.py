"""The context builder: sections packed by priority into a token budget they never exceed."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overseer.domain import AgentResult, Evidence, FileChange
from overseer.errors import SupervisorError
from overseer.llm.base import Window
from overseer.llm.embedded import EmbeddedLLM, default_model_path
from overseer.llm.tokens import Estimate, GGUFVocab, TokenCounter, prompt_budget
from overseer.supervise.context import Priority, Section, fit, pack, project_notes, relevant_files
from overseer.supervise.history import HistorySummaries, history_text
from overseer.supervise.review import Reviewer

NAMES = [priority.name.lower() for priority in Priority]
TEN_MB_DIFF = "".join(f"+line {n} of a very large generated file\n" for n in range(260_000))  # ~10 MB
HUNDRED_ATTEMPTS = history_text([[f"attempt {n}: test_calc.py::test_add failed ({n})"] * 3 for n in range(100)])


@pytest.fixture(scope="module")
def vocab() -> Iterator[GGUFVocab]:
    """The packaged model's real llama.cpp vocabulary, loaded once (vocab-only: a fraction of a second),
    and freed while the interpreter can still free it."""
    counter = GGUFVocab(default_model_path())
    yield counter
    del counter
    gc.collect()


def sections(texts: list[str]) -> list[Section]:
    return [Section(name, text, priority) for name, text, priority in zip(NAMES, texts, Priority, strict=False)]


def fits(budget: int, counter: TokenCounter, texts: list[str]) -> None:
    """The property itself: packed within the budget, or refused because the frame alone is too big."""
    packable = sections(texts)
    try:
        context = pack(packable, budget, counter)
    except SupervisorError:
        everything_out = f"[left out to fit the supervisor's context: {', '.join(s.name for s in packable)}]"
        assert counter.count(everything_out) > budget
        return
    assert counter.count(context.text) == context.tokens <= budget


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    budget=st.integers(min_value=0, max_value=3000),
    texts=st.lists(st.text(max_size=3000), min_size=1, max_size=5),
)
def test_the_packed_context_never_exceeds_its_budget_by_the_estimate(budget: int, texts: list[str]) -> None:
    """The bulk of the examples count with the estimate: it is pure arithmetic, so hypothesis can try
    hundreds of inputs in a second; the exact tokenizer gets its own examples below."""
    fits(budget, Estimate(), texts)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    budget=st.integers(min_value=0, max_value=1500),
    texts=st.lists(st.text(max_size=2000), min_size=1, max_size=5),
)
def test_the_packed_context_never_exceeds_its_budget_by_the_real_tokenizer(
    vocab: GGUFVocab, budget: int, texts: list[str]
) -> None:
    """The real llama.cpp vocabulary, where pieces counted apart may count differently together."""
    fits(budget, vocab, texts)


@pytest.mark.parametrize("exact", [False, True], ids=["estimate", "exact"])
@pytest.mark.parametrize("budget", [0, 40, 700, 8000])
def test_a_10_mb_diff_and_a_100_attempt_history_still_fit(vocab: GGUFVocab, exact: bool, budget: int) -> None:
    counter: TokenCounter = vocab if exact else Estimate()
    texts = ["Add add(a, b) to calc.py.", HUNDRED_ATTEMPTS, "", TEN_MB_DIFF, "# calc\nA calculator."]
    fits(budget, counter, texts)


def test_lower_priorities_are_cut_first_and_the_note_names_what_was_left_out() -> None:
    counter = Estimate()
    texts = ["the task " * 10, "the history " * 50, "the files " * 50, "the diff " * 1000, "the notes " * 50]
    context = pack(sections(texts), 600, counter)
    packed = context.packed
    assert packed["task"] == texts[0] and packed["history"] == texts[1] and packed["files"] == texts[2]
    assert packed.cut == ("diff",) and packed["diff"].endswith("characters cut to fit the supervisor's context]")
    assert packed.left_out == ("notes",) and packed["notes"] == ""
    assert context.text.endswith("[left out to fit the supervisor's context: notes]")
    assert context.tokens <= 600


def test_the_output_keeps_the_given_order_whatever_the_priorities() -> None:
    ordered = [Section("intro", "first", 4), Section("body", "second", 0), Section("outro", "third", 2)]
    assert pack(ordered, 100, Estimate()).text == "first\n\nsecond\n\nthird"


def test_a_cut_keeps_the_head_or_the_tail_on_whole_lines() -> None:
    text = "".join(f"line {n}\n" for n in range(1000))
    head, tail = fit(text, 50, Estimate(), "head"), fit(text, 50, Estimate(), "tail")
    assert head.startswith("line 0\n") and "line 999" not in head and f"of {len(text)} characters cut" in head
    assert tail.endswith("line 999\n") and "line 0\n" not in tail
    assert fit(text, 3, Estimate()) == ""  # not even the marker fits


class SummarisingLLM:
    """Summarises on demand and counts how often it was asked. The real model decides what it says,
    so a summary that fails, or one far too long, can only be had from this stand-in."""

    name: ClassVar[str] = "summarising"
    default_trust: ClassVar[float] = 0.0
    window: ClassVar[Window] = Window()

    def __init__(self, summary: str | None = "Attempts 1-100 failed test_add: add() returns a - b.") -> None:
        self.summary = summary
        self.questions: list[str] = []

    def preflight(self) -> None:
        pass

    def complete_json(self, system: str, user: str, schema: dict[str, Any]) -> dict[str, Any]:
        self.questions.append(user)
        if self.summary is None:
            raise SupervisorError("the model is gone")
        return {"summary": self.summary}

    def tokenizer(self) -> TokenCounter:
        return Estimate()


def test_a_history_too_long_is_summarised_once_and_the_summary_reused() -> None:
    llm = SummarisingLLM()
    summaries = HistorySummaries(llm, Window(2048, 256))
    task = Section("task", "Add add(a, b) to calc.py.", Priority.TASK)
    for _ in range(3):  # the review, the retry, a drafted prompt: one question between them
        context = pack([task, summaries.section(HUNDRED_ATTEMPTS)], 300, Estimate())
        assert "add() returns a - b" in context.packed["history"] and context.tokens <= 300
    assert len(llm.questions) == 1
    assert "attempt 99" in llm.questions[0]  # the latest attempts were what the model was shown
    assert pack([summaries.section("Attempt 1:\n- short")], 300, Estimate()).text == "Attempt 1:\n- short"
    assert len(llm.questions) == 1  # a history that fits is quoted, never summarised


def test_a_failed_or_rambling_summary_still_fits() -> None:
    failing = HistorySummaries(SummarisingLLM(None), Window(2048, 256))
    context = pack([failing.section(HUNDRED_ATTEMPTS)], 200, Estimate())
    assert context.packed["history"].rstrip().endswith("(99)") and context.tokens <= 200  # the latest attempts
    rambling = HistorySummaries(SummarisingLLM("blah " * 5000), Window(2048, 256))
    assert pack([rambling.section(HUNDRED_ATTEMPTS)], 200, Estimate()).tokens <= 200


def test_the_packaged_model_summarises_a_100_attempt_history_within_budget(embedded_llm: EmbeddedLLM) -> None:
    """With the tiny model the summary may be poor; it must still come back, and fit."""
    # A 768-token question keeps this quick; the history is cut to it before the model sees it.
    summaries = HistorySummaries(embedded_llm, Window(768, embedded_llm.config.max_tokens))
    context = pack([summaries.section(HUNDRED_ATTEMPTS)], 120, embedded_llm.tokenizer())
    assert context.packed["history"].startswith("Earlier attempts, summarised by the supervisor model:")
    assert context.tokens <= 120


def workspace(tmp_path: Path) -> Path:
    files = {
        "calc.py": "def add(a, b):\n    return a - b\n",
        "other.py": "X = 1\n",
        "tests/test_calc.py": "from calc import add\n",
        "tests/test_sums.py": "import calc\n",
        "tests/test_other.py": "from other import X\n",
        "README.md": "# calc\nA calculator.\n",
        "CLAUDE.md": "Run pytest.\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_relevant_files_are_those_named_changed_and_the_tests_that_cover_them(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    assert relevant_files(root, "Fix add() in calc.py.") == ["calc.py", "tests/test_calc.py", "tests/test_sums.py"]
    assert relevant_files(root, "Make it faster.", ["other.py"]) == ["other.py", "tests/test_other.py"]
    assert relevant_files(root / "missing", "Fix calc.py.") == [] == relevant_files(root, "Fix mycalc.py.")
    assert project_notes(root) == "### README.md\n# calc\nA calculator.\n\n### CLAUDE.md\nRun pytest.\n"


class CountingLLM:
    """Answers every review the same, and keeps the prompt; counts with the real vocabulary."""

    name: ClassVar[str] = "counting"
    default_trust: ClassVar[float] = 0.0
    window: ClassVar[Window] = Window()

    def __init__(self, counter: TokenCounter) -> None:
        self.counter = counter
        self.prompts: list[tuple[str, str]] = []

    def preflight(self) -> None:
        pass

    def complete_json(self, system: str, user: str, schema: dict[str, Any]) -> dict[str, Any]:
        self.prompts.append((system, user))
        return {"approve": True, "score": 7, "reasons": []}

    def tokenizer(self) -> TokenCounter:
        return self.counter


def test_the_review_prompt_carries_the_related_files_and_fits_the_models_context(
    tmp_path: Path, vocab: GGUFVocab
) -> None:
    root = workspace(tmp_path)
    evidence = Evidence(
        task="Fix add() in calc.py.",
        attempt=1,
        workspace=root,
        result=AgentResult(session_id="s", is_error=False, text="Fixed."),
        changes=(FileChange("calc.py", "modified", "a" * 40, "b" * 40),),
        diff=TEN_MB_DIFF,
    )
    llm = CountingLLM(vocab)
    review, _ = Reviewer(llm, window=Window(1024, 128)).review(evidence, ())
    [(system, user)] = llm.prompts
    assert review is not None
    assert vocab.count(user) <= prompt_budget(1024, 128, system, vocab)
    assert "Fix add() in calc.py." in user and "+line 0 of" in user and "characters cut to fit" in user
    assert "left out to fit the supervisor's context: files, notes" in user  # the diff took the room

    roomy = CountingLLM(vocab)
    Reviewer(roomy, window=Window(4096, 128)).review(
        Evidence(**{**evidence.__dict__, "diff": "+    return a + b\n"}), ()
    )
    [(_, user)] = roomy.prompts
    assert "### tests/test_calc.py\nfrom calc import add" in user and "Run pytest." in user
    assert "left out" not in user


def test_a_context_too_small_for_the_template_is_a_missing_review_not_a_crash(vocab: GGUFVocab) -> None:
    evidence = Evidence(
        task="Fix add().",
        attempt=1,
        workspace=Path("/nonexistent/workspace"),
        result=AgentResult(session_id="s", is_error=False, text="Fixed."),
        diff="+    return a + b\n",
    )
    llm = CountingLLM(vocab)
    review, findings = Reviewer(llm, window=Window(300, 200)).review(evidence, ())
    assert review is None and llm.prompts == []
    assert [finding.code for finding in findings] == ["review_missing"]
    assert "leaves no room" in findings[0].message
