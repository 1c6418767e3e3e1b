"""`overseer serve` for real: the command runs as a subprocess on a free loopback port over a workspace
whose store the test fills through the real CLI; the page is loaded by headless Chromium (Debian's
`chromium`), and its screenshot is read back with tesseract. One test drives Chromium over the DevTools
protocol (`--remote-debugging-pipe`) to see the page change when a task is added.

Chromium runs without `--virtual-time-budget`: virtual time stands still while a request is open, and
the page's event stream is always open, so the budget never runs out (the capture hangs). The page
needs no waiting anyway: it is served with the snapshot of the moment inside, painted before `load`.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import html
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from overseer.testing import ScriptedAnthropicServer, Turn
from tests.conftest import Ran
from tests.e2e.test_breakpoints import TASK, configure, honest

Overseer = Callable[..., Ran]
Scripted = Callable[[Sequence[Turn]], ScriptedAnthropicServer]
START_TIMEOUT_S = 60
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str  # as printed, with ?token= when there is one

    @property
    def base(self) -> str:
        """The loopback address of the server, whatever it is bound to."""
        port = re.search(r":(\d+)/", self.url)
        assert port, self.url
        return f"http://127.0.0.1:{port[1]}"

    def stop(self) -> tuple[int, str]:
        """Ctrl-C, as a person stops it: the exit code and what it printed after the URL."""
        self.process.send_signal(signal.SIGINT)
        out, err = self.process.communicate(timeout=15)
        return self.process.returncode, out + err


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    """Start `overseer serve ARGS --port 0` as a real subprocess and wait for the URL it prints; the
    finalizer kills any still running (and waits for it), even when the test fails."""
    started: list[Served] = []

    def start(*args: str) -> Served:
        command = [sys.executable, "-m", "overseer", "serve", "--port", "0", *args]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(served := Served(process, _printed_url(process)))
        return served

    yield start
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
            served.process.communicate()


def _printed_url(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
        line = process.stdout.readline() if ready else ""
        if found := re.search(r"http://\S+", line):
            return found[0]
        if not line and process.poll() is not None:
            break
    process.kill()
    out, err = process.communicate()
    pytest.fail(f"`overseer serve` printed no URL (exit {process.returncode}): {out}{err}")


def snapshots(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The `snapshot` events of a server-sent event stream, parsed."""
    event, data = "", ""
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data = line.removeprefix("data:").strip()
        elif not line and data:
            if event == "snapshot":
                yield json.loads(data)
            event, data = "", ""


@pytest.fixture
def tools() -> tuple[str, str]:
    """Chromium and tesseract, or a failure that says how to install them (never a silent skip)."""
    chromium, tesseract = shutil.which("chromium"), shutil.which("tesseract")
    if not (chromium and tesseract):
        pytest.fail(
            "chromium and tesseract are needed (`make system-packages`, or apt-get install -y "
            f"--no-install-recommends chromium tesseract-ocr): chromium={chromium}, tesseract={tesseract}"
        )
    return chromium, tesseract


def test_the_event_stream_sends_a_new_snapshot_when_a_task_is_added_and_ctrl_c_stops_it(
    workspace: Path, overseer: Overseer, serve: Callable[..., Served]
) -> None:
    assert overseer("task", "add", "-w", str(workspace), "Write the README").code == 0
    served = serve("-w", str(workspace))
    assert served.url.startswith("http://127.0.0.1:") and "token" not in served.url  # loopback: no token

    with httpx.Client(base_url=served.base, timeout=10) as client:
        asked = time.monotonic()
        with client.stream("GET", "/events") as response:
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
            stream = snapshots(response)
            first = next(stream)
            first_ms = (time.monotonic() - asked) * 1000
            assert [(t["task_id"], t["text"], t["status"]) for t in first["tasks"]] == [
                (1, "Write the README", "pending")
            ]
            assert client.get("/api/state").json() == first  # the same JSON, once

            assert overseer("task", "add", "-w", str(workspace), "Add a CHANGELOG").code == 0
            added = time.monotonic()
            second = next(stream)
            seen_ms = (time.monotonic() - added) * 1000
            assert [(t["text"], t["status"]) for t in second["tasks"]][-1] == ("Add a CHANGELOG", "pending")
            assert second["focus"]["task_id"] == 2  # nothing runs: the newest task is shown

            assert client.get("/api/state", params={"task": 1}).json()["focus"]["task_id"] == 1  # ?task=N
            code, said = served.stop()  # with the event stream still open

    assert code == 0 and "stopped" in said, said
    assert served.process.poll() is not None  # gone, not orphaned
    assert first_ms < 2000 and seen_ms < 2000, (first_ms, seen_ms)  # figures: about 10 ms and 0.5 s


