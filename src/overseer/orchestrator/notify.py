"""Telling the user that a task waits for them: the terminal bell, a desktop notification, a webhook.

A run left alone overnight is found in the morning waiting with a clear brief; these are how the
user hears of it sooner. A notification that fails is logged and never stops the run.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import asdict, dataclass
from typing import TextIO

from overseer.config import NotifyConfig

logger = logging.getLogger(__name__)
_DESKTOP_TIMEOUT_S = 5


@dataclass(frozen=True)
class HumanNeeded:
    """What a notification says: which task waits, why, and (when a rule stopped it) which rule."""

    task_id: int
    task: str
    brief: str
    workspace: str
    rule: str = ""  # the breakpoint rule that fired; "" when the judge itself stopped

    @property
    def title(self) -> str:
        return f"overseer: task {self.task_id} waits for you"

    def json(self) -> bytes:
        return json.dumps({"event": "needs_human", **asdict(self)}).encode()


class Notifier:
    def __init__(self, config: NotifyConfig, terminal: TextIO | None = None) -> None:
        self.config = config
        self._terminal = terminal if terminal is not None else sys.stderr

    def human_needed(self, news: HumanNeeded) -> None:
        for channel in (self._bell, self._desktop, self._webhook):
            try:
                channel(news)
            except Exception:  # telling the user is best effort; the task waits either way
                logger.warning("task %s: the %s notification failed", news.task_id, channel.__name__[1:], exc_info=True)

    def _bell(self, news: HumanNeeded) -> None:
        if self.config.bell and self._terminal.isatty():
            self._terminal.write("\a")
            self._terminal.flush()

    def _desktop(self, news: HumanNeeded) -> None:
        if not self.config.desktop:
            return
        program = shutil.which("notify-send")
        if program is None:
            logger.warning("notify.desktop is on but notify-send is not installed (Debian: libnotify-bin)")
            return
        command = [program, "--app-name=overseer", news.title, news.brief]
        subprocess.run(command, check=True, timeout=_DESKTOP_TIMEOUT_S, capture_output=True)

    def _webhook(self, news: HumanNeeded) -> None:
        if not self.config.webhook:
            return
        request = urllib.request.Request(
            self.config.webhook, data=news.json(), headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.config.webhook_timeout_s) as response:
            response.read()
