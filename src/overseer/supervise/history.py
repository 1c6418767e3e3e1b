"""The findings of earlier attempts, summarised by the supervisor model when they are too long to quote.

A summary is cached in memory, keyed by a hash of the history's text, for as long as the object
lives (one run). That is the simplest cache that pays: within an attempt the same history goes
into several prompts (the review, the retry, a drafted prompt), and a new attempt adds findings,
so its history hashes differently and would miss any cache kept across runs anyway. Nothing is
written to disk, so there is nothing to invalidate or clean up.

A summary is only as good as the model: the packaged tiny model's may be poor, so it is always
cut to the room it was given, and when the model gives none the latest attempts are quoted instead.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from overseer.errors import SupervisorError
from overseer.llm.base import LLM, Window
from overseer.llm.tokens import prompt_budget
from overseer.supervise.context import Priority, Section, fit
from overseer.supervise.prompts import render

logger = logging.getLogger(__name__)
MAX_SUMMARY_CHARS = 600  # bounded so a complete answer fits a small max_tokens (see review.py)
SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"summary": {"type": "string", "maxLength": MAX_SUMMARY_CHARS}},
    "required": ["summary"],
    "additionalProperties": False,
}


def history_text(attempts: Sequence[Sequence[str]]) -> str:
    """Earlier attempts' findings, one block each, oldest first."""
    blocks = []
    for number, findings in enumerate(attempts, start=1):
        lines = "\n".join(f"- {finding}" for finding in findings) or "- no findings"
        blocks.append(f"Attempt {number}:\n{lines}")
    return "\n".join(blocks)


class HistorySummaries:
    """Summaries of attempt histories by the supervisor model, each asked for once per history text."""

    def __init__(self, llm: LLM, window: Window | None = None) -> None:
        self._llm = llm
        self._window = window or llm.window  # what a question may take: by default the model's own
        self._cache: dict[str, str] = {}

    def section(self, history: str, priority: int = Priority.HISTORY) -> Section:
        """The history as a section that is summarised, rather than cut, when it does not fit."""
        return Section("history", history, priority, keep="tail", shorten=self.shorten)

    def shorten(self, history: str, budget: int) -> str:
        """A summary of `history` within `budget` tokens, or its latest attempts when the model gives none."""
        key = hashlib.sha256(history.encode("utf-8")).hexdigest()
        if key not in self._cache:
            try:
                self._cache[key] = self._summarise(history)
            except SupervisorError as exc:  # not cached: the next prompt may ask again
                logger.warning("the supervisor model could not summarise the attempts' history: %s", exc)
                return fit(history, budget, self._llm.tokenizer(), keep="tail")
        return fit(self._cache[key], budget, self._llm.tokenizer(), keep="head")  # its heading first

    def _summarise(self, history: str) -> str:
        counter = self._llm.tokenizer()
        system = render("history_system.j2", None, max_chars=MAX_SUMMARY_CHARS)
        frame = counter.count(render("history.j2", None, history=""))
        room = prompt_budget(self._window.context, self._window.answer, system, counter) - frame
        quoted = fit(history, room, counter, keep="tail")  # the latest attempts matter most
        if not quoted:
            raise SupervisorError("no room in the supervisor's context to summarise the history", room=room)
        answer = self._llm.complete_json(system, render("history.j2", None, history=quoted), SUMMARY_SCHEMA)
        summary = answer.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            raise SupervisorError("the supervisor model gave no summary", answer=str(answer)[:200])
        return f"Earlier attempts, summarised by the supervisor model:\n{summary.strip()}"
