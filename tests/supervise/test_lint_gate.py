"""The lint gate on real attempts: real snapshots, the real ruff and mypy of overseer's environment, and
stand-in linters written as real scripts."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from overseer.config import GatesConfig
from overseer.domain import AgentResult, Evidence, FileChange, Route, Severity
from overseer.supervise.gates.base import GateContext, GateOutcome
from overseer.supervise.gates.lint import configured_linters, lint_gate, parse_problems
from overseer.workspace.checkpoints import Checkpoints
from overseer.workspace.scratch import Scratch
from tests.supervise.attempts import Files
from tests.supervise.attempts import attempt as make_attempt

RUFF = '[tool.ruff.lint]\nselect = ["F"]\n'
CALC = "import os\n\n\ndef mul(a, b):\n    return a * b\n"


def attempt(root: Path, before: Files, after: Files, task: str = "make mul multiply") -> Evidence:
    return make_attempt(root, before, after, task)


def run_gate(evidence: Evidence, command: list[str] | None = None, timeout_s: float = 60) -> GateOutcome:
    with Scratch(Checkpoints(evidence.workspace)) as scratch:
        return lint_gate(GateContext(evidence, GatesConfig(), scratch), command=command, timeout_s=timeout_s)


def test_ruff_reports_only_new_problems_on_changed_lines(tmp_path: Path) -> None:
    # Before: `os` unused (F401, line 1). After: line 1 is edited but keeps its old problem, and a new
    # unused variable appears on a changed line. Line 1's F401 is old debt, not the agent's doing.
    after = "import os  # still unused\n\n\ndef mul(a, b):\n    unused = 1\n    return a * b\n"
    evidence = attempt(tmp_path / "ws", {"pyproject.toml": RUFF, "calc.py": CALC}, {"calc.py": after})

    result, findings = run_gate(evidence)

    (problems,) = findings
    assert (problems.code, problems.severity, problems.route) == ("lint_problems", Severity.WARNING, Route.AGENT)
    assert problems.message == (
        "The project's linters report 1 new problems on lines this attempt changed:\n"
        "- calc.py:5: F841 Local variable `unused` is assigned to but never used (ruff)"
    )
    assert (result.name, result.passed, result.failed_count, result.verifies) == ("lint", False, 1, False)
    assert result.summary == "ruff: 1 new problems on the changed lines of 1 Python file(s)"


def test_a_clean_change_passes_and_a_new_file_is_linted_whole(tmp_path: Path) -> None:
    new_module = "import sys\n\n\ndef main():\n    return 0\n"
    evidence = attempt(
        tmp_path / "ws",
        {"ruff.toml": '[lint]\nselect = ["F"]\n', "calc.py": CALC},
        {"calc.py": CALC.replace("a * b", "b * a"), "cli.py": new_module},
    )

    result, findings = run_gate(evidence)

    assert [f.message.splitlines()[1:] for f in findings] == [["- cli.py:1: F401 `sys` imported but unused (ruff)"]]
    assert result.details["linters"] == ["ruff"]


def test_mypy_configured_in_its_ini_file_reports_a_new_type_error(tmp_path: Path) -> None:
    typed = "def mul(a: int, b: int) -> int:\n    return a * b\n"
    evidence = attempt(
        tmp_path / "ws",
        {"mypy.ini": "[mypy]\nstrict = True\n", "calc.py": typed},
        {"calc.py": typed.replace("a * b", "str(a * b)")},
    )

    result, findings = run_gate(evidence)

    assert [f.message.splitlines()[1] for f in findings] == [
        '- calc.py:2: Incompatible return value type (got "str", expected "int") [return-value] (mypy)'
    ]
    assert result.passed is False


def test_flake8_from_setup_cfg_runs_when_it_is_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in flake8 that writes flake8's default format: one problem per `lambda` assignment.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "flake8"
    fake.write_text(
        f"#!{sys.executable}\nimport sys\n"
        "for path in sys.argv[1:]:\n"
        "    for n, line in enumerate(open(path), 1):\n"
        "        if '= lambda' in line:\n"
        "            print(f'./{path}:{n}:1: E731 do not assign a lambda expression, use a def')\n"
        "sys.exit(1)\n"
    )
    fake.chmod(0o755)
    before = {
        "setup.cfg": "[metadata]\nname = calc\n\n[flake8]\nmax-line-length = 100\n",
        "calc.py": "sq = lambda x: x * x\n",
    }
    evidence = attempt(tmp_path / "ws", before, {"calc.py": "sq = lambda x: x * x\ncube = lambda x: x**3\n"})
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")

    _, findings = run_gate(evidence)

    assert [f.message.splitlines()[1] for f in findings] == [
        "- calc.py:2: E731 do not assign a lambda expression, use a def (flake8)"
    ]


def test_a_configured_linter_that_is_not_installed_is_said_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if importlib.util.find_spec("flake8") is not None:
        pytest.skip("flake8 is importable here, so it counts as installed: this test needs an environment without it")
    evidence = attempt(tmp_path / "ws", {".flake8": "[flake8]\n", "calc.py": CALC}, {"calc.py": CALC + "\n"})
    only_git = tmp_path / "bin"
    only_git.mkdir()
    (only_git / "git").symlink_to(shutil.which("git") or "git")
    monkeypatch.setenv("PATH", str(only_git))

    result, findings = run_gate(evidence)

    assert (result.passed, result.summary, findings) == (None, "flake8 configured but not installed", ())


def test_no_linter_configured_means_the_gate_did_not_apply(tmp_path: Path) -> None:
    evidence = attempt(tmp_path / "ws", {"calc.py": CALC}, {"calc.py": CALC + "x = 1\n"})

    result, findings = run_gate(evidence)

    assert (result.passed, result.summary, findings) == (None, "no linter configured", ())


def test_a_configured_lint_command_gets_the_files_and_its_output_is_read(tmp_path: Path) -> None:
    checker = tmp_path / "todo_lint.py"
    checker.write_text(
        "import sys\nfor path in sys.argv[1:]:\n"
        "    for n, line in enumerate(open(path), 1):\n"
        "        if 'TODO' in line:\n            print(f'{path}:{n}: TODO left in the code')\n"
    )
    before = {"calc.py": "# TODO: old\n" + CALC}
    evidence = attempt(tmp_path / "ws", before, {"calc.py": "# TODO: old\n" + CALC + "# TODO: new\n"})

    result, findings = run_gate(evidence, command=[sys.executable, str(checker), "{files}"])

    linter = Path(sys.executable).name  # a configured command is named after its program
    assert [f.message.splitlines()[1] for f in findings] == [f"- calc.py:7: TODO left in the code ({linter})"]
    assert result.passed is False


def test_a_linter_that_cannot_run_is_overseers_problem_not_the_agents(tmp_path: Path) -> None:
    evidence = attempt(tmp_path / "ws", {"calc.py": CALC}, {"calc.py": CALC + "x = 1\n"})

    result, findings = run_gate(evidence, command=[str(tmp_path / "no-such-linter"), "{files}"])

    (unavailable,) = findings
    assert (unavailable.code, unavailable.severity, unavailable.route) == (
        "gate_unavailable",
        Severity.INFO,
        Route.OVERSEER,
    )
    assert "no-such-linter could not be started" in unavailable.message
    assert result.passed is None


def test_a_broken_linter_configuration_is_not_blamed_on_the_agent(tmp_path: Path) -> None:
    evidence = attempt(
        tmp_path / "ws",
        {"pyproject.toml": RUFF, "calc.py": CALC},
        {"pyproject.toml": RUFF + "line-length = 'wide'\n", "calc.py": CALC + "x = 1\n"},
    )

    result, findings = run_gate(evidence)

    assert [(f.code, f.route) for f in findings] == [("gate_unavailable", Route.OVERSEER)]
    assert "ruff exited with code 2" in findings[0].message
    assert result.passed is None


def test_without_snapshots_the_gate_does_not_apply(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(RUFF)
    (tmp_path / "calc.py").write_text(CALC)
    evidence = Evidence(
        task="t",
        attempt=1,
        workspace=tmp_path,
        result=AgentResult(session_id=None, is_error=False, text=""),
        changes=(FileChange("calc.py", "modified", None, None),),
    )

    result, findings = lint_gate(GateContext(evidence, GatesConfig()))

    assert (result.passed, findings) == (None, ())


# --- reading configurations and outputs (pure) -------------------------------------------------------


def test_linters_are_found_from_every_kind_of_configuration(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.mypy]\nstrict = true\n")
    (tmp_path / "tox.ini").write_text("[tox]\nenvlist = py311\n\n[flake8]\nmax-line-length = 100\n")
    (tmp_path / ".ruff.toml").write_text("line-length = 100\n")
    assert configured_linters(tmp_path) == {"ruff", "flake8", "mypy"}
    (tmp_path / "pyproject.toml").write_text("[tool.black]\n[tool.ruff\n")  # broken: nothing read from it
    assert configured_linters(tmp_path) == {"ruff", "flake8"}


def test_the_three_output_formats_are_parsed(tmp_path: Path) -> None:
    output = "\n".join(
        [
            "calc.py:1:8: F401 [*] `os` imported but unused",
            "calc.py:6:1: invalid-syntax: unexpected EOF while parsing",
            "./pkg/mod.py:3:80: E501 line too long (88 > 79 characters)",
            'calc.py:2: error: Incompatible return value type (got "str", expected "int")  [return-value]',
            "calc.py:2: note: See https://mypy.rtfd.io",
            f'{tmp_path}/abs.py:4: error: Name "x" is not defined  [name-defined]',
            "Found 2 errors.",
        ]
    )
    problems = [(p.path, p.line, p.code, p.message) for p in parse_problems(output, tmp_path, "x")]
    assert problems == [
        ("calc.py", 1, "F401", "`os` imported but unused"),
        ("calc.py", 6, "invalid-syntax", "unexpected EOF while parsing"),
        ("pkg/mod.py", 3, "E501", "line too long (88 > 79 characters)"),
        ("calc.py", 2, "return-value", 'Incompatible return value type (got "str", expected "int")'),
        ("abs.py", 4, "name-defined", 'Name "x" is not defined'),
    ]
