"""A stand-in supervisor model for the stages' tests: it gives the answers it is handed."""

from __future__ import annotations

from typing import Any, ClassVar

from overseer.errors import SupervisorError
from overseer.llm.base import Window
from overseer.llm.tokens import Estimate, TokenCounter

Scripted = dict[str, Any] | SupervisorError


class ScriptedLLM:
    """An LLM that gives the answers it is handed, in turn, the last one again and again (an error is raised).

    The real model decides for itself, so no prompt makes it reject, fail or answer out of schema
    on demand; this stand-in is the only way to reach each branch of the reviewer's mapping, and it
    records the prompt so a test can check what the reviewer asked.
    """

    name: ClassVar[str] = "scripted"
    default_trust: ClassVar[float] = 0.0
    window: Window = Window()

    def __init__(self, *answers: Scripted) -> None:
        self.answers = list(answers)
        self.prompts: list[tuple[str, str]] = []

    def preflight(self) -> None:
        pass

    def complete_json(self, system: str, user: str, schema: dict[str, Any]) -> dict[str, Any]:
        self.prompts.append((system, user))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, SupervisorError):
            raise answer
        return answer

    def tokenizer(self) -> TokenCounter:
        return Estimate()
