"""The resident process (cli/resident.py): real `python -m overseer` clients, a real resident
forking real commands, in a runtime directory of the test's own (XDG_RUNTIME_DIR)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overseer import demo
from overseer.cli import resident
from overseer.domain import AttemptStatus
from overseer.redact import Redactor
from overseer.state.store import Store, sqlite_url
from tests.conftest import process_gone

WAIT_S = 120  # wide: a resident imports for about 3 s, far longer on a loaded 2-core machine


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    """A client environment with the resident on, its sockets in a directory of this test's own
    (short: a Unix socket's path has at most 107 bytes); every resident started there is stopped
    after the test."""
    runtime = Path(tempfile.mkdtemp(prefix="ovr-"))
    environ = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), OVERSEER_RESIDENT="1")
    environ.pop("CI", None)
    yield environ
    for path in (runtime / "overseer").glob("*.sock") if (runtime / "overseer").is_dir() else []:
        pid = _pid(path)
        if pid:
            os.kill(pid, signal.SIGTERM)
            assert process_gone(pid)
    shutil.rmtree(runtime, ignore_errors=True)


def _pid(path: Path) -> int | None:
    try:
        return int(str(resident.ask(path, "status")["pid"]))
    except resident.ResidentUnavailable:
        return None


def overseer(
    *args: str, env: dict[str, str], cwd: Path | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "overseer", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        **kwargs,
    )


def started(env: dict[str, str]) -> dict[str, Any]:
    done = overseer("resident", "--start", "--json", env=env)
    assert done.returncode == 0, done.stderr
    (found,) = json.loads(done.stdout)["residents"]
    assert found["current"]
    return dict(found)


def status(env: dict[str, str]) -> dict[str, Any]:
    done = overseer("resident", "--json", env=env)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def held_do(
    env: dict[str, str], workspace: Path, tmp_path: Path, output: int = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    """`overseer do` served by a resident, held at `agent` (the attempt recorded, its checkpoint taken;
    overseer/orchestrator/holds.py) until the test is done with it."""
    started(env)
    holds = tmp_path / "holds"
    holds.mkdir()
    held = {**env, "TEST_OVERSEER_HOLD": "agent", "TEST_OVERSEER_HOLD_DIR": str(holds)}
    client = subprocess.Popen(
        [sys.executable, "-m", "overseer", "do", "-w", str(workspace), demo.TASK],
        env=held,
        stdout=output,
        stderr=output,
        text=True,
    )
    _wait_for(holds / "agent")
    return client


def test_commands_are_served_by_the_resident_with_their_output_and_exit_codes(
    env: dict[str, str], tmp_path: Path
) -> None:
    first = started(env)
    assert first["served"] == 0
    project = tmp_path / "project"
    project.mkdir()

    init = overseer("init", str(project), env=env)
    added = overseer("task", "add", "-w", str(project), "--json", "Add a docstring", env=env)
    missing = overseer("status", "-w", str(tmp_path / "nowhere"), env=env)

    assert init.returncode == 0, init.stderr
    assert (project / ".overseer" / "state.db").is_file()
    assert added.returncode == 0 and json.loads(added.stdout) == {"task_id": 1, "status": "pending"}
    assert missing.returncode == 2
    assert "error: workspace does not exist" in missing.stderr and missing.stdout == ""
    (now,) = status(env)["residents"]
    assert (now["pid"], now["served"], now["running"]) == (first["pid"], 3, 0)


def test_the_command_has_the_callers_directory_environment_and_umask(env: dict[str, str], tmp_path: Path) -> None:
    started(env)
    project = tmp_path / "project"
    project.mkdir()

    init = overseer("init", env=env, cwd=project, preexec_fn=lambda: os.umask(0o077))
    broken = overseer("status", env={**env, "OVERSEER_LIMITS__MAX_ATTEMPTS": "many"}, cwd=project)

    assert init.returncode == 0, init.stderr
    database = project / ".overseer" / "state.db"  # made in the caller's directory: `init` took no path
    assert database.stat().st_mode & 0o077 == 0  # the caller's umask, not the resident's 022
    assert broken.returncode == 2 and "max_attempts" in broken.stderr  # the caller's variable, read by the fork
    assert status(env)["residents"][0]["served"] == 2


def test_ctrl_c_reaches_the_command_and_the_attempt_is_recorded_interrupted(
    env: dict[str, str], workspace: Path, tmp_path: Path
) -> None:
    """Held at `agent` (the attempt recorded, its checkpoint taken), the client gets SIGINT as a
    terminal's Ctrl-C would send it; the fork must see it and stop as `overseer do` stops."""
    client = held_do(env, workspace, tmp_path, output=subprocess.PIPE)
    assert status(env)["residents"][0]["running"] == 1

    client.send_signal(signal.SIGINT)
    _, err = client.communicate(timeout=WAIT_S)

    assert client.returncode == 130, err
    assert "interrupted" in err
    store = Store.open(sqlite_url(workspace / ".overseer" / "state.db"), redactor=Redactor([]))
    try:
        (attempt,) = store.attempts(1)
    finally:
        store.close()
    assert attempt.status == AttemptStatus.INTERRUPTED


def test_a_killed_client_takes_its_command_with_it(env: dict[str, str], workspace: Path, tmp_path: Path) -> None:
    """SIGKILL cannot be relayed: the resident sees the caller's socket close and kills the fork,
    as the command would have died had it been that process."""
    client = held_do(env, workspace, tmp_path)
    fork = _fork_of(status(env)["residents"][0]["pid"])

    client.kill()
    client.wait()

    assert process_gone(fork)
    deadline = time.monotonic() + WAIT_S
    while status(env)["residents"][0]["running"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status(env)["residents"][0]["running"] == 0


def test_a_command_killed_by_a_signal_exits_as_a_shell_would_say(
    env: dict[str, str], workspace: Path, tmp_path: Path
) -> None:
    client = held_do(env, workspace, tmp_path)

    os.kill(_fork_of(status(env)["residents"][0]["pid"]), signal.SIGKILL)

    assert client.wait(timeout=WAIT_S) == 128 + signal.SIGKILL


def test_without_a_resident_the_command_runs_here_and_starts_one(env: dict[str, str], tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()

    first = overseer("init", str(project), env=env)

    assert first.returncode == 0, first.stderr
    assert (project / ".overseer" / "state.db").is_file()
    found = resident.wait_ready(resident.socket_path(env), timeout_s=WAIT_S)
    assert found["served"] == 0  # it started after the command, for the next one
    again = overseer("status", "-w", str(project), env=env)
    assert again.returncode == 0 and status(env)["residents"][0]["served"] == 1


@pytest.mark.parametrize("setting", [{"OVERSEER_RESIDENT": "0"}, {"CI": "true"}])
def test_none_is_started_when_turned_off_or_in_ci(env: dict[str, str], tmp_path: Path, setting: dict[str, str]) -> None:
    project = tmp_path / "project"
    project.mkdir()

    done = overseer("init", str(project), env={**env, **setting})
    time.sleep(2.0)  # a resident started after the command takes its lock within milliseconds: a wide margin

    assert done.returncode == 0, done.stderr
    assert not list((Path(env["XDG_RUNTIME_DIR"]) / "overseer").glob("*.lock"))


def test_a_resident_leaves_when_idle_and_stops_when_asked(env: dict[str, str]) -> None:
    idle = {**env, "OVERSEER_RESIDENT_IDLE_S": "1"}
    pid = started(idle)["pid"]
    assert process_gone(pid)
    assert status(env)["residents"] == []
    assert not list((Path(env["XDG_RUNTIME_DIR"]) / "overseer").glob("*.sock"))

    pid = started(env)["pid"]
    stopped = overseer("resident", "--stop", env=env)
    assert stopped.returncode == 0 and "stopping" in stopped.stdout
    assert process_gone(pid)


def test_a_killed_residents_socket_is_passed_over_and_replaced(env: dict[str, str], tmp_path: Path) -> None:
    pid = started(env)["pid"]
    os.kill(pid, signal.SIGKILL)
    assert process_gone(pid)
    path = resident.socket_path(env)
    assert path.exists()  # left behind: nothing could remove it

    done = overseer("init", str(tmp_path), env=env)

    assert done.returncode == 0, done.stderr
    assert resident.wait_ready(path, timeout_s=WAIT_S)["pid"] != pid


def test_a_socket_path_too_long_for_unix_runs_the_command_here(env: dict[str, str], tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 80)
    deep.mkdir(mode=0o700)

    done = overseer("init", str(tmp_path), env={**env, "XDG_RUNTIME_DIR": str(deep)})

    assert done.returncode == 0, done.stderr
    with pytest.raises(resident.ResidentUnavailable, match="too long"):
        resident.socket_path({**env, "XDG_RUNTIME_DIR": str(deep)})


def test_a_runtime_directory_open_to_others_is_not_used(env: dict[str, str], tmp_path: Path) -> None:
    shared = Path(env["XDG_RUNTIME_DIR"]) / "overseer"
    shared.mkdir(mode=0o700)
    shared.chmod(0o777)

    done = overseer("init", str(tmp_path), env=env)

    assert done.returncode == 0, done.stderr  # run in-process instead
    assert list(shared.iterdir()) == []
    with pytest.raises(resident.ResidentUnavailable, match="not a private directory"):
        resident.runtime_dir(env)


def test_a_new_resident_retires_the_stale_ones_of_its_installation(env: dict[str, str]) -> None:
    """An older resident of this interpreter serves code that is gone (an edit, an upgrade)."""
    old = started(env)
    current = Path(str(old["socket"]))
    for suffix in (".sock", ".lock"):  # as if its code had changed since: its key is not current any more
        current.with_suffix(suffix).rename(current.with_name(f"0000-older-code{suffix}"))

    gone = current.with_name("0001-gone-resident")  # what a resident that left or was killed leaves
    for suffix in (".lock", ".log"):
        gone.with_suffix(suffix).write_text("")

    new = started(env)

    assert new["pid"] != old["pid"]
    assert process_gone(int(old["pid"]))
    assert [entry["pid"] for entry in status(env)["residents"]] == [new["pid"]]
    assert not gone.with_suffix(".lock").exists() and not gone.with_suffix(".log").exists()


def test_the_code_key_changes_with_any_source_file_and_the_interpreters_settings() -> None:
    environ = {"PATH": "/usr/bin", "HOME": "/root"}
    source = Path(resident.__file__)
    before = resident.code_key(environ)
    stat = source.stat()
    try:
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        changed = resident.code_key(environ)
    finally:
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert changed != before
    assert resident.code_key(environ) == before
    assert resident.code_key({**environ, "PYTHONPATH": "/opt/plugins"}) != before
    assert resident.code_key({**environ, "LC_ALL": "C"}) != before
    assert resident.code_key({**environ, "TERM": "dumb", "HOME": "/home/other"}) == before  # the command's own


def test_only_the_short_commands_are_served() -> None:
    environ = {"OVERSEER_RESIDENT": "1"}
    assert resident.served(["--verbose", "do", "fix it"], environ)
    assert not resident.served(["shell"], environ)
    assert not resident.served(["--help"], environ)
    assert not resident.served(["do", "x"], {"OVERSEER_RESIDENT": "0"})


def _wait_for(flag: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not flag.exists():
        assert time.monotonic() < deadline, f"{flag} never appeared"
        time.sleep(0.05)


def _fork_of(resident_pid: int) -> int:
    """The resident's one child: the command it forked."""
    children = Path(f"/proc/{resident_pid}/task/{resident_pid}/children").read_text().split()
    (child,) = children
    return int(child)
