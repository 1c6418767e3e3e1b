"""Checkpoints, scratch copies and the gates on a workspace reached over SSH (a real sshd on loopback).

The workspace lives in the server's private tmp: a tmpfs in sshd's own mount namespace, which this
process cannot see, so any code that read or wrote a remote path with pathlib would fail here.
What git and the gates did on the far side is checked from inside that namespace (`nsenter`), not
through the SSHHost under test; that a command ran over SSH also shows in its environment (sshd
sets SSH_CONNECTION).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath

import pytest

from overseer.config import GatesConfig
from overseer.domain import AgentResult, Evidence, FileChange
from overseer.errors import CheckpointError, ConfigError
from overseer.supervise.baseline import baseline_from
from overseer.supervise.gates import GateContext, run_gates
from overseer.supervise.gates import commands as gate_commands
from overseer.supervise.gates.commands import run_pytest
from overseer.supervise.gates.suites import private_dir
from overseer.testing.ssh import SSHServer
from overseer.workspace.checkpoints import Checkpoints
from overseer.workspace.scratch import Scratch
from overseer.workspace.ssh_host import SSHHost
from tests.conftest import ssh_settings_for
from tests.supervise.attempts import write

Files = Mapping[str, str | bytes | None]  # None: remove the file

# Every file under a directory (symlinks as "-> target"; .overseer left out), as JSON, run inside.
_LIST = """
import json, os, sys
root = sys.argv[1]
found = {}
for base, dirs, names in os.walk(root):
    dirs[:] = sorted(d for d in dirs if d != ".overseer" or base != root)
    for name in names:
        path = os.path.join(base, name)
        rel = os.path.relpath(path, root)
        if os.path.islink(path):
            found[rel] = "-> " + os.readlink(path)
        else:
            found[rel] = open(path, "rb").read().decode("latin-1")
print(json.dumps(found, sort_keys=True))
"""


class Far:
    """The far side's files, read and written inside sshd's mount namespace (never over SSH)."""

    def __init__(self, server: SSHServer) -> None:
        self.server = server

    def run(self, *argv: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        command = ["nsenter", "-t", str(self.server.pid), "-m", "--", *argv]
        return subprocess.run(command, input=stdin, capture_output=True, check=False)

    def write(self, root: PurePosixPath, files: Files) -> None:
        for name, content in files.items():
            path = str(root / name)
            if content is None:
                self.run("rm", "-f", "--", path)
                continue
            data = content if isinstance(content, bytes) else content.encode()
            done = self.run("sh", "-c", 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"', "sh", path, stdin=data)
            assert done.returncode == 0, done.stderr

    def files(self, root: PurePosixPath) -> dict[str, bytes]:
        done = self.run("/usr/bin/python3", "-c", _LIST, str(root))
        assert done.returncode == 0, done.stderr
        return {name: text.encode("latin-1") for name, text in json.loads(done.stdout).items()}

    def exists(self, path: PurePosixPath) -> bool:
        return self.run("test", "-e", str(path)).returncode == 0


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
    assert isinstance(made, PurePosixPath) and far.exists(made)
    assert not Path(made).exists()  # invisible here: pathlib on it would fail
    yield made
    far.run("rm", "-rf", "--", str(made))


@pytest.fixture
def shadow(host: SSHHost, ws: PurePosixPath) -> Checkpoints:
    """The workspace's checkpoints, taken over SSH."""
    return Checkpoints(ws, host=host)


BEFORE: Files = {"a.txt": "a\n", "pkg/mod.py": b"x = 1\r\n", "gone.txt": "bye\n"}


def test_snapshots_over_ssh_are_a_shadow_repository_on_the_far_side(
    shadow: Checkpoints, ws: PurePosixPath, far: Far
) -> None:
    far.write(ws, BEFORE)
    far.run("ln", "-s", "pkg/mod.py", str(ws / "link"))
    first = shadow.snapshot("before")
    far.write(ws, {"a.txt": "a\nb\n", "gone.txt": None, "new.py": "y = 2\n"})
    second = shadow.snapshot("after")

    assert [(c.path, c.kind) for c in shadow.changes(first, second)] == [
        ("a.txt", "modified"),
        ("gone.txt", "deleted"),
        ("new.py", "added"),
    ]
    assert "+b\n" in shadow.diff(first, second) and "+y = 2\n" in shadow.diff(first, second)
    assert shadow.changed_lines(first, second) == {"a.txt": {2}, "new.py": {1}}
    assert [snap.message for snap in shadow.snapshots()] == ["after", "before"]
    assert shadow.find(first[:8]).sha == first
    assert shadow.files(first) == ["a.txt", "gone.txt", "link", "pkg/mod.py"]
    # The shadow repository is where a local one would be, read here with plain git from inside.
    git_dir = str(ws / ".overseer" / "shadow.git")
    refs = far.run("git", "--git-dir", git_dir, "for-each-ref", "--format=%(objectname)", "refs/snapshots/")
    assert refs.stdout.decode().split() == [first, second]
    assert far.files(ws / ".overseer" / "shadow.git" / "info") == {
        "attributes": b"* -text -eol -filter -ident -working-tree-encoding\n",
        "exclude": b".overseer/\n.git\n",
    }
    assert far.exists(ws / ".overseer" / "shadow.git" / "overseer-snapshot-refs")


