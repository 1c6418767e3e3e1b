"""The operator's log, through the real command: written to .overseer/overseer.log, rotated, secrets
masked, errors with their cause, and on stderr with --verbose."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from overseer.log import BACKUPS, LOG_FILE, MAX_BYTES
from tests.conftest import Ran

Overseer = Callable[..., Ran]
SECRET = "s3cr3t-t0ken-value-42"


def log_of(workspace: Path) -> str:
    return (workspace / ".overseer" / LOG_FILE).read_text(encoding="utf-8")


def test_every_command_that_opens_a_workspace_is_logged_there(overseer: Overseer, workspace: Path) -> None:
    assert overseer("task", "add", "-w", str(workspace), "first").code == 0

    ran = overseer("task", "list", "-w", str(workspace))

    assert ran.err == ""  # the log stays off the terminal without --verbose
    lines = log_of(workspace).splitlines()
    assert len(lines) == 2
    assert " INFO overseer.cli.app: overseer task add " in lines[0] and lines[0].endswith("exit 0")
    assert "overseer task list" in lines[1]


def test_verbose_shows_the_log_on_stderr_too(overseer: Overseer, workspace: Path) -> None:
    ran = overseer("--verbose", "task", "add", "-w", str(workspace), "first")

    assert ran.code == 0
    assert "INFO overseer.cli.app: overseer --verbose task add" in ran.err
    assert "added task 1" in ran.out  # stdout stays the command's own


def test_secrets_are_masked_in_the_log_and_on_stderr(
    overseer: Overseer, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", SECRET)

    ran = overseer("--verbose", "task", "add", "-w", str(workspace), f"deploy with {SECRET} and sk-ant-abcdef123456")

    assert ran.code == 0
    for text in (log_of(workspace), ran.err):
        assert SECRET not in text and "sk-ant-abcdef123456" not in text
        assert text.count("[REDACTED]") == 2


def test_a_caught_error_is_logged_with_its_cause(overseer: Overseer, workspace: Path) -> None:
    overseer("init", str(workspace))
    (workspace / ".overseer" / "state.db").write_bytes(b"not a database " * 100)

    ran = overseer("status", "-w", str(workspace))

    assert ran.code == 1 and len(ran.err.strip().splitlines()) == 1  # one line on the terminal
    log = log_of(workspace)
    assert " ERROR overseer.cli.app: the state database file " in log
    assert "file is not a database" in log  # sqlite's own words, the cause
    assert "The above exception was the direct cause of the following exception" in log


def test_the_log_is_rotated(overseer: Overseer, workspace: Path) -> None:
    overseer("init", str(workspace))
    path = workspace / ".overseer" / LOG_FILE
    path.write_text("x" * MAX_BYTES + "\n")  # a full log

    assert overseer("task", "list", "-w", str(workspace)).code == 0

    assert path.with_name(f"{LOG_FILE}.1").read_text().startswith("x" * 100)
    assert "overseer task list" in path.read_text() and len(path.read_text()) < 1000
    for _ in range(BACKUPS + 1):  # older files move on, and no more than BACKUPS are kept
        path.write_text("y" * MAX_BYTES + "\n")
        overseer("task", "list", "-w", str(workspace))
    assert sorted(p.name for p in path.parent.glob(f"{LOG_FILE}*")) == [
        LOG_FILE,
        *(f"{LOG_FILE}.{n}" for n in range(1, BACKUPS + 1)),
    ]


def test_a_log_that_cannot_be_written_does_not_disturb_the_command(overseer: Overseer, workspace: Path) -> None:
    overseer("init", str(workspace))
    (workspace / ".overseer" / LOG_FILE).unlink()
    (workspace / ".overseer" / LOG_FILE).mkdir()  # opening it as a file fails

    ran = overseer("task", "add", "-w", str(workspace), "x")

    assert (ran.code, ran.err) == (0, "")


def test_an_error_is_one_line_on_stderr_even_before_a_workspace_is_open(tmp_path: Path) -> None:
    """In a process of its own: in pytest's, the root logger has pytest's handlers, which hide the
    fallback that printed every error's traceback when no log file was open yet."""
    missing = tmp_path / "missing"
    done = subprocess.run(
        [sys.executable, "-m", "overseer", "status", "-w", str(missing)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: workspace does not exist (path={missing}); create it first, or pass --workspace DIR"
    ]
