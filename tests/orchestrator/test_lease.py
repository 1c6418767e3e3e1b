"""Runner ids, the lease heartbeat, the workspace lock and the test holds, on real processes and a real store."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from overseer.orchestrator.holds import Holds
from overseer.orchestrator.lease import Heartbeat, RunnerId, WorkspaceLock, owner_gone
from overseer.redact import Redactor
from overseer.state.models import utcnow
from overseer.state.store import Store, sqlite_url

OTHER_PROCESS = (
    "import sys; from overseer.orchestrator.lease import RunnerId; print(RunnerId.current()); sys.stdout.flush()"
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(sqlite_url(tmp_path / "state.db"), redactor=Redactor([])) as opened:
        yield opened


def test_this_runner_is_alive_and_its_id_round_trips() -> None:
    runner = RunnerId.current()
    assert RunnerId.parse(str(runner)) == runner
    assert not runner.is_gone() and not owner_gone(str(runner))


def test_a_runner_whose_process_ended_is_gone() -> None:
    ran = subprocess.run([sys.executable, "-c", OTHER_PROCESS], capture_output=True, text=True, check=True)
    assert owner_gone(ran.stdout.strip())


def test_a_killed_runner_not_yet_reaped_is_gone() -> None:
    """A zombie still has its pid, but it runs nothing: its tasks can be recovered."""
    command = [sys.executable, "-c", OTHER_PROCESS + "; import time; time.sleep(60)"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        owner = child.stdout.readline().strip()
        assert not owner_gone(owner)
        child.kill()
        deadline = time.monotonic() + 30  # wide: only until the kernel has made it a zombie
        while not owner_gone(owner) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert owner_gone(owner)
        assert child.poll() is not None  # and now it is reaped: gone for good


def test_only_a_runner_of_this_machine_can_be_seen_dead() -> None:
    elsewhere = RunnerId("another-host:boot:pid:[1]", 1, "1", "t")
    assert not elsewhere.is_gone()  # its lease's expiry alone tells
    assert not owner_gone("written by something else")
    assert owner_gone(None)  # never leased: nobody holds it


def test_the_heartbeat_moves_the_lease_on(store: Store, tmp_path: Path) -> None:
    task = store.add_task(store.ensure_project(tmp_path).id, "t")
    soon = utcnow() + timedelta(seconds=1)
    store.claim_task(task.id, "me", until=soon)

    with Heartbeat(store, task.id, "me", every_s=0.05):
        deadline = time.monotonic() + 30  # wide: the first beat comes after 0.05 s
        while store.get_task(task.id).lease_expires_at == soon and time.monotonic() < deadline:
            time.sleep(0.05)

    renewed = store.get_task(task.id).lease_expires_at
    assert renewed is not None and renewed > soon


def test_the_workspace_lock_keeps_another_process_out(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    probe = (
        "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)"
    )
    with WorkspaceLock(path):
        held = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True)
    free = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True)

    assert held.returncode != 0 and "BlockingIOError" in held.stderr
    assert free.returncode == 0, free.stderr


def test_holds_are_off_unless_named_and_checked_when_named(tmp_path: Path) -> None:
    Holds.from_environ({}).reach("agent")  # returns at once
    with pytest.raises(ValueError, match="unknown point"):
        Holds.from_environ({"TEST_OVERSEER_HOLD": "agnet", "TEST_OVERSEER_HOLD_DIR": str(tmp_path)})
    with pytest.raises(ValueError, match="TEST_OVERSEER_HOLD_DIR"):
        Holds.from_environ({"TEST_OVERSEER_HOLD": "agent"})
