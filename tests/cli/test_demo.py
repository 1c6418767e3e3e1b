"""`overseer demo`: the real CLI replays a session whose first attempt falsely claims success."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from overseer.testing import DUMMY_API_KEY
from tests.conftest import Ran


def test_demo_catches_the_false_claim_and_completes_on_the_second_attempt(
    overseer: Callable[..., Ran], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real key in the developer's shell must not reach the scripted run.
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-real-looking-key-that-must-not-leak-000")
    workspace = tmp_path / "demo"

    ran = overseer("demo", "--json", "-w", str(workspace))

    assert ran.code == 0, ran.err
    result = ran.json()
    assert (result["status"], result["attempts"], result["files_changed"]) == (
        "completed",
        2,
        ["textstats.py"],
    )
    first, second = result["history"]
    assert first["decision"] == "retry" and second["decision"] == "proceed"
    assert {"tests_failed", "false_claim"} <= {f["code"] for f in first["findings"]}
    assert "scripted run" in ran.err and "no tokens are spent" in ran.err
    assert "split()" in (workspace / "textstats.py").read_text()
    stored = b"".join(p.read_bytes() for p in (workspace / ".overseer").glob("state.db*"))
    assert b"must-not-leak" not in stored and DUMMY_API_KEY.encode() not in stored


def test_demo_refuses_a_non_empty_directory(overseer: Callable[..., Ran], tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    ran = overseer("demo", "-w", str(tmp_path))
    assert ran.code == 2 and "empty directory" in ran.err
