"""Files and commands the agent says it changed or ran, read from one sentence's words, left to right.

A word scan, not a pattern: which files a sentence claims depends on the order of its words. A past-tense
change verb ("updated", "created") in the agent's voice opens a run of claimed files; a verb that changes
nothing ("ran", "read", "is"), a clause break or a "but" closes it; a file right after "from", "for" or
"like" is one the agent looked at. "calc.py has been updated" and "calc.py: fixed ..." claim the file
named before the verb.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from overseer.supervise.sentences import MARK, Sentence


def file_claims(sentence: Sentence) -> list[tuple[str, str]]:
    """(kind, path) for each file the sentence says the agent created ("created") or changed ("changed")."""
    return _FileScan(_words(sentence)).run()


def command_claims(sentence: Sentence) -> list[str]:
    """Commands the agent says it ran: "ran `make lint`", "I have run pytest", "after running the tests"."""
    words = _words(sentence)
    found = []
    for index, word in enumerate(words):
        if word.text not in _RAN and word.text not in ("run", "running"):
            continue
        before = _before(words, index)
        ran = word.text in _RAN or (word.text == "run" and before[-1:] in (["have"], ["has"], ["had"]))
        ran = ran or (word.text == "running" and before[-1:] in (["after"], ["by"]))
        if ran and not _NOT_MINE.intersection(before):
            found += _named_commands(words[index + 1 : index + 16])
    return found


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


@dataclass(frozen=True)
class _Word:
    text: str  # lower case, without surrounding punctuation
    written: str  # as written, without surrounding punctuation (a file name keeps its case)
    code: str = ""  # what a `code` span says, when the word is one
    end: str = ""  # the punctuation after it

    @property
    def closes(self) -> bool:
        """A clause ends after it; a colon does not end one ("Changed two files: a.py and b.py")."""
        return self.end in (";", ".", "!", "?")


_PATH = re.compile(
    r"^(?:~?/)?(?:[\w.-]+/)*(?:[\w-]*\w\.(?:py|pyi|pyx|txt|md|rst|json|ya?ml|toml|cfg|ini|js|jsx|ts|tsx|sh|rs|go|c|h|cpp|hpp"
    r"|java|rb|html|css|sql|lock|csv|env)|\.[\w.-]+|Makefile|Dockerfile)$"
)
_CHANGE_VERBS = _wordset(
    "created updated modified changed edited implemented fixed refactored rewrote rewritten added wrote written "
    "extended adjusted patched replaced improved reworked moved renamed filled corrected tweaked deleted removed "
    "simplified restructured converted introduced appended inserted dropped copied wired ported migrated merged "
    "documented changes edits"
)
_NOT_A_CHANGE = _wordset(
    "ran run running read reading looked checked reviewed inspected examined verified confirmed tested saw "
    "noticed found kept left pass passes passed fail fails failed untouched unchanged but because since which "
    "while although though however"
)
_GERUNDS = _wordset("updating modifying changing editing fixing adding creating implementing rewriting refactoring")
_TAKING_OUT = _wordset("removed deleted dropped")
_FILE_NOUNS = _wordset("file files module modules script test tests package")  # "a new test file x.py"
_ARTICLES = _wordset("on to the a an of in")  # "based on the notes.txt" still looks at notes.txt
_BE = _wordset("is are was were been be")
_LOOKED_AT = _wordset("from for like per see than unlike following mirroring matching based according")
_WITHIN = _wordset("in to inside within into")  # "created a helper in utils.py": utils.py changed
_NOT_MINE = _wordset(
    "not never no without will would should could can may might must need needs to you user someone they"
)
_RAN = _wordset("ran reran re-ran executed invoked")
_TOOLS = _wordset(
    "pytest ruff mypy flake8 black pylint pyright isort tox nox make npm yarn pnpm cargo go python python3 uv "
    "poetry unittest jest coverage pre-commit bandit"
)
_TOOLS_WITH_TARGET = _wordset("make npm yarn pnpm cargo go tox uv poetry")
_RAN_WHAT = _wordset("the a an full whole entire again it them all unit existing new with using via my our of")
_TESTS = _wordset("test tests suite testsuite")


def _words(sentence: Sentence) -> list[_Word]:
    words = []
    for raw in sentence.masked.split():
        mark = MARK.search(raw)
        code = sentence.spans[int(mark[1])] if mark and not mark[2] else ""
        written = raw.strip(",.;:!?()[]{}*\"'")
        words.append(_Word(written.lower(), written, code.strip(), raw[-1] if raw[-1] in ";.:!?," else ""))
    return words


def _path(word: _Word) -> str:
    candidate = word.code or word.written
    return candidate.removeprefix("./") if _PATH.match(candidate) else ""


class _FileScan:
    """One left-to-right pass over a sentence's words, collecting (kind, path) claims."""

    def __init__(self, words: list[_Word]) -> None:
        self.words = words
        self.found: list[tuple[str, str]] = []
        self.kind = ""  # "created" / "changed" while a change verb in the agent's voice is in force
        self.verb = ""  # that verb
        self.pending: list[str] = []  # files named before any verb: "calc.py was updated", "calc.py: fixed"
        self.looked_at = False  # the next word, if a file, is one the agent only looked at
        self.new = False  # the next word, if a file, is a new one ("a new file x.py")
        self.lead = next((i for i, w in enumerate(words) if not _path(w)), len(words))

    def run(self) -> list[tuple[str, str]]:
        for index, word in enumerate(self.words):
            if path := _path(word):
                self._file(path)
            elif word.text in _CHANGE_VERBS or (
                word.text in _GERUNDS and self._before(index)[-1:] in (["after"], ["by"])
            ):
                self._change_verb(index, word.text)
            elif word.text in _NOT_A_CHANGE:
                self.kind, self.pending = "", []
            else:
                self._other(word.text)
            if word.closes:
                self.kind, self.pending = "", []
        return self.found

    def _before(self, index: int) -> list[str]:
        return _before(self.words, index)

    def _file(self, path: str) -> None:
        if not self.looked_at and (self.kind or self.new):
            self.found.append(("created" if self.new else self.kind, path))
        elif not self.looked_at:
            self.pending.append(path)
        self.looked_at = self.new = False

    def _change_verb(self, index: int, verb: str) -> None:
        before = self._before(index)
        mine = not _NOT_MINE.intersection(before)
        passive = bool(before) and before[-1] in _BE
        kind = "created" if verb == "created" else "changed"
        if mine and self.pending and (passive or index == self.lead):
            self.found += [(kind, path) for path in self.pending]
        self.kind, self.verb, self.pending = (kind if mine else ""), verb, []

    def _other(self, text: str) -> None:
        if text in _BE:
            self.kind = ""
        elif text in _WITHIN and self.kind:  # "created a helper in utils.py": utils.py was changed
            self.kind = "changed"
        # "removed X from calc.py" changed calc.py; "copied X from utils.py" only looked at utils.py
        taking_out = text == "from" and self.verb in _TAKING_OUT
        self.looked_at = (text in _LOOKED_AT and not taking_out) or (self.looked_at and text in _ARTICLES)
        self.new = (text == "new" and bool(self.kind)) or (self.new and text in _FILE_NOUNS)


