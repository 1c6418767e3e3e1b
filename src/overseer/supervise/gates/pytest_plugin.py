"""overseer's pytest plugin: each test's outcome, written as it happens, to a file overseer reads.

It runs inside the workspace's pytest process, so it imports nothing of overseer (loading the gates
package would cost pytest's start-up most of a second). The tests gate loads it by file path and
hands it a `Recorder`; `-p overseer.supervise.gates.pytest_plugin` with `OVERSEER_PYTEST_REPORT`
set works too, for a command of your own.

One JSON object per line, flushed at once, so that when a test hangs and the run is killed the
lines already written still say which tests ran and which one never finished:

    {"collected": ["tests/test_a.py::test_x", ...]}         what will run (after -k, deselection)
    {"collect_error": "tests/test_b.py", "reason": "..."}    a file (or directory) that did not import
    {"start": "tests/test_a.py::test_x"}
    {"test": "tests/test_a.py::test_x", "outcome": "failed", "reason": "assert 0 == 4"}
    {"exit": 1}                                              pytest finished, with this status

Outcomes are pytest's own words: passed, failed, error, skipped, xfailed, xpassed.
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

import pytest

REPORT_ENV = "OVERSEER_PYTEST_REPORT"


class Recorder:
    def __init__(self, path: str) -> None:
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 (open for the whole run)

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self._write({"collect_error": report.nodeid or ".", "reason": _reason(report)})

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._write({"collected": [item.nodeid for item in session.items]})

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self._write({"start": nodeid})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        category, _, _ = self._config.hook.pytest_report_teststatus(report=report, config=self._config)
        if category:  # "" for a setup or teardown that passed
            self._write({"test": report.nodeid, "outcome": category, "reason": _reason(report)})

    def pytest_configure(self, config: pytest.Config) -> None:
        self._config = config

    def pytest_sessionfinish(self, exitstatus: int) -> None:
        self._write({"exit": int(exitstatus)})

    def pytest_unconfigure(self) -> None:
        self._file.close()


def _reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    """One line saying why: the exception's message, the skip's or xfail's reason."""
    if hasattr(report, "wasxfail"):
        return str(report.wasxfail)
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).split("\n", 1)[0]
    return _last_exception_line(str(longrepr or ""))


def _last_exception_line(text: str) -> str:
    """A collection error is often a plain text block ending in "E   ModuleNotFoundError: ..."."""
    for line in reversed(text.splitlines()):
        stripped = line.removeprefix("E").strip()
        if line.startswith("E ") and ("Error" in stripped or "Exception" in stripped):
            return stripped
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def pytest_configure(config: pytest.Config) -> None:
    """Loaded by name (`-p`): record to the file the environment names, and take the name out of
    the environment, so the code under test cannot find the report and write into it."""
    path = os.environ.pop(REPORT_ENV, "")
    if path:
        # pytest_configure is a historic hook: the recorder gets its own call as it registers.
        config.pluginmanager.register(Recorder(path), "overseer-recorder")
