"""Listing, finding and pruning snapshots on real git, and shadow repositories from before snapshot refs."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from overseer.errors import UsageError
from overseer.workspace.checkpoints import Checkpoints, prunable


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def shadow_git(checkpoints: Checkpoints, *args: str) -> subprocess.CompletedProcess[str]:
    """Plain git on the shadow repository, to look at it (and to build one the old way)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(
        GIT_DIR=str(checkpoints.git_dir),
        GIT_WORK_TREE=str(checkpoints.workspace),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
    )
    identity = ["-c", "user.name=old", "-c", "user.email=old@localhost"]
    return subprocess.run(["git", *identity, *args], cwd=checkpoints.workspace, env=env, capture_output=True, text=True)


def old_git(checkpoints: Checkpoints, *args: str) -> str:
    ran = shadow_git(checkpoints, *args)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.strip()


def test_snapshots_are_listed_newest_first_with_their_message_and_time(
    workspace: Path, checkpoints: Checkpoints
) -> None:
    assert checkpoints.snapshots() == []  # no shadow repository yet, and none made by looking
    assert not Path(checkpoints.git_dir).exists()
    started = datetime.now(UTC)
    write(workspace, "a.txt", "a\n")
    first = checkpoints.snapshot("task 1 attempt 1: before")
    second = checkpoints.snapshot("task 1 attempt 1: after")  # same tree, same second

    listed = checkpoints.snapshots()

    assert [(snap.sha, snap.message) for snap in listed] == [
        (second, "task 1 attempt 1: after"),
        (first, "task 1 attempt 1: before"),
    ]
    assert all(started - timedelta(seconds=1) <= snap.at <= datetime.now(UTC) for snap in listed)


def test_find_takes_a_unique_prefix_and_names_what_is_wrong_with_a_bad_id(
    workspace: Path, checkpoints: Checkpoints
) -> None:
    write(workspace, "a.txt", "a\n")
    sha = checkpoints.snapshot("one")

    assert checkpoints.find(sha[:7]).sha == sha
    assert checkpoints.find(sha.upper()).sha == sha
    with pytest.raises(UsageError, match="no checkpoint") as missing:
        checkpoints.find("0000000")
    assert "overseer checkpoints" in missing.value.hint
    with pytest.raises(UsageError, match="not a checkpoint id"):
        checkpoints.find("HEAD~1")  # a git revision is not a checkpoint id
    with pytest.raises(UsageError, match="not a checkpoint id"):
        checkpoints.find(sha[:3])


def test_prune_drops_the_chosen_snapshots_and_their_objects_but_never_the_newest(
    workspace: Path, checkpoints: Checkpoints
) -> None:
    write(workspace, "a.txt", "only in the old snapshot\n")
    old = checkpoints.snapshot("old")
    write(workspace, "a.txt", "kept\n")
    kept = checkpoints.snapshot("kept: an unfinished task needs it")
    (workspace / "a.txt").unlink()
    write(workspace, "b.txt", "b\n")
    newest = checkpoints.snapshot("newest")
    blob = shadow_git(checkpoints, "rev-parse", f"{old}:a.txt").stdout.strip()
    snapshots = checkpoints.snapshots()

    doomed = prunable(snapshots, older_than=datetime.now(UTC) + timedelta(days=1), keep={kept})
    assert [snap.sha for snap in doomed] == [old]  # the newest and the kept one stay
    checkpoints.prune([*doomed, snapshots[0]], object_grace_s=0)  # even when asked, the newest stays

    assert [snap.sha for snap in checkpoints.snapshots()] == [newest, kept]
    assert shadow_git(checkpoints, "cat-file", "-e", old).returncode != 0
    assert shadow_git(checkpoints, "cat-file", "-e", blob).returncode != 0  # its space is reclaimed
    with pytest.raises(UsageError, match="no checkpoint"):
        checkpoints.find(old)
    checkpoints.restore(kept)  # what stays is whole
    assert (workspace / "a.txt").read_text() == "kept\n"
    assert not (workspace / "b.txt").exists()


def test_prunable_keeps_what_is_younger_than_the_cutoff(workspace: Path, checkpoints: Checkpoints) -> None:
    write(workspace, "a.txt", "a\n")
    checkpoints.snapshot("one")
    checkpoints.snapshot("two")

    assert prunable(checkpoints.snapshots(), older_than=datetime.now(UTC) - timedelta(days=1), keep=set()) == []


def test_the_snapshot_a_restore_takes_first_carries_the_label(workspace: Path, checkpoints: Checkpoints) -> None:
    write(workspace, "a.txt", "a\n")
    target = checkpoints.snapshot("target")
    write(workspace, "a.txt", "changed\n")

    saved = checkpoints.restore(target, label="task 7")

    assert checkpoints.snapshots()[0].sha == saved
    assert checkpoints.snapshots()[0].message == f"task 7: before restoring {target}"
    assert (workspace / "a.txt").read_text() == "a\n"


def test_a_shadow_repository_of_chained_snapshots_gets_a_ref_for_each_and_prunes_safely(
    workspace: Path, checkpoints: Checkpoints
) -> None:
    """Before snapshot refs, each snapshot was the parent of the next and only HEAD pointed at them."""
    chain: list[str] = []
    git_dir = Path(checkpoints.git_dir)  # a local workspace: the shadow repository is on this machine
    git_dir.mkdir(parents=True)
    old_git(checkpoints, "init", "--quiet", "--template=")
    write(git_dir, "info/exclude", ".overseer/\n")
    for number in range(3):
        write(workspace, "a.txt", f"version {number}\n")
        old_git(checkpoints, "add", "--all")
        tree = old_git(checkpoints, "write-tree")
        parents = ["-p", chain[-1]] if chain else []
        chain.append(old_git(checkpoints, "commit-tree", tree, *parents, "-m", f"old {number}"))
        old_git(checkpoints, "update-ref", "HEAD", chain[-1])

    assert [snap.sha for snap in checkpoints.snapshots()] == chain[::-1]
    newer = checkpoints.snapshot("new")  # parentless from here on
    doomed = prunable(checkpoints.snapshots(), older_than=datetime.now(UTC) + timedelta(days=1), keep={chain[1]})
    checkpoints.prune(doomed, object_grace_s=0)

    assert [snap.sha for snap in checkpoints.snapshots()] == [newer, chain[1]]
    checkpoints.restore(chain[1])  # still whole: nothing it needs was pruned
    assert (workspace / "a.txt").read_text() == "version 1\n"
