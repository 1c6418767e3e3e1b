"""Tamper detection: how an attempt's edits to test files and test configuration weaken the tests.

Pure functions over the before and after text of one file, so every rule can be shown on a pair of
strings. What they find never decides on its own whether the code works (the original tests still
run against the new code, in a copy the agent cannot touch); it says why the agent's versions of
the tests cannot count in the attempt's favour, in words the agent can act on.

Read through `ast`, never by substring: a skip marker in a comment or a string is not a skip.
"""

from __future__ import annotations

import ast
import configparser
import shlex
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from overseer.workspace.files import is_test_file

# The last part of a decorator or marker name that skips or expects failure (pytest and unittest).
SKIP_MARKS = frozenset({"skip", "skipif", "xfail", "skipIf", "skipUnless", "expectedFailure"})
# Calls that skip or xfail a test from inside it.
SKIP_CALLS = frozenset({"skip", "xfail", "importorskip", "skipTest"})
# conftest hooks that can drop tests, or change what their outcome is reported as.
COLLECTION_HOOKS = frozenset(
    {
        "pytest_collection_modifyitems",
        "pytest_ignore_collect",
        "pytest_collect_file",
        "pytest_collection",
        "pytest_pycollect_makemodule",
        "pytest_pycollect_makeitem",
        "pytest_generate_tests",
        "pytest_runtest_protocol",
        "pytest_runtest_setup",
        "pytest_runtest_call",
        "pytest_runtest_makereport",
        "pytest_report_teststatus",
    }
)
# Options that run only some of the tests: -k/-m select, the others drop tests or files.
FILTER_OPTIONS = frozenset({"-k", "-m", "--deselect", "--ignore", "--ignore-glob"})
# pytest settings whose entries say where tests are found: an entry removed hides tests...
_COLLECTING = ("testpaths", "python_files", "python_classes", "python_functions")
# ... and this one's entries say where they are not looked for: an entry added hides tests.
_EXCLUDING = ("norecursedirs",)
# Where each configuration file keeps pytest's settings.
_INI_SECTIONS = {"pytest.ini": "pytest", ".pytest.ini": "pytest", "tox.ini": "pytest", "setup.cfg": "tool:pytest"}


@dataclass(frozen=True)
class Weakening:
    where: str  # a test's id ("tests/test_calc.py::test_mul") or a file's path
    what: str  # what the attempt did to it, e.g. "@pytest.mark.skip added"

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def weakenings(path: str, before: str | None, after: str | None) -> list[Weakening]:
    """What the change of one test-related file (None: absent on that side) did to the tests."""
    name = PurePosixPath(path).name
    if name == "conftest.py":
        return _conftest_weakenings(path, before or "", after or "")
    if name in _INI_SECTIONS or name == "pyproject.toml":
        return _config_weakenings(path, pytest_settings(path, before), pytest_settings(path, after))
    if not is_test_file(path) or before is None:
        return []  # a new test file adds tests; the agent's new tests run on their own account
    if after is None:
        tests = sorted(find_tests(before))
        listed = f": {', '.join(tests)}" if tests else ""
        return [Weakening(path, f"the test file was deleted ({len(tests)} test(s){listed})")]
    return _test_file_weakenings(path, before, after)


# --- test files ------------------------------------------------------------------------------------


