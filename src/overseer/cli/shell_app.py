"""`overseer shell`: a REPL over one workspace (prompt_toolkit).

Plain text is a task: it is added and run in the background while the user keeps typing, the run's
progress streaming above the prompt. `/command args` runs any overseer command on the workspace
(`/status 3`, `/breakpoints`, `/history 2`...). A task that stops for a human turns the prompt into
its question: `a` accepts, `r GUIDANCE` retries, `x` abandons; a held tool call is answered with `y`
(allow) or `n REASON` (deny). Ctrl-C stops the running attempt
cleanly (as Ctrl-C does to `overseer run`: the attempt is recorded as interrupted); a second Ctrl-C,
or Ctrl-D, leaves.

Runs are `overseer run` subprocesses of their own: the shell stays responsive, and stopping one is
the same, tested path as stopping `overseer run` in a terminal.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import WordCompleter
from prompt_toolkit.history import FileHistory
from prompt_toolkit.patch_stdout import patch_stdout

from overseer.cli.common import who
from overseer.domain import TaskStatus
from overseer.errors import OverseerError
from overseer.resolve import answer
from overseer.runtime import Workspace, state_dir
from overseer.state.models import Task

LEAVE_WINDOW_S = 2.0  # a second Ctrl-C within this long leaves the shell
_IN_BACKGROUND = ("run", "do")  # commands that run the agent: a background `overseer run`
_ANSWERS = {"a": "accept", "r": "retry", "x": "abandon"}  # to a task the judge or a rule stopped
_CALL_ANSWERS = {"y": "allow", "n": "deny"}  # to a tool call a `tool:` rule holds back
_QUESTIONS = {"accept": "a / r GUIDANCE / x", "allow": "y (allow) / n REASON (deny)"}
_RESUMING = frozenset({"retry", "allow", "deny"})  # answers after which the task runs again
HELP = """Type a task to add it and run it in the background. Commands:
  /status [ID]  /tasks  /breakpoints  /history ID  /checkpoints  ... any overseer command, as /name args
  /run          run the pending tasks in the background
  /help         this text          /quit  leave (or Ctrl-D)
A task waiting for you shows its question at the prompt: a (accept), r GUIDANCE (retry), x (abandon);
for a held tool call, y (allow) or n REASON (deny).
Ctrl-C stops the running attempt; a second Ctrl-C leaves."""


class Shell:
    def __init__(self, ws: Workspace, command_names: list[str], run_command: Callable[[list[str]], int]) -> None:
        self.ws = ws
        self.run_command = run_command  # the CLI's own entry point, for /commands
        self.runner: subprocess.Popen[str] | None = None
        self.last_interrupt = 0.0
        self.wanted = False  # a run is asked for: started once none is running
        words = [f"/{name}" for name in sorted({*command_names, "help", "quit"})]
        self.session: PromptSession[str] = PromptSession(
            history=FileHistory(str(state_dir(ws.path) / "shell_history")),
            completer=WordCompleter(words, sentence=True),
        )

    def loop(self) -> None:
        print(f"overseer shell on {self.ws.path}; /help for help")
        with patch_stdout(raw=True):
            while True:
                try:
                    line = self.session.prompt(self.message, refresh_interval=0.5).strip()
                except KeyboardInterrupt:
                    if self._interrupt():
                        break
                    continue
                except EOFError:
                    break
                if line and not self.handle(line):
                    break
        self._stop_runner()

    def message(self) -> str:
        """The prompt: the question of a task waiting for the user, else where the shell is."""
        self._run_if_wanted()  # called twice a second by the prompt's refresh
        waiting = self._waiting()
        if waiting is None:
            busy = " (running)" if self._running() else ""
            return f"overseer{busy}> "
        question = _QUESTIONS[next(iter(self._answers(waiting).values()))]
        return f"task {waiting.id} waits: {waiting.brief or 'a person must decide'}\n  {question} > "

    def handle(self, line: str) -> bool:
        """One line typed; False leaves the shell."""
        if line in ("/quit", "/exit"):
            return False
        if line == "/help":
            print(HELP)
        elif line.startswith("/"):
            self._command(shlex.split(line[1:]))
        elif (waiting := self._waiting()) is not None and line.split()[0] in self._answers(waiting):
            self._answer(waiting, line)
        else:
            task = self.ws.store.add_task(self.ws.project_id, line)
            print(f"added task {task.id}")
            self._start_runner()
        return True

    def _command(self, words: list[str]) -> None:
        if not words:
            return
        if words[0] in _IN_BACKGROUND:
            if words[0] == "do" and len(words) > 1:
                self.ws.store.add_task(self.ws.project_id, " ".join(words[1:]))
            self._start_runner()
            return
        with contextlib.suppress(SystemExit):  # --help and usage errors exit; the shell does not
            self.run_command([*words, "-w", str(self.ws.path)])

    def _answers(self, task: Task) -> dict[str, str]:
        point = self.ws.store.open_breakpoint_of(task.id)
        return _CALL_ANSWERS if point is not None and point.kind == "tool" else _ANSWERS

    def _answer(self, task: Task, line: str) -> None:
        key, _, note = line.partition(" ")
        action = self._answers(task)[key]
        try:
            print(f"task {task.id}: {answer(self.ws.store, task.id, action, note.strip(), by=who())}")
        except OverseerError as exc:
            print(f"error: {exc}")
            return
        if action in _RESUMING:
            self._start_runner()

    def _waiting(self) -> Task | None:
        tasks = self.ws.store.list_tasks(self.ws.project_id)
        return next((task for task in tasks if task.status is TaskStatus.NEEDS_HUMAN), None)

    def _running(self) -> bool:
        return self.runner is not None and self.runner.poll() is None

    def _start_runner(self) -> None:
        """Run the pending tasks now, or as soon as the run still finishing has ended (it may have
        settled the task just answered before it exits)."""
        self.wanted = True
        self._run_if_wanted()

    def _run_if_wanted(self) -> None:
        if not self.wanted or self._running():
            return
        self.wanted = False
        command = [sys.executable, "-m", "overseer", "run", "-w", str(self.ws.path)]
        self.runner = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # the terminal's Ctrl-C comes to the shell, which passes it on
            env={**os.environ, "OVERSEER_NOTIFY__BELL": "false"},
        )
        threading.Thread(target=_relay, args=(self.runner,), daemon=True).start()

    def _interrupt(self) -> bool:
        """Ctrl-C: stop the running attempt; a second one soon after (or with nothing running) leaves."""
        now = time.monotonic()
        leave = not self._running() or now - self.last_interrupt < LEAVE_WINDOW_S
        self.last_interrupt = now
        if not leave and self.runner is not None:
            print("stopping the running attempt (Ctrl-C again to leave)...")
            self.runner.send_signal(signal.SIGINT)
        return leave

    def _stop_runner(self) -> None:
        if self._running() and self.runner is not None:
            self.runner.send_signal(signal.SIGINT)
            self.runner.wait(timeout=60)


def _relay(runner: subprocess.Popen[str]) -> None:
    """The run's progress, line by line, above the prompt."""
    assert runner.stdout is not None
    for text in runner.stdout:
        print(text, end="")
    print(f"[run ended: exit {runner.wait()}]")
