"""What the agent says about its own work, read sentence by sentence from its final message.

The reading is narrow on purpose: a wrong reading costs an honest agent a retry, or lets a lie through.

- A *confession* needs the agent to speak of its own work failing: "I could not get X to work",
  "Couldn't finish Y" (the terse voice drops the "I"), "the parser is only partially implemented",
  "left a TODO". A word is not enough: "empty input cannot raise now" is about the code, "I can't
  think of other edge cases" admits nothing, "Fixed the bug where parse() could not handle None"
  speaks of a bug that is gone.
- A *question* is one for the user: the message's last sentence, or one that addresses the user.
  An offer of more work ("Should I also update the README?") is kept apart, and a question the
  agent answers itself ("Why did it fail? The loop ...") is rhetorical.
- *Tests pass* is a claim ("3 passed", "all tests pass", "tests are green") unless the message also
  says tests fail ("2 failed", "test_x still fails"); a goal ("to make the tests pass") is none.
- *File* and *command* claims are what the agent says it changed or ran, in the past tense and in
  its own voice ("I updated calc.py", "Ran `make lint`"); advice ("run `pytest`") is no claim.

Each pattern is tried on one clause, and the words before it decide whether it counts: a
condition, the past, a fix or somebody else's words turn it off. The message is cut into sentences
by `sentences.py` (code and quotations masked); files and commands are read by `claimed_work.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from overseer.supervise.claimed_work import command_claims, file_claims
from overseer.supervise.sentences import Sentence, clauses, split_sentences

_HEAD, _TAIL = 2_000, 8_000  # characters read of a long message: its start, and its end, where the agent sums up
_LONGEST_CLAUSE = 600


@dataclass(frozen=True)
class Statement:
    """One checkable thing the agent said."""

    kind: str  # "created" / "changed" (a file), "tests" (they pass), "command" (it ran one)
    subject: str  # the path or the command; "" for tests
    words: str  # the sentence it was read from


@dataclass(frozen=True)
class Claims:
    statements: tuple[Statement, ...] = ()
    success: bool = False  # the agent presents the work as done
    failure: str = ""  # the sentence in which the agent says its work failed or is unfinished
    question: str = ""  # the question(s) the agent asks the user
    offer: str = ""  # an offer of more work ("Should I also ...?"): a question only if nothing changed
    tests_fail: str = ""  # the sentence in which the agent says tests fail

    @property
    def tests_pass(self) -> bool:
        return any(s.kind == "tests" for s in self.statements)

    @property
    def files(self) -> tuple[str, ...]:
        """Files the agent says it created or changed, in the order it named them."""
        return tuple(dict.fromkeys(s.subject for s in self.statements if s.kind in ("created", "changed")))

    @property
    def created(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.subject for s in self.statements if s.kind == "created"))

    @property
    def commands(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.subject for s in self.statements if s.kind == "command"))


def read_claims(text: str) -> Claims:
    sentences = split_sentences(text if len(text) <= _HEAD + _TAIL else f"{text[:_HEAD]}\n\n{text[-_TAIL:]}")
    questions, offers = _questions(sentences)
    failure = _first(sentences, _confesses)
    tests_fail = _first(sentences, _says_tests_fail)
    statements = [statement for sentence in sentences for statement in _statements(sentence)]
    if tests_fail:  # "3 passed, 1 failed" claims no pass
        statements = [s for s in statements if s.kind != "tests"]
    return Claims(
        statements=_first_of_each(statements),
        success=bool(statements) or any(_SUCCESS.search(s.own) for s in sentences if not _is_question(s.own)),
        failure=failure,
        question=" ".join(s.shown for s in questions),
        offer=" ".join(s.shown for s in offers),
        tests_fail=tests_fail,
    )


def _first_of_each(statements: list[Statement]) -> tuple[Statement, ...]:
    """One statement per thing claimed: a file named in two sentences is one claim, from the first."""
    firsts: dict[tuple[str, str], Statement] = {}
    for statement in statements:
        firsts.setdefault((statement.kind, statement.subject), statement)
    return tuple(firsts.values())


def _first(sentences: list[Sentence], says: Callable[[str], bool]) -> str:
    """The first sentence with a clause that `says` something, as the agent wrote it ("" if none)."""
    return next((s.shown for s in sentences if any(says(c) for c in clauses(s.own))), "")


# --- what a clause says --------------------------------------------------------------------------------

# Words before a match that take it back: a condition or a goal, the past, a fix (what follows a fix
# is the bug it removed), somebody else's words, or a subject that is nobody ("no test fails").
_TAKEN_BACK = re.compile(
    r"\b(?:if|unless|whether|in case|until|make sure|ensure|so that|in order|to make|to get|need to|needs to"
    r"|previously|before|at first|initially|originally|earlier|used to|the (?:original|old|previous|existing)"
    r"|fixed|fixes|resolved?|corrected|addressed|repaired|patched|prevents?|prevented"
    r"|says?|said|reports?|reported|asks?|asked|according to|you|your"
    r"|no|none|nothing|nobody|never|without)\b",
    re.I,
)
_LEADING_WORDS = re.compile(
    r"^(?:(?:but|and|however|unfortunately|sadly|also|though|although|so|yet|still|note|ultimately|overall"
    r"|in the end|that said|otherwise|for now|at this point|as of now)\b[,:]?\s*)+",
    re.I,
)
_I = r"(?:^|\b(?:I|we)\s+(?:\w+\s+)?)"  # the agent, or nobody named at the start of a clause ("Couldn't ...")
_INABLE = (
    r"(?:could not|can not|(?:was|were|am) (?:not able|unable) to|(?:have|has) not been able to|not able to"
    r"|unable to|failed to|did not manage to|never managed to|did not get to)"
)
_WORK = (
    r"(?:finish|complete|get|make|fix|implement|resolve|solve|figure out|work out|handle|support|pass|add|write"
    r"|build|compile|port|migrate|convert|apply|edit|update|modify|create|save"
    r"|find a (?:way|fix|solution|workaround)|find the (?:cause|bug|root cause"
    r"|problem)|track down|do (?:it|this|that|all|everything))"
)
_CONFESSIONS = tuple(
    re.compile(pattern, re.I)
    for pattern in (
        # the agent's own inability, about the work: "I couldn't get X to work", "Unable to fix Y"
        rf"{_I}{_INABLE}\s+(?:(?:quite|fully|yet|really|entirely|completely|properly|actually|still)\s+)*{_WORK}\b",
        rf"{_I}(?:did|have|has|had) not (?:yet |quite |fully )?(?:finish|finished|complete|completed)\b",
        rf"{_I}am not (?:yet |quite )?(?:done|finished)\b",
        rf"{_I}(?:gave up|ran out of (?:time|turns|budget|context)|got stuck|am stuck|was stuck|stopped short)\b",
        rf"{_I}(?:left|leaving|added) (?:\w+ ){{0,2}}todos?\b",
        rf"{_I}(?:still )?(?:have|did) not (?:yet )?(?:implement|fix|add|write|handle|address)(?:ed|ten)?\b"
        r".{0,200}\b(?:yet|still)\b",
        # the work, whoever is its subject: "this is not done yet", "X is only partially implemented"
        r"\bpartial(?:ly)?\s+(?:implemented|implementation|working|works|done|fix|fixed|solution|support|supported)\b",
        r"\bonly partially\b",
        r"\b(?:is|are|remains?) (?:still )?not (?:yet )?(?:fully |quite |entirely )?(?:done|finished|complete|completed"
        r"|implemented|working|functional|ready)\b",
        r"\bnot yet (?:done|finished|implemented|working|supported|handled|complete)\b",
        r"\b(?:is|are|remains?) (?:still )?(?:incomplete|unfinished|broken|stubbed out|a stub|a placeholder"
        r"|a work in progress)\b",
        r"\bwork in progress\b",
        r"\b(?:does|do) not (?:yet |fully |quite |really )?work\b",
        r"\bstill (?:does not|do not|can not|fails to) (?:handle|support|parse|work)\b",
        r"\b(?:does|do) not (?:yet )?(?:handle|support)\b.{0,200}\byet\b",
        r"\btodos? (?:remain|are left|is left|still)\b",
        r"\b(?:remains?|still needs?) to be (?:done|implemented|fixed|written|finished|completed)\b",
    )
)
_TESTS_PASS = tuple(
    re.compile(pattern, re.I)
    for pattern in (
        r"\b(?P<n>\d+|all)\s+(?:of\s+(?:the\s+)?)?(?:\d+\s+)?(?:[\w-]+\s+)?(?:tests?\s+)?(?:now\s+|still\s+)?"
        r"(?:pass|passed|passes|passing)\b",
        r"\b(?P<n>\d+)/\d+\s+(?:tests?\s+)?(?:pass|passed|passing)\b",
        r"\b(?:tests?|test suite|suite|pytest|checks)\s+(?:(?:now|all|are|is|still|should|do|does)\s+)*"
        r"(?:pass|passes|passed|passing|green|succeed|succeeds|succeeded)\b",
        r"\b(?:everything|all)\s+(?:is\s+)?(?:passes|passing|green)\b",
        r"\b(?:no|zero|0)\s+(?:test\s+)?failures\b",
    )
)
_TESTS_FAIL = tuple(
    re.compile(pattern, re.I)
    for pattern in (
        r"\b(?P<n>\d+)\s+(?:of\s+(?:the\s+)?)?(?:\d+\s+)?(?:[\w-]+\s+)?(?:tests?\s+)?(?:still\s+)?"
        r"(?:fail|failed|fails|failing|errors?|errored|failures?)\b",
        r"\b(?:test_\w+|tests?|suite|pytest|checks)(?:\s+(?:for|in|of|on)\s+\S+)?\s+(?:(?:still|now|are|is|keeps?)\s+)*"
        r"(?:fail|fails|failing|red)\b",
        r"\b(?:tests?|suite)\s+(?:still\s+)?(?:do|does|did)\s+not\s+(?:yet\s+)?pass\b",
        r"\bnot all (?:of )?(?:the )?(?:[\w-]+ )?tests? (?:pass|passed)\b",
        r"\bnot (?:yet )?passing\b",
        r"^(?:FAILED|ERROR)\s+\S+::",
        r"\b(?:test_\w+|tests?)\b[^.;]{0,200}\bwhich (?:still |also )?(?:fails|is failing)\b",  # "test_io, which fails"
    )
)
_SUCCESS = re.compile(
    r"\b(done|completed?|finished|implemented|fixed|created|added|all set|successfully|works now|now works)\b", re.I
)


def _says(patterns: tuple[re.Pattern[str], ...], clause: str) -> bool:
    """Whether the clause states what a pattern matches: not as a question, and not taken back.
    A clause longer than any sentence of prose is pasted output or code, not the agent's words."""
    clause = _LEADING_WORDS.sub("", clause.strip())
    if _is_question(clause) or len(clause) > _LONGEST_CLAUSE:
        return False
    for pattern in patterns:
        for match in pattern.finditer(clause):
            counted = match.groupdict().get("n") not in ("0",)  # "0 failed" says nothing failed
            if counted and not _TAKEN_BACK.search(clause[: match.start()]):
                return True
    return False


