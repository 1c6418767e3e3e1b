"""The agent's prompt: drafted by a capable supervisor model, or rendered from the templates.

With a trusted model (trust >= 0.5) the supervisor reads the task, the relevant files, the
project's notes and what went wrong before, packed into its context (`context.py`), and briefs the
agent: the acceptance criteria overseer will check, the files to read first, what not to touch.
On a retry it says what was wrong and what to do next, in the agent's terms. overseer renders
that brief with the templates; the model never writes the whole prompt:

- the task is always quoted verbatim, and overseer's rules and feedback always follow it, so a
  model that misreads the task can add a poor brief, never lose the task or the findings;
- the files it names must exist in the workspace, so a brief never sends the agent looking for
  a file the model made up.

With the packaged tiny model (untrusted), or when drafting fails (no answer, an answer with nothing
usable in it), the templates alone write the prompt, and the `Prompt` says why. Either way the
prompt is recorded with its attempt (the store's `prompt` event), so a person can see who wrote it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from overseer.domain import TRUSTED_REVIEW
from overseer.errors import SupervisorError
from overseer.llm.base import LLM
from overseer.llm.tokens import prompt_budget
from overseer.supervise.context import (
    Packed,
    Priority,
    Section,
    files_text,
    pack,
    project_notes,
    relevant_files,
    workspace_files,
)
from overseer.supervise.history import HistorySummaries, history_text
from overseer.supervise.prompts import render

logger = logging.getLogger(__name__)

Source = Literal["supervisor", "template"]
MAX_ITEMS = 5
MAX_FILES = 8
MAX_ITEM_CHARS = 200


def _strings(items: int, chars: int = MAX_ITEM_CHARS) -> dict[str, Any]:
    """A bounded list of strings: bounded so a grammar-constrained answer fits a small max_tokens."""
    return {"type": "array", "items": {"type": "string", "maxLength": chars}, "maxItems": items}


def _schema(**fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": fields, "required": list(fields), "additionalProperties": False}


FIRST_SCHEMA = _schema(
    criteria=_strings(MAX_ITEMS), read_first=_strings(MAX_FILES, 120), do_not_touch=_strings(MAX_ITEMS, 120)
)
RETRY_SCHEMA = _schema(what_was_wrong=_strings(MAX_ITEMS), next_steps=_strings(MAX_ITEMS))


@dataclass(frozen=True)
class Prompt:
    """An attempt's prompt and who wrote it."""

    text: str
    source: Source
    template: str  # the template it was rendered with
    note: str = ""  # why the templates alone wrote it, when a capable model was there to draft it
    draft: dict[str, list[str]] = field(default_factory=dict)  # the model's brief, as rendered

    def record(self) -> dict[str, Any]:
        """What the store keeps with the attempt (the text itself is the attempt's `prompt`)."""
        return {"source": self.source, "template": self.template, "note": self.note, "draft": self.draft}


