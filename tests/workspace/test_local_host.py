"""LocalHost: the Host protocol on this machine, with real processes and real files."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pytest

from overseer.workspace.host import Host
from overseer.workspace.local_host import LOCAL, LocalHost, is_local
from tests.conftest import process_gone


def test_the_local_host_is_a_host_named_local() -> None:
    assert isinstance(LOCAL, Host)
    assert LOCAL.label == "local"
    assert is_local(LOCAL) and is_local(LocalHost())


def test_run_gives_the_exit_code_and_both_streams_apart_or_merged() -> None:
    script = (
        "import sys; print('out', flush=True); print('err', file=sys.stderr, flush=True); print('out2'); sys.exit(3)"
    )
    done = LOCAL.run([sys.executable, "-c", script])
    assert (done.exit_code, done.stdout, done.stderr) == (3, b"out\nout2\n", b"err\n")
    assert not done.timed_out
    merged = LOCAL.run([sys.executable, "-c", script], merge_stderr=True)
    assert (merged.exit_code, merged.stdout, merged.stderr) == (3, b"out\nerr\nout2\n", b"")


def test_run_in_a_directory_with_stdin(tmp_path: Path) -> None:
    (tmp_path / "here.txt").write_text("x")
    assert LOCAL.run(["ls"], cwd=tmp_path).stdout == b"here.txt\n"
    assert LOCAL.run(["cat"], stdin=b"bytes\x00in").stdout == b"bytes\x00in"
    assert LOCAL.run(["cat"]).stdout == b""  # no stdin given: empty, never the terminal


def test_the_environment_is_this_process_s_minus_the_prefixes_plus_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_DIR", "/somewhere/else")
    monkeypatch.setenv("GIT_INDEX_FILE", "/x")
    monkeypatch.setenv("OVERSEER_KEPT", "kept")
    monkeypatch.setenv("OVERSEER_DROPPED", "dropped")
    done = LOCAL.run(
        ["env"], unset_prefixes=("GIT_",), env={"GIT_DIR": "/mine", "NEW": "a b", "OVERSEER_DROPPED": None}
    )
    seen = dict(line.split("=", 1) for line in done.stdout.decode().splitlines() if "=" in line)
    assert seen["GIT_DIR"] == "/mine" and "GIT_INDEX_FILE" not in seen
    assert seen["NEW"] == "a b" and seen["OVERSEER_KEPT"] == "kept" and "OVERSEER_DROPPED" not in seen
    assert seen["PATH"] == os.environ["PATH"]


def test_a_timed_out_command_is_killed_with_everything_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = f"sleep 1000 & echo $! > {pid_file}; echo started; wait"
    started = time.monotonic()
    done = LOCAL.run(["sh", "-c", script], timeout_s=1)
    assert done.timed_out and done.exit_code is None
    assert done.stdout == b"started\n"  # what it wrote before the kill
    assert time.monotonic() - started < 8
    assert process_gone(int(pid_file.read_text()))  # the grandchild, in the same process group


def test_the_command_has_a_process_group_of_its_own() -> None:
    done = LOCAL.run([sys.executable, "-c", "import os; print(os.getpgid(0) == os.getpid())"])
    assert done.stdout == b"True\n"
    assert os.getpgid(0) != int(LOCAL.run(["sh", "-c", "ps -o pgid= -p $$"]).stdout)


def test_a_program_that_cannot_start_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        LOCAL.run(["no-such-program-here"])
    with pytest.raises(FileNotFoundError):
        LOCAL.run(["ls"], cwd=tmp_path / "nowhere")
    assert LOCAL.run(["sh", "-c", "exit 127"]).exit_code == 127  # a command that fails is no error


def test_files(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b"
    LOCAL.mkdir(deep)
    LOCAL.mkdir(deep)  # an existing directory is fine
    LOCAL.write_bytes(deep / "f.bin", b"\x00\x01")
    assert LOCAL.read_bytes(deep / "f.bin") == b"\x00\x01"
    assert LOCAL.exists(deep) and not LOCAL.is_file(deep) and LOCAL.is_file(deep / "f.bin")
    LOCAL.unlink(deep / "f.bin")
    LOCAL.unlink(deep / "f.bin")  # a missing file is fine
    assert not LOCAL.exists(deep / "f.bin")
    with pytest.raises(FileNotFoundError):
        LOCAL.read_bytes(deep / "f.bin")


def test_a_temp_directory_is_private_and_removed_whole() -> None:
    made = LOCAL.mkdtemp("overseer-test-")
    try:
        assert isinstance(made, Path) and made.name.startswith("overseer-test-")
        assert stat.S_IMODE(made.stat().st_mode) == 0o700
        LOCAL.mkdir(made / "sub")
        LOCAL.write_bytes(made / "sub" / "f", b"x")
        LOCAL.rmtree(made)
        assert not made.exists()
        LOCAL.rmtree(made)  # errors are ignored
    finally:
        LOCAL.rmtree(made)


def test_which_finds_a_program_on_path() -> None:
    git = LOCAL.which("git")
    assert git is not None and os.path.isabs(git) and os.access(git, os.X_OK)
    assert LOCAL.which("no-such-program-here") is None