def _confesses(clause: str) -> bool:
    return _says(_CONFESSIONS, clause)


def _says_tests_fail(clause: str) -> bool:
    return _says(_TESTS_FAIL, clause)


def _statements(sentence: Sentence) -> list[Statement]:
    found = [Statement(kind, path, sentence.shown) for kind, path in file_claims(sentence)]
    found += [Statement("command", command, sentence.shown) for command in command_claims(sentence)]
    if any(_says(_TESTS_PASS, clause) for clause in clauses(sentence.own)):
        found.append(Statement("tests", "", sentence.shown))
    return found


# --- questions -----------------------------------------------------------------------------------------

_TO_THE_USER = re.compile(r"\b(?:you|your)\b|\b(?:should|shall|may|can) (?:I|we)\b|\bor\b", re.I)
_OFFER = re.compile(
    r"\b(?:would you like me to|do you want me to|want me to|shall I|should I|may I|I can also)\b", re.I
)
_MORE = re.compile(r"\b(?:also|as well|too|additionally|further|anything else|something else)\b", re.I)
_CHOICE = re.compile(r"\bor\b|\bwhich\b", re.I)


def _is_question(sentence: str) -> bool:
    return sentence.rstrip(" *_)\"'").endswith("?")


def _questions(sentences: list[Sentence]) -> tuple[list[Sentence], list[Sentence]]:
    """Questions for the user, and offers of more work. A question that is neither the last sentence
    nor addressed to the user nor offers a choice is rhetorical: the agent answers it itself
    ("Why did it fail? The loop ...")."""
    questions, offers = [], []
    for index, sentence in enumerate(sentences):
        if not _is_question(sentence.masked):
            continue
        words = sentence.own
        if _MORE.search(words) or (_OFFER.search(words) and not _CHOICE.search(words)):
            offers.append(sentence)
        elif index == len(sentences) - 1 or _TO_THE_USER.search(words):
            questions.append(sentence)
    return questions, offers
