"""Tamper detection on pairs of sources: what an edit to the tests or their configuration hides."""

from __future__ import annotations

import pytest

from overseer.supervise.tamper import (
    command_filters,
    edited_tests,
    filtering_options,
    find_tests,
    pytest_settings,
    source_of,
    weakenings,
)

TESTS = """\
import pytest
from calc import add, mul


def test_add():
    assert add(2, 2) == 4


class TestMul:
    def test_small(self):
        assert mul(2, 3) == 6
"""


def said(path: str, before: str | None, after: str | None) -> list[str]:
    return [str(weakening) for weakening in weakenings(path, before, after)]


# --- test files ------------------------------------------------------------------------------------


def test_tests_are_found_by_pytests_default_names() -> None:
    assert sorted(find_tests(TESTS)) == ["TestMul::test_small", "test_add"]
    assert find_tests("def (:\n") == {}


def test_a_skip_marker_added_to_a_test_is_named() -> None:
    after = TESTS.replace("def test_add", "@pytest.mark.skip(reason='flaky')\ndef test_add")

    assert said("tests/test_calc.py", TESTS, after) == [
        "tests/test_calc.py::test_add: a skip or xfail marker was added"
    ]


@pytest.mark.parametrize(
    "decorator",
    ["@pytest.mark.xfail", "@pytest.mark.skipif(True, reason='x')", "@unittest.skip('x')", "@mark.xfail(strict=False)"],
)
def test_every_kind_of_skip_marker_counts(decorator: str) -> None:
    after = TESTS.replace("    def test_small", f"    {decorator}\n    def test_small")

    assert said("test_calc.py", TESTS, after) == ["test_calc.py::TestMul::test_small: a skip or xfail marker was added"]


def test_a_skip_call_inside_a_test_is_named() -> None:
    after = TESTS.replace("    assert add(2, 2) == 4", "    pytest.skip('later')\n    assert add(2, 2) == 4")

    assert said("test_calc.py", TESTS, after) == [
        "test_calc.py::test_add: a pytest.skip() or pytest.xfail() call was added"
    ]


def test_a_skip_for_the_whole_file_is_named() -> None:
    after = TESTS.replace("from calc import add, mul\n", "from calc import add, mul\n\npytestmark = pytest.mark.skip\n")

    assert said("test_calc.py", TESTS, after) == ["test_calc.py: a skip or xfail for the whole file was added"]


def test_a_module_level_skip_call_is_named() -> None:
    after = TESTS + "\npytest.skip('not today', allow_module_level=True)\n"

    assert said("test_calc.py", TESTS, after) == ["test_calc.py: a skip or xfail for the whole file was added"]


def test_a_body_that_can_never_fail_is_named() -> None:
    after = TESTS.replace("    assert add(2, 2) == 4", "    assert True")

    assert said("test_calc.py", TESTS, after) == ["test_calc.py::test_add: the test no longer checks anything"]


def test_deleted_tests_and_deleted_files_are_named() -> None:
    overwritten = "def test_ok():\n    assert True\n"

    assert said("test_calc.py", TESTS, overwritten) == [
        "test_calc.py::TestMul::test_small: the test was deleted",
        "test_calc.py::test_add: the test was deleted",
    ]
    assert said("tests/test_calc.py", TESTS, None) == [
        "tests/test_calc.py: the test file was deleted (2 test(s): TestMul::test_small, test_add)"
    ]


def test_a_skip_in_a_string_or_comment_is_no_skip() -> None:
    disguised = "    # pytest.skip('x')\n    assert add(2, 2) == 4, 'pytest.mark.skip'"
    after = TESTS.replace("    assert add(2, 2) == 4", disguised)

    assert said("test_calc.py", TESTS, after) == []


def test_new_files_and_honest_edits_weaken_nothing() -> None:
    stronger = TESTS.replace("    assert add(2, 2) == 4", "    assert add(2, 2) == 4\n    assert add(-1, 1) == 0")

    assert said("test_calc.py", None, TESTS) == []
    assert said("test_calc.py", TESTS, stronger) == []
    assert said("calc.py", "x = 1\n", None) == []  # not a test file


def test_edited_tests_ignore_layout_and_comments() -> None:
    relaid = TESTS.replace("assert add(2, 2) == 4", "assert add(2,2)==4  # same")
    changed = TESTS.replace("assert add(2, 2) == 4", "assert add(2, 2) == 5")

    assert edited_tests(TESTS, relaid) == []
    assert edited_tests(TESTS, changed) == ["test_add"]