def find_tests(source: str) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """The test functions of a module, by the part of their id after the path: `test_x`,
    `TestThing::test_x` (pytest's default naming; none when the source does not parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {}
    return dict(_tests_in(tree.body, prefix=""))


def _tests_in(body: list[ast.stmt], prefix: str) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            yield prefix + node.name, node
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            yield from _tests_in(node.body, prefix=f"{prefix}{node.name}::")


def source_of(source: str, test: str) -> str:
    """The source of one test (its decorators included), "" when it is not there."""
    node = find_tests(source).get(test)
    if node is None:
        return ""
    first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
    return "\n".join(source.splitlines()[first - 1 : node.end_lineno])


def edited_tests(before: str, after: str) -> list[str]:
    """Tests present on both sides whose code changed (layout and comments aside)."""
    old, new = find_tests(before), find_tests(after)
    return sorted(test for test in old.keys() & new.keys() if ast.dump(old[test]) != ast.dump(new[test]))


def _test_file_weakenings(path: str, before: str, after: str) -> list[Weakening]:
    old, new = find_tests(before), find_tests(after)
    found = [Weakening(f"{path}::{test}", "the test was deleted") for test in sorted(old.keys() - new.keys())]
    if _module_skips(after) > _module_skips(before):
        found.append(Weakening(path, "a skip or xfail for the whole file was added"))
    for test in sorted(old.keys() & new.keys()):
        found += [Weakening(f"{path}::{test}", what) for what in _test_weakenings(old[test], new[test])]
    return found


def _test_weakenings(
    old: ast.FunctionDef | ast.AsyncFunctionDef, new: ast.FunctionDef | ast.AsyncFunctionDef
) -> list[str]:
    found = []
    if _count_names(new.decorator_list, SKIP_MARKS) > _count_names(old.decorator_list, SKIP_MARKS):
        found.append("a skip or xfail marker was added")
    if _count_calls(new.body, SKIP_CALLS) > _count_calls(old.body, SKIP_CALLS):
        found.append("a pytest.skip() or pytest.xfail() call was added")
    if _checks_nothing(new.body) and not _checks_nothing(old.body):
        found.append("the test no longer checks anything")
    return found


def _module_skips(source: str) -> int:
    """Skips that cover a whole file: a `pytestmark` with a skip, a module-level `pytest.skip()`,
    and skip markers on test classes."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return 0
    count = 0
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            count += _count_names(node.decorator_list, SKIP_MARKS)
            count += sum(_count_names([stmt], SKIP_MARKS) for stmt in node.body if _assigns_pytestmark(stmt))
        elif _assigns_pytestmark(node):
            count += _count_names([node], SKIP_MARKS)
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            count += _count_calls([node], SKIP_CALLS)
    return count


def _assigns_pytestmark(node: ast.stmt) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    return any(isinstance(target, ast.Name) and target.id == "pytestmark" for target in targets)


def _count_names(nodes: Iterable[ast.AST], names: frozenset[str]) -> int:
    return sum(_last_name(node) in names for top in nodes for node in ast.walk(top))


def _count_calls(nodes: Iterable[ast.AST], names: frozenset[str]) -> int:
    return sum(isinstance(node, ast.Call) and _last_name(node.func) in names for top in nodes for node in ast.walk(top))


def _last_name(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _checks_nothing(body: list[ast.stmt]) -> bool:
    """A body of `pass`, `...`, a docstring, `return` or `assert <constant>`: it can never fail."""
    return all(
        isinstance(stmt, ast.Pass)
        or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))
        or (isinstance(stmt, ast.Return) and stmt.value is None)
        or (isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Constant) and bool(stmt.test.value))
        for stmt in body
    )


# --- conftest.py -----------------------------------------------------------------------------------


def _conftest_weakenings(path: str, before: str, after: str) -> list[Weakening]:
    old, new = _top_level(before), _top_level(after)
    found = []
    for name in sorted(COLLECTION_HOOKS | {"collect_ignore", "collect_ignore_glob"}):
        if name in new and name not in old:
            found.append(Weakening(path, f"`{name}` was added: it can drop tests or change their outcome"))
        elif name in new and old[name] != new[name]:
            found.append(Weakening(path, f"`{name}` was changed: it can drop tests or change their outcome"))
    if _count_calls(_parsed(after), SKIP_CALLS) > _count_calls(_parsed(before), SKIP_CALLS):
        found.append(
            Weakening(path, "a pytest.skip() or pytest.xfail() call was added (it skips every test it reaches)")
        )
    return found


def _top_level(source: str) -> dict[str, str]:
    """Top-level functions and assignments by name, each as its dumped tree (to compare)."""
    found: dict[str, str] = {}
    for node in _parsed(source):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = ast.dump(node)
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    found[target.id] = found.get(target.id, "") + ast.dump(node)
    return found


