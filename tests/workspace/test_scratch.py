"""Scratch copies of snapshots and the changed lines between two snapshots, on real git."""

from __future__ import annotations

import os
from pathlib import Path

from overseer.workspace.checkpoints import Checkpoints, parse_changed_lines
from overseer.workspace.scratch import Scratch


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())


def test_a_copy_holds_the_snapshot_exactly_and_leaves_the_workspace_alone(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "pkg").mkdir(parents=True)
    (ws / "pkg" / "mod.py").write_bytes(b"x = 1\r\n")  # bytes as they are: no eol conversion
    os.symlink("pkg/mod.py", ws / "link")
    checkpoints = Checkpoints(ws)
    before = checkpoints.snapshot("before")
    (ws / "pkg" / "mod.py").write_text("x = 2\n")
    (ws / "new.py").write_text("y = 1\n")

    with Scratch(checkpoints) as scratch:
        copy = Path(scratch.copy(before))
        assert files(copy) == ["link", "pkg/mod.py"]
        assert (copy / "pkg" / "mod.py").read_bytes() == b"x = 1\r\n"
        assert os.readlink(copy / "link") == "pkg/mod.py"
        (copy / "pkg" / "mod.py").write_text("changed in the copy\n")
        again = Path(scratch.copy(before))
        assert (again / "pkg" / "mod.py").read_bytes() == b"x = 1\r\n"  # each copy is fresh
        root = copy.parent

    assert not root.exists()
    assert (ws / "pkg" / "mod.py").read_text() == "x = 2\n" and (ws / "new.py").exists()


def test_changed_lines_are_the_new_sides_added_or_changed_lines(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.py").write_text("one\ntwo\nthree\n")
    (ws / "gone.py").write_text("bye\n")
    checkpoints = Checkpoints(ws)
    before = checkpoints.snapshot("before")
    (ws / "a.py").write_text("one\nTWO\nthree\nfour\n")
    (ws / "gone.py").unlink()
    (ws / "b.py").write_text("b1\nb2\n")
    after = checkpoints.snapshot("after")

    assert checkpoints.changed_lines(before, after) == {"a.py": {2, 4}, "b.py": {1, 2}}


def test_a_pure_deletion_hunk_adds_no_line() -> None:
    diff = "--- a/a.py\n+++ b/a.py\n@@ -3,2 +2,0 @@\n-x\n-y\n"
    assert parse_changed_lines(diff) == {"a.py": set()}