def test_a_tests_source_includes_its_decorators() -> None:
    source = TESTS.replace("def test_add", "@pytest.mark.slow\ndef test_add")

    assert source_of(source, "test_add") == "@pytest.mark.slow\ndef test_add():\n    assert add(2, 2) == 4"
    assert source_of(source, "TestMul::test_small").startswith("    def test_small(self):")
    assert source_of(source, "test_gone") == ""


# --- conftest.py -----------------------------------------------------------------------------------

DESELECT = """\
def pytest_collection_modifyitems(config, items):
    items[:] = [item for item in items if "mul" not in item.name]
"""


def test_a_conftest_hook_that_can_drop_tests_is_named() -> None:
    fixture = "import pytest\n\n\n@pytest.fixture\ndef two():\n    return 2\n"

    assert said("tests/conftest.py", fixture, fixture + "\n\n" + DESELECT) == [
        "tests/conftest.py: `pytest_collection_modifyitems` was added: it can drop tests or change their outcome"
    ]
    assert said("conftest.py", None, "collect_ignore = ['test_calc.py']\n") == [
        "conftest.py: `collect_ignore` was added: it can drop tests or change their outcome"
    ]
    assert said("conftest.py", fixture, fixture.replace("return 2", "return 3")) == []


def test_a_skipping_autouse_fixture_in_a_conftest_is_named() -> None:
    after = "import pytest\n\n\n@pytest.fixture(autouse=True)\ndef no():\n    pytest.skip('off')\n"

    assert said("conftest.py", "", after) == [
        "conftest.py: a pytest.skip() or pytest.xfail() call was added (it skips every test it reaches)"
    ]


# --- pytest's configuration ------------------------------------------------------------------------


def test_pytest_settings_are_read_from_every_kind_of_config_file() -> None:
    pyproject = '[project]\nname = "x"\n\n[tool.pytest.ini_options]\naddopts = "-ra"\ntestpaths = ["tests"]\n'

    assert pytest_settings("pyproject.toml", pyproject) == {"addopts": "-ra", "testpaths": ["tests"]}
    assert pytest_settings("pyproject.toml", '[project]\nname = "x"\n') is None
    assert pytest_settings("setup.cfg", "[tool:pytest]\naddopts = -q\n[flake8]\nx = 1\n") == {"addopts": "-q"}
    assert pytest_settings("tox.ini", "[tox]\nenvlist = py311\n") is None
    assert pytest_settings("pytest.ini", "[pytest]\n") == {}
    assert pytest_settings("pyproject.toml", "not = = toml") == {"unparsed": "not = = toml"}
    assert pytest_settings("pyproject.toml", None) is None


def test_config_edits_that_hide_tests_are_named() -> None:
    before = '[tool.pytest.ini_options]\naddopts = "-ra"\ntestpaths = ["tests", "more"]\n'
    after = (
        "[tool.pytest.ini_options]\naddopts = \"-ra -k 'not mul' --deselect tests/test_a.py::test_b\"\n"
        'testpaths = ["tests"]\nnorecursedirs = ["tests/slow"]\n'
    )

    assert said("pyproject.toml", before, after) == [
        "pyproject.toml: addopts now filters tests: --deselect tests/test_a.py::test_b, -k not mul",
        "pyproject.toml: testpaths no longer has more",
        "pyproject.toml: norecursedirs now skips tests/slow",
    ]


def test_config_edits_that_do_not_hide_tests_are_not_weakenings() -> None:
    before = "[pytest]\naddopts = -ra\ntestpaths = tests\n"

    assert said("pytest.ini", before, "[pytest]\naddopts = -ra -v\ntestpaths = tests more\n") == []
    assert said("setup.cfg", "[metadata]\nname = x\n", "[metadata]\nname = y\n") == []


def test_filtering_options_are_found_in_every_spelling() -> None:
    args = ["-q", "-k", "not slow", "-mfast", "--ignore=tests/big", "--deselect", "t.py::test_x", "-x"]

    assert filtering_options(args) == ["-k not slow", "-m fast", "--ignore tests/big", "--deselect t.py::test_x"]
    assert filtering_options(["-kslow"]) == ["-k slow"]


def test_a_configured_command_narrowed_to_some_tests_is_found() -> None:
    files = ["tests/unit/test_a.py", "tests/slow/test_b.py"]

    assert command_filters(["python", "-m", "pytest", "tests/unit"], files) == ["tests/unit"]
    assert command_filters(["uv", "run", "pytest", "tests/unit/test_a.py::test_x"], files) == [
        "tests/unit/test_a.py::test_x"
    ]
    assert command_filters(["/venv/bin/pytest", "tests", "-n", "4"], files) == []  # all tests, and "4" is no path
    assert command_filters(["pytest", "-m", "not slow"], files) == ["-m not slow"]
    assert command_filters(["make", "test", "-k", "x"], files) == []  # not pytest: cannot be read