def _before(words: list[_Word], index: int) -> list[str]:
    """Up to three words before `index`, back to the nearest punctuation: the verb's subject, auxiliary
    or negation."""
    window = words[max(0, index - 3) : index]
    while any(w.end for w in window):  # "I ran the tests: ..." does not reach across the colon
        window = window[next(i for i, w in enumerate(window) if w.end) + 1 :]
    return [w.text for w in window]


def _named_commands(words: list[_Word]) -> list[str]:
    """The commands after "ran": `code` spans ("ran `ruff check` and `mypy`"), a known tool ("make lint"),
    or "test" for "the tests"."""
    fallback = ""
    for index, word in enumerate(words[:6]):
        if word.code:
            return [word.code, *_more_code(words[index + 1 :])]
        if word.text in _TOOLS:
            target = words[index + 1].text if index + 1 < len(words) else ""
            takes_target = word.text in _TOOLS_WITH_TARGET and target.isalpha() and target not in _RAN_WHAT
            return [f"{word.text} {target}" if takes_target else word.text]
        if word.text in _TESTS:
            fallback = "test"
        elif word.text not in _RAN_WHAT or word.closes:
            break
    return [fallback] if fallback else []


def _more_code(words: list[_Word]) -> list[str]:
    """Further `code` spans in a list: "`a`, `b` and then `c`" (a file name ends it: "..., and `setup.cfg` was")."""
    more = []
    for word in words:
        if word.code and not _path(word):
            more.append(word.code)
        elif word.text not in ("and", "then", "also", "") or word.closes:
            break
    return more