def test_bound_to_any_address_every_request_needs_the_token(
    workspace: Path, overseer: Overseer, serve: Callable[..., Served]
) -> None:
    assert overseer("task", "add", "-w", str(workspace), "Write the README").code == 0
    served = serve("-w", str(workspace), "--host", "0.0.0.0")
    token = re.search(r"\?token=(\S+)", served.url)
    assert token, f"no token generated for a non-loopback address: {served.url}"

    with httpx.Client(base_url=served.base, timeout=10) as client:
        for path in ("/", "/api/state", "/events"):
            assert client.get(path).status_code == 401, path
            assert client.get(path, params={"token": "wrong"}).status_code == 401, path
        assert client.get("/api/state", params={"token": token[1]}).json()["tasks"][0]["text"] == "Write the README"
        by_header = client.get("/api/state", headers={"Authorization": f"Bearer {token[1]}"})
        assert by_header.status_code == 200
    assert served.stop()[0] == 0


def test_a_given_token_is_the_one_required(workspace: Path, overseer: Overseer, serve: Callable[..., Served]) -> None:
    assert overseer("task", "add", "-w", str(workspace), "Write the README").code == 0
    served = serve("-w", str(workspace), "--token", "s3cret")
    assert served.url.endswith("?token=s3cret")
    with httpx.Client(base_url=served.base, timeout=10) as client:
        assert client.get("/api/state").status_code == 401
        assert client.get("/", params={"token": "s3cret"}).status_code == 200
    assert served.stop()[0] == 0


def test_headless_chromium_shows_the_task_its_state_and_how_to_answer_its_breakpoint(
    workspace: Path,
    scripted: Scripted,
    overseer: Overseer,
    serve: Callable[..., Served],
    tools: tuple[str, str],
    tmp_path: Path,
) -> None:
    """The real `claude` CLI does the task against the scripted model; a breakpoint rule stops it for a
    person. The page, loaded in Chromium, shows it: the screenshot is OCR'd, the DOM dumped."""
    chromium, tesseract = tools
    configure(workspace, {"breakpoints": {"new-area": {"first_attempt_tagged": "risky"}}})
    scripted(honest(workspace))
    assert overseer("do", "--tag", "risky", "-w", str(workspace), TASK).code == 3  # waits for a person
    served = serve("-w", str(workspace))

    shot = tmp_path / "shot.png"
    began = time.monotonic()
    _chromium(chromium, tmp_path, f"--screenshot={shot}", served.url)
    shot_s = time.monotonic() - began
    words = ocr(tesseract, shot)
    dom = html.unescape(_chromium(chromium, tmp_path, "--dump-dom", served.url))
    served.stop()

    assert re.search(r"Implement word.count in textstats\.py", words), words  # OCR may read `_` as a space
    assert re.search(r"needs.human", words), words
    assert "Implement word_count in textstats.py so that the tests pass." in dom
    assert '<td class="state needs_human">needs_human</td>' in dom
    assert "new-area: the first attempt of a task tagged 'risky'" in dom
    assert 'overseer resolve 1 --accept | --retry "GUIDANCE" | --abandon' in dom
    assert "-> Edit " in dom and "+    return len(text.split())" in dom  # the attempt's events and its diff
    assert shot_s < 20, shot_s  # figure: about 1.5 s


