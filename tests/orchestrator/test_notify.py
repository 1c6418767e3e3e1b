"""Notifications when a task waits for a human: the bell, the desktop, a webhook."""

from __future__ import annotations

import io
import os
import pty
from pathlib import Path
from typing import Any

import pytest

from overseer.config import NotifyConfig
from overseer.orchestrator.notify import HumanNeeded, Notifier

NEWS = HumanNeeded(
    3, "Add a migration", "breakpoint migrations: it changed migrations/0002.py", "/src/app", "migrations"
)


def test_the_webhook_gets_the_task_the_brief_and_the_rule(webhook: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = webhook
    Notifier(NotifyConfig(bell=False, webhook=url)).human_needed(NEWS)
    assert received == [
        {
            "event": "needs_human",
            "task_id": 3,
            "task": "Add a migration",
            "brief": "breakpoint migrations: it changed migrations/0002.py",
            "workspace": "/src/app",
            "rule": "migrations",
        }
    ]


def test_a_webhook_that_is_down_is_logged_and_the_run_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    Notifier(NotifyConfig(bell=False, webhook="http://127.0.0.1:9/hook", webhook_timeout_s=2)).human_needed(NEWS)
    assert "task 3: the webhook notification failed" in caplog.text


def test_the_bell_rings_in_a_terminal_and_nowhere_else() -> None:
    main, side = pty.openpty()
    with os.fdopen(side, "w") as terminal:
        Notifier(NotifyConfig(bell=True), terminal=terminal).human_needed(NEWS)
        assert os.read(main, 16) == b"\x07"
    os.close(main)
    piped = io.StringIO()
    Notifier(NotifyConfig(bell=True), terminal=piped).human_needed(NEWS)
    assert piped.getvalue() == ""


def test_the_desktop_notification_names_the_task_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in `notify-send` on PATH: a real one needs a desktop session and a notification daemon,
    which these machines do not run. It records the command line overseer gives it."""
    calls = tmp_path / "calls"
    shim = tmp_path / "bin" / "notify-send"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {calls}\n', encoding="utf-8")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}:{os.environ['PATH']}")
    Notifier(NotifyConfig(bell=False, desktop=True)).human_needed(NEWS)
    assert calls.read_text(encoding="utf-8").splitlines() == [
        "--app-name=overseer",
        "overseer: task 3 waits for you",
        "breakpoint migrations: it changed migrations/0002.py",
    ]


def test_no_notify_send_is_a_warning_not_a_failure(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    Notifier(NotifyConfig(bell=False, desktop=True)).human_needed(NEWS)
    assert "notify-send is not installed" in caplog.text
