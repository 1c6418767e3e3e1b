"""The whole judge on a workspace reached over SSH: a real sshd on loopback whose sessions keep their
files in a tmpfs this process cannot see, real git there, real pytest, doctest and acceptance checks
run there by the gates' interpreter, the supervisor model scripted (the one fake: no model can run here).

Any stage that still read or wrote the workspace, a scratch copy or a gate's file with pathlib here
would fail (the paths do not exist on this side) or, writing, would leave a directory here: both are
checked. That the commands ran on the far side also shows in their environment (sshd sets
SSH_CONNECTION): the workspace's tests and the acceptance checks assert it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from overseer.config import GatesConfig
from overseer.domain import AgentReport, AgentResult, Decision, Evidence, GateResult, Route, Severity, Verdict
from overseer.llm.ollama import OllamaConfig, OllamaLLM
from overseer.supervise.acceptance import AcceptanceChecks
from overseer.supervise.baseline import installed
from overseer.supervise.calibration import priors
from overseer.supervise.decide import DecisionEngine
from overseer.supervise.gates import commands as gate_commands
from overseer.supervise.judge import Judge
from overseer.supervise.scope import scope_findings
from overseer.testing import ScriptedOllamaServer
from overseer.testing.ssh import SSHServer
from overseer.workspace.checkpoints import Checkpoints
from overseer.workspace.local_host import LOCAL
from overseer.workspace.ssh_host import SSHHost
from tests.conftest import ssh_settings_for
from tests.workspace.test_checkpoints_ssh import Far, Files

STUB = '''def add(a, b):
    return a + b


def mul(a, b):
    """The product of a and b.

    >>> mul(3, 4)
    12
    >>> mul(7, 0)
    0
    """
    raise NotImplementedError
'''
RIGHT = STUB.replace("raise NotImplementedError", "return a * b")
WRONG = STUB.replace("raise NotImplementedError", "return a + b")
TESTS = """import os

from calc import add, mul


def test_add():
    assert add(2, 2) == 4


def test_mul():
    assert mul(4, 5) == 20


def test_on_the_far_side():
    assert "SSH_CONNECTION" in os.environ  # sshd's: the tests ran there
