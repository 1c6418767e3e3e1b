"""The judge's review stage: the supervising LLM reads the task, the agent's final message, the
gate results and the diff, and gives its opinion.

The opinion is one signal among the evidence; how much it counts is the model's trust. A model
that fails to answer is overseer's problem, never the agent's. A server restarting or a timeout is
the provider's to ride out (it retries transient failures itself, `llm/retry.py`). An answer out of
the schema's shape is asked for once more; a second one, or no answer at all, means "not sure",
never approval: for a trusted model the review is unavailable and the attempt goes to a human as
overseer's failure. An untrusted model's review decides nothing, so it is not worth a second wait.
The reviewer knows nothing about which LLM it has: it checks the answer's fields itself, since not
every provider enforces every schema keyword.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard

from overseer.domain import TRUSTED_REVIEW, Evidence, Finding, GateResult, Review
from overseer.errors import SupervisorError
from overseer.llm.base import LLM, InvalidAnswer, Warms, Window
from overseer.llm.tokens import prompt_budget
from overseer.supervise.context import Packed, Section, files_text, pack, project_notes, relevant_files
from overseer.supervise.policy import finding
from overseer.supervise.prompts import render
from overseer.text import clip

logger = logging.getLogger(__name__)
STAGE = "review"
MAX_SCORE = 10
MAX_REASONS = 3
MAX_REASON_CHARS = 50
_MAX_MESSAGE_CHARS = 2000  # the agent's last word matters less than the diff: keep it short
# What the review reads, most important first: what was asked, what the agent said and changed, the
# diff itself, then what helps judge it. Lower ranks are cut first (supervise/context.py).
_RANKS = {"task": 0, "message": 1, "changes": 1, "diff": 2, "files": 3, "notes": 4}

# Every string and array is bounded so a complete answer always fits a small `max_tokens`: a
# grammar-constrained model that rambles is cut off mid-JSON otherwise. The score's `enum` is what
# llama.cpp's grammar enforces (it ignores minimum/maximum); minimum/maximum serve other providers.
REVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "approve": {"type": "boolean"},
        "score": {"type": "integer", "minimum": 0, "maximum": MAX_SCORE, "enum": list(range(MAX_SCORE + 1))},
        "reasons": {
            "type": "array",
            "items": {"type": "string", "maxLength": MAX_REASON_CHARS},
            "maxItems": MAX_REASONS,
        },
    },
    "required": ["approve", "score", "reasons"],
    "additionalProperties": False,
}


class Reviewer:
    def __init__(self, llm: LLM, *, trust: float = 0.0, window: Window | None = None) -> None:
        """The user prompt is packed into what `window` leaves (by default the model's own)."""
        # Transient failures (refused, timeout, 5xx) are the provider's to retry (supervisor.options.retries).
        self._llm = llm
        self.trust = trust  # 0..1: below TRUSTED_REVIEW the opinion is shown and decides nothing
        self._window = window or llm.window
        self._asks = 2 if trust >= TRUSTED_REVIEW else 1  # an answer out of shape is asked for once more

    def warm(self, workspace: Path) -> None:
        """Get the model ready for this workspace's reviews (see `Warms`); a no-op for models that cannot."""
        if isinstance(self._llm, Warms):
            self._llm.warm(render("review_system.j2", workspace))

    def review(self, evidence: Evidence, gates: Sequence[GateResult]) -> tuple[Review | None, tuple[Finding, ...]]:
        try:  # a template too long for the model's context is a failure to review, like any other
            review = self._ask(*self.prompt(evidence, gates))
        except SupervisorError as exc:
            return None, (_unavailable(exc, self.trust, self._asks),)
        return review, _findings(review)

    def _ask(self, system: str, user: str) -> Review:
        """One review; an answer out of the schema's shape is asked for again (trusted models only)."""
        for ask in range(1, self._asks + 1):
            try:
                return _parse_review(self._llm.complete_json(system, user, REVIEW_SCHEMA), self.trust)
            except InvalidAnswer as exc:
                if ask == self._asks:
                    raise
                logger.warning("the supervisor's review is out of shape, asking once more: %s", exc)
        raise AssertionError("unreachable: the last ask returns or raises")

    def prompt(self, evidence: Evidence, gates: Sequence[GateResult]) -> tuple[str, str]:
        """The system and user prompts for this evidence (public so a person can see what was asked).

        The user prompt never exceeds the model's context less the answer, the system prompt and the
        chat template, by the model's own token count."""
        system = render("review_system.j2", evidence.workspace)
        counter = self._llm.tokenizer()
        budget = prompt_budget(self._window.context, self._window.answer, system, counter)
        gate_lines = [_gate_line(gate) for gate in gates]

        def user(packed: Packed) -> str:
            return render(
                "review.j2",
                evidence.workspace,
                task=packed["task"],
                message=_shown(packed, "message"),
                is_error=evidence.result.is_error,
                timed_out=evidence.timed_out,
                gate_lines=gate_lines,
                changes=_shown(packed, "changes"),
                diff=_shown(packed, "diff"),
                files=packed["files"],
                notes=packed["notes"],
                left_out=packed.note,
            )

        return system, pack(self._sections(evidence), budget, counter, user).text

    def _sections(self, evidence: Evidence) -> list[Section]:
        workspace = evidence.workspace
        related = relevant_files(workspace, evidence.task, evidence.changed_paths)
        texts = {
            "task": evidence.task,
            "message": clip(evidence.result.text or evidence.result.error, _MAX_MESSAGE_CHARS),
            "changes": "\n".join(f"- {change.kind} {change.path}" for change in evidence.changes),
            "diff": evidence.diff,
            # The diff shows the changed files; the related ones are those it does not show.
            "files": files_text(workspace, [path for path in related if path not in evidence.changed_paths]),
            "notes": project_notes(workspace) if workspace.is_dir() else "",
        }
        return [Section(name, text, _RANKS[name]) for name, text in texts.items()]


def _shown(packed: Packed, name: str) -> str:
    """A section's text; a note in its place when it was left out, so "" still means "none"."""
    return "(left out: no room in the supervisor's context)" if name in packed.left_out else packed[name]


def _parse_review(answer: dict[str, Any], trust: float) -> Review:
    """Turn the model's answer into a Review, or raise SupervisorError if it is not one."""
    approve, score, reasons = answer.get("approve"), answer.get("score"), answer.get("reasons", [])
    if not isinstance(approve, bool) or not _is_score(score) or not isinstance(reasons, list):
        raise InvalidAnswer("the supervisor's review does not match its schema", answer=str(answer)[:200])
    return Review(approve=approve, score=score / MAX_SCORE, reasons=_clean_reasons(reasons), trust=trust)


def _is_score(value: object) -> TypeGuard[int | float]:
    # bool is an int in Python; `true` is not a score.
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= MAX_SCORE


def _clean_reasons(reasons: list[Any]) -> tuple[str, ...]:
    # Lenient on free text: a provider that ignores maxItems/maxLength still gives usable reasons.
    texts = (reason.strip() for reason in reasons if isinstance(reason, str))
    return tuple(text[:MAX_REASON_CHARS] for text in texts if text)[:MAX_REASONS]


def _findings(review: Review) -> tuple[Finding, ...]:
    if review.approve:
        return ()
    why = "; ".join(review.reasons) or "no reason given"
    score = f"{round(review.score * MAX_SCORE)}/{MAX_SCORE}"
    if review.trusted:
        return (finding(STAGE, "review_rejected", f"The supervisor model rejected the attempt (score {score}): {why}"),)
    message = f"The supervisor model (untrusted, trust {review.trust:.2f}) would reject it (score {score}): {why}"
    return (finding(STAGE, "review_opinion", message),)


def _unavailable(exc: SupervisorError, trust: float, asks: int) -> Finding:
    """No review is "not sure", never approval: a person decides when the model was trusted."""
    message = f"The supervisor model could not review the attempt: {exc}"
    if isinstance(exc, InvalidAnswer) and asks > 1:
        message = f"The supervisor model answered out of its schema, asked {asks} times: {exc}"
    return finding(STAGE, "review_unavailable" if trust >= TRUSTED_REVIEW else "review_missing", message)


def _gate_line(gate: GateResult) -> str:
    state = {True: "passed", False: "FAILED", None: "did not apply"}[gate.passed]
    return f"{gate.name}: {state}" + (f" ({gate.summary})" if gate.summary else "")
