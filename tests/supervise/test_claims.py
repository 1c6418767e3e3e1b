"""Reading the agent's claims from its final message."""

from __future__ import annotations

from overseer.supervise.claims import read_claims


def test_success_and_tests_claims() -> None:
    claims = read_claims("Done! word_count is implemented in textstats.py and all tests pass.")
    assert claims.success and claims.tests_pass and not claims.failure
    assert claims.files == ("textstats.py",)


def test_counted_passes_are_a_tests_claim() -> None:
    assert read_claims("I ran the tests: 3 passed.").tests_pass


def test_a_mention_of_failing_tests_is_no_pass_claim() -> None:
    assert not read_claims("2 tests passed, 1 failed.").tests_pass


def test_failure_admission() -> None:
    claims = read_claims("I could not finish: the API is unclear.")
    assert claims.failure


def test_question_at_the_end() -> None:
    claims = read_claims("The task is ambiguous. Should word_count count hyphenated words as one?")
    assert claims.question == "Should word_count count hyphenated words as one?"


def test_files_only_near_a_change_verb() -> None:
    claims = read_claims("I looked at README.md. Then I updated src/app/calc.py and created tests/test_calc.py.")
    assert claims.files == ("src/app/calc.py", "tests/test_calc.py")