"""
PYPROJECT = '[project]\nname = "calc"\ndependencies = []\n\n[tool.calc]\nlevel = 1\n'
BEFORE: Files = {"calc.py": STUB, "tests/test_calc.py": TESTS, "pyproject.toml": PYPROJECT}
TASK = "Implement mul(a, b) in calc.py: it returns the product of a and b."
PRODUCTS = {
    "name": "products on the far side",
    "source": "import os\nfrom calc import mul\n\nassert 'SSH_CONNECTION' in os.environ\nassert mul(3, 4) == 12\n",
}
MUL_ID = "tests/test_calc.py::test_mul"


@pytest.fixture
def host(private_ssh_server: SSHServer) -> Iterator[SSHHost]:
    with SSHHost(ssh_settings_for(private_ssh_server)) as host:
        yield host


@pytest.fixture
def far(private_ssh_server: SSHServer) -> Far:
    return Far(private_ssh_server)


@pytest.fixture
def ws(host: SSHHost, far: Far) -> Iterator[PurePosixPath]:
    """A workspace directory that exists on the far side only."""
    made = host.mkdtemp("ws-")
    assert isinstance(made, PurePosixPath) and not Path(made).exists()
    yield made
    far.run("rm", "-rf", "--", str(made))


@pytest.fixture(autouse=True)
def remote_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """The far side's interpreter for the gates is this venv's (pytest and coverage.py are there; the
    login PATH's python3 need not have them)."""
    monkeypatch.setattr(gate_commands, "REMOTE_PYTHON", sys.executable)


def attempt(
    host: SSHHost,
    far: Far,
    ws: PurePosixPath,
    after: Files,
    reports: tuple[AgentReport, ...] = (),
    before: Files = BEFORE,
) -> Evidence:
    """Evidence of an attempt on the far side: `before` snapshotted there, then `after` applied and snapshotted."""
    far.write(ws, before)
    checkpoints = Checkpoints(ws, host=host)
    first = checkpoints.snapshot("before")
    far.write(ws, after)
    last = checkpoints.snapshot("after")
    return Evidence(
        task=TASK,
        attempt=1,
        workspace=Path(ws),  # the path on the far side, as the loop names a remote workspace
        result=AgentResult(session_id=None, is_error=False, text="Done.", reports=reports),
        changes=checkpoints.changes(first, last),
        diff=checkpoints.diff(first, last),
        checkpoint_before=first,
        checkpoint_after=last,
    )


def judge(server: ScriptedOllamaServer, local: Path, **gates: Any) -> Judge:
    """The judge as the loop builds it for a remote workspace: overseer's own state in `local`."""
    config = GatesConfig(**gates)
    checks = AcceptanceChecks(OllamaLLM(OllamaConfig(host=server.url)), trust=0.5, config=config)
    return Judge(config, None, calibration=priors(), acceptance=checks, local_workspace=local)


def gate(verdict: Verdict, name: str) -> GateResult:
    (found,) = (g for g in verdict.gates if g.name == name)
    return found


def decide(verdict: Verdict) -> Any:
    return DecisionEngine(proceed_threshold=0.7, max_attempts=3).decide(verdict, 1)


def test_a_right_change_on_the_far_side_is_verified_there_and_proceeds(
    host: SSHHost, far: Far, ws: PurePosixPath, tmp_path: Path
) -> None:
    evidence = attempt(host, far, ws, {"calc.py": RIGHT, "pyproject.toml": PYPROJECT.replace("1", "2")})
    left = far.files(ws)

    with ScriptedOllamaServer([{"checks": [PRODUCTS]}]) as server:
        judged = judge(server, tmp_path)
        judged.prepare(Path(ws), evidence.checkpoint_before, host=host)  # the baseline, as the agent works
        verdict = judged.judge(evidence, host=host)

    tests = gate(verdict, "tests")
    assert (tests.passed, tests.verifies) == (True, True), tests.output
    assert tests.details["fixed"] == [MUL_ID]  # failed before (the stub), passes now: both runs on the far side
    assert tests.details["baseline_usable"] and not tests.details["baseline_cached"]
    assert gate(verdict, "examples").passed is True  # mul's own examples, run there
    acceptance = gate(verdict, "acceptance")
    assert (acceptance.passed, acceptance.verifies) == (True, True), acceptance.details
    (check,) = acceptance.details["checks"]
    assert check["status"] == "confirmed"  # passes on the new code, fails on the stub (the code's error)
    assert (check["before"]["error"], check["before"]["where"]) == ("NotImplementedError", "code")
    # A pyproject edit outside its dependency tables is no dependency change: both versions were read there.
    assert not [f for f in verdict.findings if f.severity is Severity.BLOCKING], verdict.findings
    assert "dependencies_changed" not in {f.code for f in verdict.findings}
    assert decide(verdict).decision is Decision.PROCEED
    # overseer's own state is here: the baseline's cache, keyed by the far side's interpreter.
    (cached,) = (tmp_path / ".overseer" / "baselines").glob("*.json")
    runner = json.loads(cached.read_text())["runner"]
    assert runner["host"] == host.label and runner["python"].startswith(f"{sys.executable} 3.")
    # Nothing here at the far side's path, nothing left there but the workspace as the agent left it.
    assert not Path(ws).exists()
    assert far.files(ws) == left


def test_a_second_judgment_of_the_same_code_reads_the_baseline_from_the_local_cache(
    host: SSHHost, far: Far, ws: PurePosixPath, tmp_path: Path
) -> None:
    evidence = attempt(host, far, ws, {"calc.py": RIGHT})

    with ScriptedOllamaServer([{"checks": []}]) as server:
        first = judge(server, tmp_path).judge(evidence, host=host)  # no prepare: the tests gate runs it
        again = judge(server, tmp_path).judge(evidence, host=host)
        elsewhere = judge(server, tmp_path / "other").judge(evidence, host=host)

    assert gate(first, "tests").details["baseline_cached"] is False
    assert gate(again, "tests").details["baseline_cached"] is True
    assert gate(elsewhere, "tests").details["baseline_cached"] is False  # another local workspace, its own cache
    assert gate(again, "tests").details["fixed"] == gate(first, "tests").details["fixed"] == [MUL_ID]
    assert not Path(ws).exists()


def test_a_wrong_change_on_the_far_side_fails_its_tests_and_goes_back(
    host: SSHHost, far: Far, ws: PurePosixPath, tmp_path: Path
) -> None:
    evidence = attempt(host, far, ws, {"calc.py": WRONG, "pyproject.toml": PYPROJECT.replace("[]", '["numpy"]')})

    with ScriptedOllamaServer([{"checks": [PRODUCTS]}]) as server:
        verdict = judge(server, tmp_path).judge(evidence, host=host)

    tests = gate(verdict, "tests")
    assert (tests.passed, tests.verifies) == (False, False)
    codes = {f.code: f for f in verdict.findings}
    # test_mul failed before as well, but differently (NotImplementedError then, a wrong product now).
    assert "tests_failed" in codes and MUL_ID in codes["tests_failed"].message
    assert "assert 9 == 20" in codes["tests_failed"].message
    assert "mul(3, 4) gave 7, expected 12" in gate(verdict, "examples").output
    assert codes["dependencies_changed"].message == "The attempt changed dependencies: pyproject.toml."
    outcome = decide(verdict)
    assert outcome.decision is Decision.RETRY and MUL_ID in outcome.feedback
    assert server.requests == []  # blocked already: no checks were asked for
    assert not Path(ws).exists()


def test_a_conflict_the_agent_reports_is_checked_on_the_far_side(
    host: SSHHost, far: Far, ws: PurePosixPath, tmp_path: Path
) -> None:
    clash = TESTS + "\n\ndef test_mul_by_zero():\n    assert mul(7, 0) is None\n"
    report = AgentReport(
        "report_conflict",
        "test_mul_by_zero expects None, the docstring says mul(7, 0) is 0",
        "tests/test_calc.py::test_mul_by_zero\n>>> mul(7, 0)\n0",
    )
    evidence = attempt(host, far, ws, {"calc.py": RIGHT}, (report,), before={**BEFORE, "tests/test_calc.py": clash})

    with ScriptedOllamaServer([{"checks": []}]) as server:
        verdict = judge(server, tmp_path, lint=False).judge(evidence, host=host)

    (conflict,) = [f for f in verdict.findings if f.code.startswith("conflict_")]
    assert (conflict.code, conflict.route) == ("conflict_confirmed", Route.HUMAN)
    assert "assert mul(7, 0) is None" in conflict.message  # the test's source, read on the far side
    assert ">>> mul(7, 0)  ->  0 holds" in conflict.message  # the spec's example, run there
    assert decide(verdict).decision is Decision.CLARIFY


def test_scope_reads_the_snapshots_where_they_are(host: SSHHost, far: Far, ws: PurePosixPath) -> None:
    moved = {"calc.py": None, "maths.py": STUB + "# moved\n", "pyproject.toml": PYPROJECT + "# x\n"}
    evidence = replace(attempt(host, far, ws, moved), task="Tidy up the code.")  # it names no file

    found = {f.code: f.message for f in scope_findings(evidence, checkpoints=Checkpoints(ws, host=host))}

    # git's rename detection ran there (a rename with an edit, not a deletion), and the pyproject's two
    # versions were read there (an unreadable one would count as a dependency change).
    assert found == {"unrequested_rename": "The attempt renamed files the task did not name: calc.py -> maths.py."}


def test_whether_a_missing_module_is_installed_now_is_asked_of_the_far_sides_interpreter(
    ssh_server: SSHServer, tmp_path: Path
) -> None:
    # A cached baseline whose tests missed a module is run again once that module can be imported
    # where the tests run: there, a module on the login's PYTHONPATH, which this process cannot import.
    (tmp_path / "only_over_there.py").write_text("")
    wanted = ["json", "only_over_there", "overseer_missing_module_xyz", "no_such_package.sub"]
    with SSHServer(login_env={"PYTHONPATH": str(tmp_path)}) as server, SSHHost(ssh_settings_for(server)) as host:
        assert installed(host, wanted) == ["json", "only_over_there"]
        assert installed(host, []) == []

    assert installed(LOCAL, wanted) == ["json"]