class PromptWriter:
    """Writes each attempt's prompt for one workspace; drafts with `llm` when it is trusted."""

    def __init__(self, workspace: Path, llm: LLM | None = None, *, trust: float = 0.0) -> None:
        self.workspace = workspace
        self._llm = llm if llm is not None and trust >= TRUSTED_REVIEW else None  # an untrusted brief misleads
        self._summaries = HistorySummaries(self._llm) if self._llm is not None else None

    @property
    def drafting(self) -> bool:
        return self._llm is not None

    def first(self, task: str, *, guidance: str = "", history: Sequence[Sequence[str]] = ()) -> Prompt:
        """A new conversation's prompt: the whole task, and the supervisor's brief when it gives one."""
        files = workspace_files(self.workspace)
        variables = {"task": task, "workspace": self.workspace, "guidance": guidance, "files": files}
        if self._llm is None:
            return Prompt(render("task.j2", self.workspace, **variables), "template", "task.j2")
        try:
            draft = self._first_draft(task, guidance, history, files)
        except SupervisorError as exc:
            return self._fallback("task.j2", variables, exc)
        return Prompt(
            render("drafted.j2", self.workspace, **variables, **draft), "supervisor", "drafted.j2", draft=draft
        )

    def retry(
        self,
        task: str,
        feedback: str,
        *,
        guidance: str = "",
        diff: str = "",
        history: Sequence[Sequence[str]] = (),
    ) -> Prompt:
        """A continued conversation's prompt: overseer's feedback verbatim, and what the supervisor
        makes of it when it is trusted and there is something to explain."""
        variables = {"feedback": feedback, "guidance": guidance}
        if self._llm is None or not feedback.strip():
            return Prompt(render("retry.j2", self.workspace, **variables), "template", "retry.j2")
        try:
            draft = self._retry_draft(task, feedback, diff, history)
        except SupervisorError as exc:
            return self._fallback("retry.j2", variables, exc)
        text = render("drafted_retry.j2", self.workspace, **variables, **draft)
        return Prompt(text, "supervisor", "drafted_retry.j2", draft=draft)

    def _fallback(self, template: str, variables: dict[str, Any], exc: SupervisorError) -> Prompt:
        logger.warning("the supervisor could not draft the prompt, using %s: %s", template, exc)
        note = f"the supervisor's draft was unusable, so the template wrote it: {exc}"
        return Prompt(render(template, self.workspace, **variables), "template", template, note=note)

    def _first_draft(
        self, task: str, guidance: str, history: Sequence[Sequence[str]], files: Sequence[str]
    ) -> dict[str, list[str]]:
        sections = [
            Section("task", "\n\n".join(part for part in (task, guidance) if part), Priority.TASK),
            self._history_section(history),
            Section("listing", "\n".join(files), Priority.FILES),
            Section("files", files_text(self.workspace, relevant_files(self.workspace, task)), Priority.FILES),
            Section("notes", project_notes(self.workspace), Priority.NOTES),
        ]
        answer = self._ask("draft_system.j2", "draft.j2", sections, FIRST_SCHEMA)
        draft = {
            "criteria": _clean(answer.get("criteria"), MAX_ITEMS),
            "read_first": [path for path in _clean(answer.get("read_first"), MAX_FILES) if self._is_file(path)],
            "do_not_touch": _clean(answer.get("do_not_touch"), MAX_ITEMS),
        }
        if not draft["criteria"]:  # the brief's point: without criteria it adds nothing the template lacks
            raise SupervisorError("the supervisor's draft states no acceptance criteria", answer=str(answer)[:200])
        return draft

    def _retry_draft(
        self, task: str, feedback: str, diff: str, history: Sequence[Sequence[str]]
    ) -> dict[str, list[str]]:
        sections = [
            Section("task", task, Priority.TASK),
            Section("feedback", feedback, Priority.TASK),
            self._history_section(history),
            Section("diff", diff, Priority.DIFF),
        ]
        answer = self._ask("draft_retry_system.j2", "draft_retry.j2", sections, RETRY_SCHEMA)
        draft = {"what_was_wrong": _clean(answer.get("what_was_wrong"), MAX_ITEMS)}
        draft["next_steps"] = _clean(answer.get("next_steps"), MAX_ITEMS)
        if not (draft["what_was_wrong"] or draft["next_steps"]):
            raise SupervisorError("the supervisor's retry draft is empty", answer=str(answer)[:200])
        return draft

    def _is_file(self, path: str) -> bool:
        """A file the brief names is one in the workspace: never a made-up one, never one outside it."""
        resolved = (self.workspace / path).resolve()
        return resolved.is_relative_to(self.workspace.resolve()) and resolved.is_file()

    def _history_section(self, history: Sequence[Sequence[str]]) -> Section:
        assert self._summaries is not None
        return self._summaries.section(history_text(history) if history else "")

    def _ask(
        self, system_template: str, user_template: str, sections: list[Section], schema: dict[str, Any]
    ) -> dict[str, Any]:
        assert self._llm is not None
        system = render(system_template, self.workspace, max_items=MAX_ITEMS)
        counter = self._llm.tokenizer()
        window = self._llm.window
        budget = prompt_budget(window.context, window.answer, system, counter)

        def user(packed: Packed) -> str:
            return render(user_template, self.workspace, **packed.texts, left_out=packed.note)

        return self._llm.complete_json(system, pack(sections, budget, counter, user).text, schema)


def _clean(items: object, limit: int) -> list[str]:
    """The answer's strings, stripped, bounded and without repeats: providers do not all enforce the schema."""
    if not isinstance(items, list):
        return []
    texts = (item.strip()[:MAX_ITEM_CHARS] for item in items if isinstance(item, str))
    return list(dict.fromkeys(text for text in texts if text))[:limit]
