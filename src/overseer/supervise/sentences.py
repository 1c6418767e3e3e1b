"""A final message cut into what the claim readers read: sentences, their clauses, and code kept apart.

`code` and "quoted" spans are masked first, so their punctuation cannot split a sentence and their
words cannot read as the agent's own; fenced code blocks are not read at all. Contractions are
spelled out ("couldn't" -> "could not"), so one pattern covers every way of writing a word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"^\s*```.*?^\s*```[^\n]*$", re.M | re.S)
_SPAN = re.compile(r"`+([^`\n]+?)`+|\"([^\"\n]+)\"|\u201c([^\u201d\n]+)\u201d")
MARK = re.compile(r"\x00(\d+)(q?)\x00")
_BLOCK_START = re.compile(r"^\s*(?:[-*+>|]|\d+[.)]|#+)\s")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_MARKDOWN = re.compile(r"^(?:\s*(?:[-*+>]|\d+[.)]|#+)\s+)+|\*\*|__(?=\w)|(?<=\w)__")
_CLAUSE_BREAK = re.compile(
    r"\s*(?:[;()]|:(?=\s)|\s[-\u2013\u2014]{1,2}\s|,?\s+(?:but|and|although|though|whereas)\s+|,\s+(?:however|yet|so),?\s+)\s*",
    re.I,
)
_CONTRACTIONS = (
    (re.compile(r"\bcan't\b|\bcannot\b", re.I), "can not"),
    (re.compile(r"\bwon't\b", re.I), "will not"),
    (re.compile(r"n't\b", re.I), " not"),
    (re.compile(r"\bI'm\b", re.I), "I am"),
    (re.compile(r"'ve\b", re.I), " have"),
    (re.compile(r"'re\b", re.I), " are"),
    (re.compile(r"\b(it|that|this|there|what)'s\b", re.I), r"\1 is"),
)


@dataclass(frozen=True)
class Sentence:
    masked: str  # code and quotations as opaque tokens: what the word scanners read
    own: str  # the agent's own words: code back, quotations blanked (they are somebody else's words)
    shown: str  # as the agent wrote it
    spans: tuple[str, ...]  # what the tokens stand for


def split_sentences(text: str) -> list[Sentence]:
    masked, spans = _mask(text)
    found = []
    for line in _lines(masked):
        for sentence in _SENTENCE_END.split(_MARKDOWN.sub("", line)):
            if sentence.strip(" .*_-"):
                found.append(_sentence(sentence.strip(), spans))
    return found


def _lines(text: str) -> list[str]:
    """Lines as the agent meant them: a wrapped line continues the one before; a blank line, a list
    item or a heading starts a new one."""
    lines: list[str] = []
    joinable = False
    for line in text.splitlines():
        starts_anew = not line.strip() or bool(_BLOCK_START.match(line))
        if joinable and not starts_anew:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
        joinable = bool(line.strip()) and not line.lstrip().startswith("#")
    return lines


def _mask(text: str) -> tuple[str, tuple[str, ...]]:
    """Code and quotations become opaque tokens: NUL, the span's number, "q" for a quotation, NUL."""
    spans: list[str] = []

    def token(match: re.Match[str]) -> str:
        spans.append(match[1] or match[2] or match[3])
        return f"\x00{len(spans) - 1}{'' if match[1] else 'q'}\x00"

    return _SPAN.sub(token, _FENCE.sub("", text)), tuple(spans)


def _sentence(masked: str, spans: tuple[str, ...]) -> Sentence:
    own = MARK.sub(lambda m: "QUOTE" if m[2] else spans[int(m[1])], masked)
    shown = MARK.sub(lambda m: f'"{spans[int(m[1])]}"' if m[2] else f"`{spans[int(m[1])]}`", masked)
    return Sentence(_normalise(masked), _normalise(own), shown, spans)


def clauses(text: str) -> list[str]:
    return [clause for clause in _CLAUSE_BREAK.split(text) if clause.strip()]


def _normalise(text: str) -> str:
    """Contractions spelled out, so that "couldn't", "couldn\u2019t" and "could not" are one pattern."""
    text = text.replace("\u2019", "'")
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    return text
