"""What the agent says it did, read from its final message, so it can be checked against evidence."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SUCCESS = re.compile(
    r"\b(done|completed?|finished|implemented|fixed|created|added|all set|successfully|works now)\b",
    re.I,
)
_TESTS_PASS = re.compile(
    r"\b(all\s+(the\s+)?tests\s+(now\s+)?pass(ed|ing)?|tests\s+(now\s+|all\s+)?pass(ed|ing)?|\d+\s+(tests\s+)?passed)\b",
    re.I,
)
_FAILURE = re.compile(
    r"\b(could\s*n[o']t|cannot|can't|unable to|failed to|did not manage|was not able|gave up)\b", re.I
)
_FILE_VERB = re.compile(r"\b(creat|add|wr[io]te|writ|modif|updat|edit|implement|chang)\w*", re.I)
_FILE_NAME = re.compile(r"[\w./-]*\w\.(py|pyi|txt|md|json|ya?ml|toml|cfg|ini|js|ts|sh|rs|go|c|h|html|css)\b")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Claims:
    success: bool = False
    tests_pass: bool = False
    failure: bool = False
    files: tuple[str, ...] = ()  # files the agent says it created or changed
    question: str = ""  # a question for the user, if the message ends with one


def read_claims(text: str) -> Claims:
    sentences = [s.strip() for s in _SENTENCE.split(text) if s.strip()]
    return Claims(
        success=bool(_SUCCESS.search(text)),
        tests_pass=bool(_TESTS_PASS.search(text)) and not re.search(r"\bfail(ed|ing|s)?\b", text, re.I),
        failure=bool(_FAILURE.search(text)),
        files=_claimed_files(sentences),
        question=sentences[-1] if sentences and sentences[-1].endswith("?") else "",
    )


def _claimed_files(sentences: list[str]) -> tuple[str, ...]:
    files: list[str] = []
    for sentence in sentences:
        if _FILE_VERB.search(sentence):
            files.extend(m.group(0).strip("./") for m in _FILE_NAME.finditer(sentence))
    return tuple(dict.fromkeys(f for f in files if f))