def _chromium(chromium: str, tmp_path: Path, *args: str) -> str:
    profile = tmp_path / "chromium-profile"
    command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    ran = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


def ocr(tesseract: str, png: Path) -> str:
    """The words tesseract reads in the image, on one line."""
    words = subprocess.run([tesseract, str(png), "-"], capture_output=True, text=True, check=True).stdout
    return re.sub(r"\s+", " ", words)


def test_the_page_in_chromium_shows_a_task_added_while_it_is_open(
    workspace: Path, overseer: Overseer, serve: Callable[..., Served], tools: tuple[str, str], tmp_path: Path
) -> None:
    chromium, tesseract = tools
    assert overseer("task", "add", "-w", str(workspace), "Write the README").code == 0
    served = serve("-w", str(workspace))

    with Browser(chromium, tmp_path / "chromium-profile") as browser:
        browser.open(served.url)
        browser.wait_for("document.getElementById('link')?.textContent === 'live'")
        assert "Write the README" in browser.evaluate("document.body.innerText")

        assert overseer("task", "add", "-w", str(workspace), "Add a CHANGELOG").code == 0
        added = time.monotonic()
        browser.wait_for("document.body.innerText.includes('Add a CHANGELOG')")
        shown_s = time.monotonic() - added
        (shot := tmp_path / "live.png").write_bytes(browser.screenshot())

    words = ocr(tesseract, shot)
    assert "Write the README" in words and "Add a CHANGELOG" in words, words
    assert words.count("pending") >= 2, words  # both tasks' state (and the focused one's)
    assert shown_s < 5, shown_s  # figure: about 0.5 s (the store is read twice a second)
    served.stop()


class Browser:
    """Headless Chromium driven over the DevTools protocol through `--remote-debugging-pipe` (JSON
    messages ending in NUL, commands on its fd 3, answers on its fd 4): no extra package needed."""

    def __init__(self, chromium: str, profile: Path) -> None:
        commands_in, self._commands = _pipe()
        self._answers, answers_out = _pipe()
        flags = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"]
        script = f'exec "$0" "$@" 3<&{commands_in} 4>&{answers_out} {commands_in}<&- {answers_out}>&-'
        self.process = subprocess.Popen(
            ["bash", "-c", script, chromium, *flags], pass_fds=(commands_in, answers_out), stderr=subprocess.DEVNULL
        )
        os.close(commands_in)
        os.close(answers_out)
        self._sent, self._buffer, self._session = 0, b"", ""

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self._session = ""
        with contextlib.suppress(AssertionError, OSError):  # it may close the pipe before it answers
            self.call("Browser.close")
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)
        os.close(self._commands)
        os.close(self._answers)

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", url=url)["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                pytest.fail(f"the page never showed {expression}: {self.evaluate('document.body?.innerText')}")
            time.sleep(0.05)

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._sent += 1
        message = {"id": self._sent, "method": method, "params": params}
        if self._session:
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            answer = json.loads(self._next_message())
            if answer.get("id") == self._sent:
                assert "error" not in answer, answer
                result: dict[str, Any] = answer["result"]
                return result

    def _next_message(self) -> bytes:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._answers], [], [], 30)
            chunk = os.read(self._answers, 1 << 16) if ready else b""
            assert chunk, "chromium stopped answering"
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return message


def _pipe() -> tuple[int, int]:
    """A pipe on descriptors above 9, so that moving them to 3 and 4 in the child cannot clobber them."""
    ends = []
    for end in os.pipe():
        ends.append(fcntl.fcntl(end, fcntl.F_DUPFD_CLOEXEC, 10))
        os.close(end)
    return ends[0], ends[1]