def _parsed(source: str) -> list[ast.stmt]:
    try:
        return ast.parse(source).body
    except (SyntaxError, ValueError):
        return []


# --- pytest's configuration ------------------------------------------------------------------------


def pytest_settings(path: str, text: str | None) -> dict[str, Any] | None:
    """The pytest section of a configuration file, or None when the file has none (or is absent).
    A file that does not parse gives its whole text, so any edit to it counts as a change."""
    if text is None:
        return None
    name = PurePosixPath(path).name
    if name == "pyproject.toml":
        return _toml_settings(text)
    section = _INI_SECTIONS.get(name)
    if section is None:
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return {"unparsed": text}
    return dict(parser[section]) if parser.has_section(section) else None


def _toml_settings(text: str) -> dict[str, Any] | None:
    try:
        tool = tomllib.loads(text).get("tool", {})
    except tomllib.TOMLDecodeError:
        return {"unparsed": text}
    pytest = tool.get("pytest") if isinstance(tool, dict) else None
    if not isinstance(pytest, dict):
        return None
    settings = {key: value for key, value in pytest.items() if key != "ini_options"}
    ini_options = pytest.get("ini_options")
    return {**settings, **ini_options} if isinstance(ini_options, dict) else settings


def _config_weakenings(path: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[Weakening]:
    old, new = old or {}, new or {}
    found = []
    added = set(filtering_options(_entries(new.get("addopts")))) - set(filtering_options(_entries(old.get("addopts"))))
    if added:
        found.append(Weakening(path, f"addopts now filters tests: {', '.join(sorted(added))}"))
    for key in _COLLECTING:
        if key in new and (removed := set(_entries(old.get(key))) - set(_entries(new[key]))):
            found.append(Weakening(path, f"{key} no longer has {', '.join(sorted(removed))}"))
    for key in _EXCLUDING:
        if added := set(_entries(new.get(key))) - set(_entries(old.get(key))):
            found.append(Weakening(path, f"{key} now skips {', '.join(sorted(added))}"))
    return found


def _entries(value: Any) -> list[str]:
    """A setting's entries: a TOML list, or an ini value split as a shell would."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(entry) for entry in value]
    try:
        return shlex.split(str(value))
    except ValueError:
        return str(value).split()


def command_filters(command: Sequence[str], test_files: Iterable[str]) -> list[str]:
    """How a configured test command narrows the tests, when it is pytest (`pytest ...`,
    `python -m pytest ...`, `uv run pytest ...`); any other command cannot be read."""
    for index, arg in enumerate(command):
        if PurePosixPath(arg).name in ("pytest", "py.test"):
            return filtering_options(command[index + 1 :], test_files)
    return []


def filtering_options(args: Sequence[str], test_files: Iterable[str] = ()) -> list[str]:
    """The options of a pytest command line that run only some tests (`-k expr`, `--ignore=x`...),
    and, given the workspace's test files, the paths or test ids that leave some of them out."""
    found, files = [], list(test_files)
    args = list(args)
    for index, arg in enumerate(args):
        option, _, value = arg.partition("=")
        if option in FILTER_OPTIONS:
            value = value or (args[index + 1] if index + 1 < len(args) else "")
            found.append(f"{option} {value}".strip())
        elif arg[:2] in ("-k", "-m") and len(arg) > 2:  # -k'not slow', -mfast
            found.append(f"{arg[:2]} {arg[2:]}")
        elif not arg.startswith("-") and _narrows(arg, files):
            found.append(arg)
    return found


def _narrows(arg: str, files: list[str]) -> bool:
    """A positional argument that names some test files (or tests) but not all of them."""
    path = arg.split("::", 1)[0].rstrip("/")
    covered = [f for f in files if path in (".", "") or f == path or f.startswith(path + "/")]
    return bool(covered) and ("::" in arg or len(covered) < len(files))