def test_restore_over_ssh_brings_the_files_back_exactly_and_verify_checks_them(
    shadow: Checkpoints, ws: PurePosixPath, far: Far
) -> None:
    far.write(ws, BEFORE)
    first = shadow.snapshot("before")
    expected = far.files(ws)
    far.write(ws, {"a.txt": "changed\n", "pkg/mod.py": None, "new.txt": "new\n"})

    saved = shadow.restore(first, label="task 3")

    assert far.files(ws) == expected  # bytes as they were (\r\n kept), the added file gone
    assert shadow.snapshots()[0].sha == saved and shadow.snapshots()[0].message.startswith("task 3: before restoring")
    shadow.verify(first)
    far.write(ws, {"a.txt": "tampered\n"})
    with pytest.raises(CheckpointError, match="does not match the snapshot") as raised:
        shadow.verify(first)
    assert raised.value.context["paths"] == "a.txt"
    assert raised.value.context["workspace"] == f"{shadow.host.label}:{ws}"  # where, in the message


def test_a_scratch_copy_over_ssh_is_the_snapshot_on_the_far_side_and_goes_away(
    shadow: Checkpoints, ws: PurePosixPath, far: Far
) -> None:
    far.write(ws, BEFORE)
    far.run("ln", "-s", "pkg/mod.py", str(ws / "link"))
    first = shadow.snapshot("before")
    far.write(ws, {"a.txt": "later\n"})

    with Scratch(shadow) as scratch:
        copy = scratch.copy(first)
        assert isinstance(copy, PurePosixPath) and not Path(copy).exists()
        assert far.files(PurePosixPath(copy)) == {
            "a.txt": b"a\n",
            "gone.txt": b"bye\n",
            "link": b"-> pkg/mod.py",
            "pkg/mod.py": b"x = 1\r\n",
        }
        plugin = PurePosixPath(scratch.tool(gate_commands._PLUGIN))
        assert plugin.parent.parent == copy.parent  # uploaded into the scratch area
        assert far.run("cat", str(plugin)).stdout == gate_commands._PLUGIN.read_bytes()
        far.write(plugin.parent, {plugin.name: "# the uploaded copy\n"})
        assert scratch.tool(gate_commands._PLUGIN) == plugin
        assert far.run("cat", str(plugin)).stdout == b"# the uploaded copy\n"  # uploaded once, not again
        root = PurePosixPath(copy).parent

    assert not far.exists(root)
    assert far.files(ws)["a.txt"] == b"later\n"


def test_a_workspace_on_another_host_is_named_by_its_full_path(host: SSHHost) -> None:
    with pytest.raises(ConfigError, match=r"ws on ssh://\S+ is not an absolute path"):
        Checkpoints(PurePosixPath("ws"), host=host)


def test_the_login_environment_s_git_variables_do_not_reach_the_shadow_repository(
    ssh_server: SSHServer, tmp_path: Path, workspace: Path
) -> None:
    elsewhere = tmp_path / "elsewhere.git"
    login = {"GIT_DIR": str(elsewhere), "GIT_INDEX_FILE": str(tmp_path / "index"), "GIT_WORK_TREE": str(tmp_path)}
    with SSHServer(login_env=login) as server, SSHHost(ssh_settings_for(server)) as host:
        assert f"GIT_DIR={elsewhere}".encode() in host.run(["env"]).stdout  # the login sets it
        write(workspace, {"a.txt": "a\n", "pkg/mod.py": "x = 1\n"})
        first = Checkpoints(PurePosixPath(workspace), host=host).snapshot("before")

    assert Checkpoints(workspace).files(first) == ["a.txt", "pkg/mod.py"]
    assert not elsewhere.exists() and not (tmp_path / "index").exists()


# --- the gates in scratch copies on the far side ------------------------------------------------------

CALC = '''def add(a, b):
    return a + b


def mul(a, b):
    """The product.

    >>> mul(3, 4)
    12
    """
    return a * b
'''
TESTS = """import os

from calc import add


def test_add():
    assert add(2, 2) == 4


def test_over_ssh():
    assert "SSH_CONNECTION" in os.environ  # sshd's: the tests ran on the far side
"""
NEW_CALC = CALC.replace("    return a * b\n", "    return a + b\n") + "\n\ndef sub(a, b):\n    return a - b\n"
NEW_TESTS = TESTS + "\n\ndef test_sub():\n    from calc import sub\n    assert sub(3, 1) == 2\n"


