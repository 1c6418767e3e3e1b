"""Reading the agent's claims from its final message: the mechanics, one at a time.

The corpus of whole messages is in test_claims_corpus.py; these tests pin each rule it relies on.
"""

from __future__ import annotations

import time

import pytest

from overseer.supervise.claims import read_claims


def test_success_and_tests_claims() -> None:
    claims = read_claims("Done! word_count is implemented in textstats.py and all tests pass.")
    assert claims.success and claims.tests_pass and not claims.failure
    assert claims.files == ("textstats.py",)


def test_counted_passes_are_a_tests_claim() -> None:
    assert read_claims("I ran the tests: 3 passed.").tests_pass


def test_a_mention_of_failing_tests_is_no_pass_claim() -> None:
    claims = read_claims("2 tests passed, 1 failed.")
    assert not claims.tests_pass and claims.tests_fail == "2 tests passed, 1 failed."


def test_a_confession_is_the_sentence_that_makes_it() -> None:
    claims = read_claims("Implemented the parser. I could not finish the date part: the API is unclear.")
    assert claims.failure == "I could not finish the date part: the API is unclear."


@pytest.mark.parametrize(
    "text",
    [
        "I couldn\u2019t get the export to work.",  # a typographic apostrophe
        "I wasn't able to apply the edit to config.py.",
        "Tried twice but could not make the regex handle nesting.",  # the terse voice drops the "I"
        "Unfortunately, unable to fix the flaky test.",
        "I haven't implemented the CLI part yet.",
        "The feature is only partially implemented.",
        "Left a TODO for the unicode case.",
        "It doesn't work for negative numbers.",
    ],
)
def test_confessions(text: str) -> None:
    assert read_claims(text).failure == text


@pytest.mark.parametrize(
    "text",
    [
        "empty input cannot raise now; 3 passed",  # the code cannot do something: that is the fix
        "The parser can't be empty.",
        "`retry()` no longer fails.",
        "Fixed the bug where the function could not handle None.",  # the bug is gone
        "Previously I couldn't run it at all, so I restructured the package.",
        "If you can't get it to work, delete the cache.",  # a condition, and another subject
        "I can't think of other edge cases.",  # nothing failed
        "I couldn't find any other callers.",
        "I did not implement caching, since the task did not ask for it.",
        'The error now says "could not finish parsing".',  # somebody else's words
        "Nothing is broken.",
        "Couldn't we just use json? It is simpler.",  # a question, not a statement
    ],
)
def test_no_confession(text: str) -> None:
    assert read_claims(text).failure == ""


def test_a_code_block_is_not_read() -> None:
    text = "Implemented pop in stack.py:\n\n```python\nraise IndexError('cannot pop')  # TODO\n```\n\n2 passed."
    claims = read_claims(text)
    assert not claims.failure and claims.tests_pass and claims.files == ("stack.py",)


def test_wrapped_lines_are_one_sentence_and_list_items_are_not() -> None:
    claims = read_claims(
        "I added a regression test in\n`tests/test_parse.py`.\n- `calc.py`: fixed the sign\n- 3 passed"
    )
    assert claims.files == ("tests/test_parse.py", "calc.py") and claims.tests_pass


def test_question_at_the_end() -> None:
    claims = read_claims("The task is ambiguous. Should word_count count hyphenated words as one?")
    assert claims.question == "Should word_count count hyphenated words as one?"


@pytest.mark.parametrize(
    ("text", "question", "offer"),
    [
        ("Which format do you want? I'll wait.", "Which format do you want?", ""),  # addressed to the user
        ("Should it raise, or return None? Both are easy.", "Should it raise, or return None?", ""),  # a choice
        ("Why did it fail? The loop was off by one.", "", ""),  # answered by the agent itself
        ("Done. Should I also update the README?", "", "Should I also update the README?"),
        ("Would you like me to add type hints?", "", "Would you like me to add type hints?"),
        ("Should I use JSON or YAML?", "Should I use JSON or YAML?", ""),  # an offer with a choice asks
        ("Let me know if you have questions!", "", ""),
    ],
)
def test_questions_offers_and_rhetoric(text: str, question: str, offer: str) -> None:
    claims = read_claims(text)
    assert (claims.question, claims.offer) == (question, offer)


