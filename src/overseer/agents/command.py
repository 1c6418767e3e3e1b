"""Any command-line program as the coding agent (`agent.name: command`).

The command is a template: a list of argv words, or one string split as a shell would (`shlex`),
in which `{prompt}`, `{workspace}` and `{session}` are replaced. Without `{prompt}` the prompt goes
to the program's standard input. It runs in the workspace, in a process group of its own that is
killed when the run ends early (overseer's limits, Ctrl-C, `timeout_s`).

What it prints on stdout is its answer: every line is an event (a sign of life for the output
monitor), the whole is the result's text, from which the judge reads its claims, and
`OVERSEER <kind>: ...` lines in it are its reports (`honesty.parse_reports`). stderr lines are
events too; a non-zero exit is a crash (the monitor restarts it, or reads a rate limit or an auth
error in what it printed).

Such a program has no session: a retry's prompt carries the whole task and the feedback. A program
that has sessions names its session id in its output; `session_pattern` (a regex whose first group
is the id) picks it up, and a word with `{session}` in the template then resumes it (a word with
`{session}` is left out while there is no session).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
from collections.abc import AsyncIterator
from typing import ClassVar

import anyio
from anyio.abc import ByteReceiveStream, Process
from pydantic import BaseModel, ConfigDict, Field, field_validator

from overseer.agents.base import AgentEvent, AgentRequest, EventSink
from overseer.agents.honesty import parse_reports, report_event
from overseer.domain import AgentResult
from overseer.errors import AgentError, ConfigError

_STDERR_TAIL = 5  # lines of stderr in an error's hint


class CommandConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: list[str] = Field(min_length=1)  # argv words, or one string split with shlex
    env: dict[str, str] = Field(default_factory=dict)  # merged over the inherited environment
    timeout_s: float | None = Field(default=None, gt=0)  # the program's own limit, on top of overseer's
    session_pattern: str | None = None  # a regex; its first group in the output is the program's session id

    @field_validator("command", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return shlex.split(value) if isinstance(value, str) else value

    @field_validator("session_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None and re.compile(value).groups < 1:
            raise ValueError("session_pattern needs a group: the session id")
        return value


class CommandAgent:
    name: ClassVar[str] = "command"
    config_model: ClassVar[type[BaseModel]] = CommandConfig

    def __init__(self, config: CommandConfig) -> None:
        self.config = config

    @property
    def has_sessions(self) -> bool:
        """Whether a retry continues the program's conversation; else its prompt carries the whole task."""
        return self.config.session_pattern is not None

    def preflight(self) -> None:
        program = self.config.command[0]
        if shutil.which(program) is None:
            raise ConfigError("agent command not found", path=program, hint="set agent.options.command")

    def argv(self, request: AgentRequest) -> list[str]:
        words = {"{prompt}": request.prompt, "{workspace}": str(request.workspace), "{session}": request.session_id}
        argv: list[str] = []
        for word in self.config.command:
            if "{session}" in word and not request.session_id:
                continue
            for key, value in words.items():
                word = word.replace(key, value or "")
            argv.append(word)
        return argv

    async def run(self, request: AgentRequest, emit: EventSink) -> AgentResult:
        self.preflight()
        stdin = b"" if any("{prompt}" in word for word in self.config.command) else request.prompt.encode()
        env = {**os.environ, **self.config.env} if self.config.env else None
        out: list[str] = []
        err: list[str] = []
        process = await anyio.open_process(self.argv(request), cwd=request.workspace, env=env, start_new_session=True)
        try:
            with anyio.fail_after(self.config.timeout_s):
                code = await _converse(process, stdin, emit, out, err)
        except TimeoutError as exc:
            raise AgentError(f"the agent command ran past timeout_s={self.config.timeout_s:g}") from exc
        finally:
            _kill_group(process)
            with anyio.CancelScope(shield=True):
                await process.aclose()
        return self._result(code, "\n".join(out).strip(), err, emit)

    def _result(self, code: int, text: str, err: list[str], emit: EventSink) -> AgentResult:
        tail = " | ".join(line.strip() for line in err[-_STDERR_TAIL:] if line.strip())
        if code != 0:
            raise AgentError(f"the agent command exited with code {code}", hint=tail or text[-300:])
        session = None
        if self.config.session_pattern and (match := re.search(self.config.session_pattern, text)):
            session = match[1]
            emit(AgentEvent("session", {"session_id": session}))
        reports = parse_reports(text)
        for report in reports:
            emit(report_event(report))
        emit(AgentEvent("result", {"is_error": False, "text": text, "exit_code": code}))
        return AgentResult(session_id=session, is_error=False, text=text, reports=reports)


async def _converse(process: Process, stdin: bytes, emit: EventSink, out: list[str], err: list[str]) -> int:
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    async with anyio.create_task_group() as group:
        group.start_soon(_follow, process.stdout, "stdout", emit, out)
        group.start_soon(_follow, process.stderr, "stderr", emit, err)
        try:
            if stdin:
                await process.stdin.send(stdin)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the program did not read its input: its exit code says how it went
        await process.stdin.aclose()
    return await process.wait()


async def _follow(stream: ByteReceiveStream, name: str, emit: EventSink, lines: list[str]) -> None:
    async for line in _lines(stream):
        lines.append(line)
        emit(AgentEvent("text", {"text": line, "stream": name}))


async def _lines(stream: ByteReceiveStream) -> AsyncIterator[str]:
    pending = b""
    async for chunk in stream:
        pending += chunk
        *whole, pending = pending.split(b"\n")
        for line in whole:
            yield line.decode("utf-8", errors="replace").rstrip("\r")
    if pending:
        yield pending.decode("utf-8", errors="replace")


def _kill_group(process: Process) -> None:
    """The program and whatever it started: a run that ends leaves nothing running."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