@pytest.fixture
def remote_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """The far side's interpreter for the gates is this venv's: pytest, coverage.py and ruff are there
    (the login PATH's python3 need not have them)."""
    monkeypatch.setattr(gate_commands, "REMOTE_PYTHON", sys.executable)


def test_run_pytest_runs_in_a_scratch_copy_on_the_far_side(
    shadow: Checkpoints, ws: PurePosixPath, far: Far, remote_python: None
) -> None:
    far.write(ws, {"calc.py": CALC, "tests/test_calc.py": TESTS})
    sha = shadow.snapshot("before")

    with Scratch(shadow) as scratch:
        copy = scratch.copy(sha, "agent")
        run = run_pytest(copy, 60, private_dir(copy), coverage=True, scratch=scratch)
        data = run.coverage_file
        assert data is not None and far.exists(PurePosixPath(data))  # coverage.py's data, on the far side
        assert far.exists(PurePosixPath(private_dir(copy)) / "pytest-report.jsonl")

    assert run.run.exit_code == 0, run.run.output
    assert run.report is not None and run.report.outcomes == {
        "tests/test_calc.py::test_add": "passed",
        "tests/test_calc.py::test_over_ssh": "passed",
    }
    assert sorted(far.files(ws)) == ["calc.py", "tests/test_calc.py"]  # no cache, no __pycache__


def test_every_gate_runs_on_the_far_side(shadow: Checkpoints, ws: PurePosixPath, far: Far, remote_python: None) -> None:
    far.write(ws, {"calc.py": CALC, "tests/test_calc.py": TESTS, "pyproject.toml": "[tool.ruff]\n"})
    before = shadow.snapshot("before")
    far.write(ws, {"calc.py": NEW_CALC, "tests/test_calc.py": NEW_TESTS, "broken.py": "import os\ndef f(:\n"})
    after = shadow.snapshot("after")
    evidence = Evidence(
        task="add sub",
        attempt=1,
        workspace=Path(ws),  # a path on the far side: the gates read it through the host
        result=AgentResult(session_id=None, is_error=False, text="Done."),
        changes=shadow.changes(before, after),
        diff=shadow.diff(before, after),
        checkpoint_before=before,
        checkpoint_after=after,
    )

    with Scratch(shadow) as scratch:
        copy = scratch.copy(before, "baseline")
        suite = run_pytest(copy, 60, private_dir(copy), scratch=scratch)
        base = baseline_from(suite, shadow.tree(before), 60, Path(copy))
        gates, findings = run_gates(GateContext(evidence, GatesConfig(), scratch, baseline=base))

    results = {gate.name: gate for gate in gates}
    codes = sorted(f.code for f in findings)
    assert base.outcomes == {"tests/test_calc.py::test_add": "passed", "tests/test_calc.py::test_over_ssh": "passed"}
    assert results["syntax"].passed is False and "broken.py line 2" in results["syntax"].output
    # The tests pass on the far side (test_over_ssh too); the new test_sub fails without sub.
    assert results["tests"].passed is True, results["tests"].output
    assert results["fail_first"].details["fail_first"] == ["tests/test_calc.py::test_sub"]
    # coverage.py's data came back from the far side and was read here: mul's changed line never ran.
    assert results["coverage"].details["uncovered"] == {"calc.py": "11"}
    # mul's own example, run by the examples runner uploaded to the far side, is refuted.
    assert results["examples"].passed is False and "mul(3, 4) gave 7, expected 12" in results["examples"].output
    # ruff is configured and runs there (broken.py does not parse: a problem on a changed line).
    assert results["lint"].details["linters"] == ["ruff"] and results["lint"].passed is False
    assert {"syntax_error", "example_refuted", "uncovered_changes", "lint_problems"} <= set(codes)
    assert far.files(ws)["calc.py"] == NEW_CALC.encode()  # the workspace is left as it was
    assert sorted(far.files(ws)) == ["broken.py", "calc.py", "pyproject.toml", "tests/test_calc.py"]


def test_changes_name_the_blobs_the_gates_read(shadow: Checkpoints, ws: PurePosixPath, far: Far) -> None:
    far.write(ws, {"calc.py": CALC})
    before = shadow.snapshot("before")
    far.write(ws, {"calc.py": NEW_CALC})
    after = shadow.snapshot("after")

    [change] = shadow.changes(before, after)
    assert change == FileChange("calc.py", "modified", change.sha_before, change.sha_after)
    assert change.sha_after is not None and shadow.blob_bytes(change.sha_after) == NEW_CALC.encode()
    assert shadow.blob_size(change.sha_after) == len(NEW_CALC.encode())
    assert shadow.blob(change.sha_after, max_bytes=10) is None