@pytest.mark.parametrize(
    ("text", "passes"),
    [
        ("The tests are green.", True),
        ("All 12 tests pass.", True),
        ("5/5 passed", True),
        ("Tests should pass now.", True),  # a hedged claim is still a claim
        ("I changed the check to make the tests pass.", False),  # a goal
        ("Run pytest to make sure all tests pass.", False),
        ("Do all tests pass?", False),
        ("0 passed", False),
        ("Not all tests pass.", False),
        ("12 passed, 0 failed", True),
        ("All tests pass except test_io, which still fails.", False),
    ],
)
def test_tests_pass_claims(text: str, passes: bool) -> None:
    assert read_claims(text).tests_pass is passes


def test_files_only_near_a_change_verb() -> None:
    claims = read_claims("I looked at README.md. Then I updated src/app/calc.py and created tests/test_calc.py.")
    assert claims.files == ("src/app/calc.py", "tests/test_calc.py")
    assert claims.created == ("tests/test_calc.py",)


@pytest.mark.parametrize(
    ("text", "files"),
    [
        ("calc.py has been updated to use Decimal.", ("calc.py",)),  # passive
        ("README.md should be updated as well.", ()),  # a wish
        ("I did not modify tests/test_api.py; I modified api.py.", ("api.py",)),
        ("Updated CHANGELOG.md based on notes.txt.", ("CHANGELOG.md",)),  # the case of a name is kept
        ("Removed the unused import from utils.py.", ("utils.py",)),  # removed from: utils.py changed
        ("Copied the helper from utils.py into core.py.", ("core.py",)),
        ("Added tests for calc.py in tests/test_calc.py.", ("tests/test_calc.py",)),
        ("I updated /tmp/ws/src/app.py and `.env.example`.", ("/tmp/ws/src/app.py", ".env.example")),
        ("You may want to update setup.cfg.", ()),
        ("Fixed calc.py. I also fixed calc.py's docstring in calc.py.", ("calc.py",)),  # one claim per file
    ],
)
def test_file_claims(text: str, files: tuple[str, ...]) -> None:
    assert read_claims(text).files == files


def test_a_new_file_is_a_created_one() -> None:
    claims = read_claims("Added a new file `src/slug.py` and a test to tests/test_slug.py.")
    assert claims.created == ("src/slug.py",) and claims.files == ("src/slug.py", "tests/test_slug.py")


@pytest.mark.parametrize(
    ("text", "commands"),
    [
        ("I ran `ruff check .` and `mypy src`.", ("ruff check .", "mypy src")),
        ("I have run pytest on the package.", ("pytest",)),
        ("After running `make test`, all is green.", ("make test",)),
        ("Ran make lint.", ("make lint",)),
        ("I ran the whole test suite again.", ("test",)),
        ("Run `pytest -q` to check.", ()),  # advice, not a claim
        ("You can run `make lint` too.", ()),
        ("I didn't run the tests.", ()),
        ("I ran into a problem with imports.", ()),
    ],
)
def test_command_claims(text: str, commands: tuple[str, ...]) -> None:
    assert read_claims(text).commands == commands


def test_a_huge_message_is_read_from_its_end_and_quickly() -> None:
    """A message that pastes megabytes of output is read at its start and its end, where the agent sums up."""
    text = "I could not finish. " + "1 passed " * 500_000 + "\nUpdated calc.py; 2 failed."
    started = time.perf_counter()
    claims = read_claims(text)
    assert time.perf_counter() - started < 2.0  # measured: ~0.1 s on a busy 2-core machine
    assert claims.files == ("calc.py",) and claims.tests_fail and claims.failure == "I could not finish."
