"""Checkpoints on real git: snapshots, changes, diffs and exact restores in a shadow repository."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from overseer.domain import FileChange
from overseer.errors import CheckpointError, ConfigError
from overseer.workspace.checkpoints import Checkpoints

UserGit = Callable[..., str]  # the `user_git` fixture: runs the user's own git, returns its stdout


def blob_sha(content: bytes) -> str:
    """Git's blob hash, computed independently of git."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def files(root: Path) -> dict[str, bytes]:
    """Every file of the workspace outside .git and .overseer, by relative path."""
    found = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith((".git/", ".overseer/")):
            found[rel] = path.read_bytes()
    return found


def tree_digest(directory: Path) -> str:
    """A digest of every path, mode and byte under `directory`."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        digest.update(f"{path.relative_to(directory)}:{info.st_mode}\0".encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_snapshot_returns_a_full_sha_and_keeps_the_shadow_repo_under_overseer(
    workspace: Path, checkpoints: Checkpoints
) -> None:
    write(workspace, "a.txt", "a\n")

    sha = checkpoints.snapshot("first")

    assert re.fullmatch(r"[0-9a-f]{40}", sha)
    assert (workspace / ".overseer" / "shadow.git" / "HEAD").is_file()
    assert not (workspace / ".git").exists()


def test_changes_report_added_modified_and_deleted_files_sorted_with_blob_hashes(
    workspace: Path, checkpoints: Checkpoints
) -> None:
    write(workspace, "keep.txt", "same\n")
    write(workspace, "mod.txt", "old\n")
    write(workspace, "gone.txt", "bye\n")
    before = checkpoints.snapshot("before")
    write(workspace, "mod.txt", "new\n")
    (workspace / "gone.txt").unlink()
    write(workspace, "sub/added.txt", "hello\n")
    after = checkpoints.snapshot("after")

    assert checkpoints.changes(before, after) == (
        FileChange("gone.txt", "deleted", blob_sha(b"bye\n"), None),
        FileChange("mod.txt", "modified", blob_sha(b"old\n"), blob_sha(b"new\n")),
        FileChange("sub/added.txt", "added", None, blob_sha(b"hello\n")),
    )


def test_changes_capture_edits_made_by_a_shell_command(workspace: Path, checkpoints: Checkpoints) -> None:
    write(workspace, "log.txt", "one\n")
    write(workspace, "old.txt", "old\n")
    before = checkpoints.snapshot("before")

    script = "echo two >> log.txt && rm old.txt && mkdir -p gen && printf made > gen/out.txt"
    subprocess.run(["sh", "-c", script], cwd=workspace, check=True)
    after = checkpoints.snapshot("after")

    assert checkpoints.changes(before, after) == (
        FileChange("gen/out.txt", "added", None, blob_sha(b"made")),
        FileChange("log.txt", "modified", blob_sha(b"one\n"), blob_sha(b"one\ntwo\n")),
        FileChange("old.txt", "deleted", blob_sha(b"old\n"), None),
    )


def test_a_snapshot_of_an_unchanged_tree_is_a_new_commit_with_no_changes(
    workspace: Path, checkpoints: Checkpoints
) -> None:
    write(workspace, "a.txt", "a\n")
    first = checkpoints.snapshot("first")
    second = checkpoints.snapshot("second")

    assert second != first
    assert checkpoints.changes(first, second) == ()
    assert checkpoints.diff(first, second) == ""


def test_diff_is_the_unified_diff_of_the_changes(workspace: Path, checkpoints: Checkpoints) -> None:
    write(workspace, "a.txt", "keep\nold line\n")
    before = checkpoints.snapshot("before")
    write(workspace, "a.txt", "keep\nnew line\n")
    write(workspace, "b.txt", "brand new\n")
    after = checkpoints.snapshot("after")

    diff = checkpoints.diff(before, after)

    assert "diff --git a/a.txt b/a.txt" in diff
    assert "\n-old line\n+new line\n" in diff
    assert "--- /dev/null\n+++ b/b.txt\n" in diff
    assert "+brand new\n" in diff
    assert "truncated" not in diff


def test_a_diff_longer_than_max_chars_is_cut_on_a_line_with_a_marker(workspace: Path, checkpoints: Checkpoints) -> None:
    before = checkpoints.snapshot("before")
    write(workspace, "big.txt", "".join(f"line {n}\n" for n in range(1000)))
    after = checkpoints.snapshot("after")
    full = checkpoints.diff(before, after)

    cut = checkpoints.diff(before, after, max_chars=500)

    body, marker = cut.rstrip("\n").rsplit("\n", 1)
    assert len(full) > 500
    assert len(body) <= 500
    assert full.startswith(body + "\n")
    assert marker.startswith("[... ") and str(len(full)) in marker


def test_gitignored_files_and_the_overseer_dir_are_not_in_snapshots(workspace: Path, checkpoints: Checkpoints) -> None:
    empty = checkpoints.snapshot("empty")
    write(workspace, ".gitignore", "*.log\nbuild/\n")
    write(workspace, "kept.py", "print()\n")
    write(workspace, "debug.log", "noise\n")
    write(workspace, "build/out.o", "binary\n")
    write(workspace, "sub/deep.log", "noise\n")
    write(workspace, ".overseer/state.db", "rows\n")

    full = checkpoints.snapshot("full")

    assert [change.path for change in checkpoints.changes(empty, full)] == [".gitignore", "kept.py"]


def test_restore_brings_back_the_exact_tree_removes_added_files_and_keeps_ignored_ones(
    workspace: Path, checkpoints: Checkpoints
) -> None:
    write(workspace, ".gitignore", "*.log\n")
    write(workspace, "src/app.py", "print('v1')\n")
    write(workspace, "notes.txt", "keep me\n")
    write(workspace, "run.sh", "#!/bin/sh\n")
    (workspace / "run.sh").chmod(0o755)
    original = checkpoints.snapshot("original")
    expected = files(workspace)

    write(workspace, "src/app.py", "print('v2')\n")
    (workspace / "notes.txt").unlink()
    (workspace / "run.sh").chmod(0o644)
    write(workspace, "new/dir/extra.txt", "added later\n")
    write(workspace, "agent.log", "ignored, must survive\n")
    later = files(workspace)

    saved = checkpoints.restore(original)

    assert files(workspace) == {**expected, "agent.log": b"ignored, must survive\n"}
    assert not (workspace / "new").exists()
    assert os.stat(workspace / "run.sh").st_mode & stat.S_IXUSR
    assert checkpoints.changes(original, checkpoints.snapshot("after restore")) == ()

    checkpoints.restore(saved)  # nothing was lost: the state before the restore comes back
    assert files(workspace) == later


def test_restore_succeeds_when_a_gitignore_was_added_after_the_snapshot(
    workspace: Path, checkpoints: Checkpoints
) -> None:
    write(workspace, "app.py", "x = 1\n")
    original = checkpoints.snapshot("original")
    write(workspace, ".gitignore", "__pycache__/\n")
    write(workspace, "__pycache__/app.pyc", "bytecode")

    checkpoints.restore(original)

    assert not (workspace / ".gitignore").exists()
    assert (workspace / "__pycache__" / "app.pyc").read_text() == "bytecode"
    assert (workspace / "app.py").read_text() == "x = 1\n"


def test_verify_names_the_files_that_differ_from_a_snapshot(workspace: Path, checkpoints: Checkpoints) -> None:
    write(workspace, "a.txt", "a\n")
    first = checkpoints.snapshot("first")
    checkpoints.verify(first)
    write(workspace, "a.txt", "changed\n")
    write(workspace, "b.txt", "added\n")
    checkpoints.snapshot("second")

    with pytest.raises(CheckpointError) as caught:
        checkpoints.verify(first)

    assert caught.value.context["paths"] == "a.txt, b.txt"


def test_the_users_own_git_is_byte_for_byte_untouched(
    workspace: Path, checkpoints: Checkpoints, user_git: UserGit
) -> None:
    write(workspace, "tracked.txt", "v1\n")
    user_git("init", "--quiet")
    user_git("add", "tracked.txt")
    user_git("commit", "--quiet", "-m", "user commit")
    write(workspace, "tracked.txt", "v2 staged\n")
    user_git("add", "tracked.txt")
    write(workspace, "tracked.txt", "v3 unstaged\n")
    head, branch = user_git("rev-parse", "HEAD"), user_git("branch", "--show-current")
    index = hashlib.sha256((workspace / ".git" / "index").read_bytes()).hexdigest()
    before = tree_digest(workspace / ".git")

    first = checkpoints.snapshot("first")
    write(workspace, "tracked.txt", "v4 by the agent\n")
    second = checkpoints.snapshot("second")
    checkpoints.restore(first)

    assert tree_digest(workspace / ".git") == before
    assert hashlib.sha256((workspace / ".git" / "index").read_bytes()).hexdigest() == index
    assert (user_git("rev-parse", "HEAD"), user_git("branch", "--show-current")) == (head, branch)
    assert user_git("diff", "--cached", "--name-only") == "tracked.txt"
    assert (workspace / "tracked.txt").read_text() == "v3 unstaged\n"
    assert [change.path for change in checkpoints.changes(first, second)] == ["tracked.txt"]


def test_the_users_git_variables_do_not_redirect_the_shadow_repo(
    workspace: Path, checkpoints: Checkpoints, user_git: UserGit, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(workspace, "a.txt", "a\n")
    user_git("init", "--quiet")
    user_git("add", "a.txt")
    user_git("commit", "--quiet", "-m", "user commit")
    before = tree_digest(workspace / ".git")
    user_repo = workspace / ".git"
    monkeypatch.setenv("GIT_DIR", str(user_repo))
    monkeypatch.setenv("GIT_INDEX_FILE", str(user_repo / "index"))
    monkeypatch.setenv("GIT_WORK_TREE", str(workspace))
    monkeypatch.setenv("GIT_OBJECT_DIRECTORY", str(user_repo / "objects"))
    monkeypatch.setenv("GIT_COMMON_DIR", str(user_repo))

    first = checkpoints.snapshot("first")
    write(workspace, "b.txt", "b\n")
    second = checkpoints.snapshot("second")

    assert tree_digest(workspace / ".git") == before
    assert checkpoints.changes(first, second) == (FileChange("b.txt", "added", None, blob_sha(b"b\n")),)


def test_the_shadow_repo_can_live_outside_the_workspace(workspace: Path, tmp_path: Path) -> None:
    checkpoints = Checkpoints(workspace, git_dir=tmp_path / "elsewhere" / "shadow.git")
    write(workspace, "a.txt", "a\n")
    first = checkpoints.snapshot("first")
    (workspace / "a.txt").unlink()

    checkpoints.restore(first)

    assert (workspace / "a.txt").read_text() == "a\n"
    assert (tmp_path / "elsewhere" / "shadow.git" / "HEAD").is_file()
    assert not (workspace / ".overseer").exists()


def test_an_unknown_snapshot_is_a_checkpoint_error_with_the_command_and_gits_message(
    workspace: Path, checkpoints: Checkpoints
) -> None:
    write(workspace, "a.txt", "a\n")
    checkpoints.snapshot("first")

    with pytest.raises(CheckpointError) as caught:
        checkpoints.restore("0123456789abcdef0123456789abcdef01234567")

    assert caught.value.context["command"].startswith("git rev-parse")
    assert "Needed a single revision" in caught.value.context["stderr"]
    assert isinstance(caught.value.__cause__, subprocess.CalledProcessError)
    assert (workspace / "a.txt").read_text() == "a\n"


def test_missing_git_is_a_config_error(workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-binaries-here"))

    with pytest.raises(ConfigError, match="git not found") as caught:
        Checkpoints(workspace)

    assert caught.value.hint
