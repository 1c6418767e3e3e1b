"""An example overseer agent plugin: any command-line program as the coding agent.

The program gets the prompt on stdin and runs in the workspace; what it prints is its final
message, and a non-zero exit is an error result. Installed with this folder's pyproject.toml, it
registers under the `overseer.agents` entry point group as `command`:

    agent:
      name: command
      options:
        command: ["aider", "--yes", "--message-file", "/dev/stdin"]
"""

from __future__ import annotations

import shutil
from typing import ClassVar

import anyio
from anyio.streams.text import TextReceiveStream
from pydantic import BaseModel, ConfigDict, Field

from overseer.agents.base import AgentEvent, AgentRequest, EventSink
from overseer.domain import AgentResult
from overseer.errors import ConfigError


class CommandConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: list[str] = Field(min_length=1)


class CommandAgent:
    name: ClassVar[str] = "command"
    config_model: ClassVar[type[BaseModel]] = CommandConfig

    def __init__(self, config: CommandConfig) -> None:
        self.config = config

    def preflight(self) -> None:
        if shutil.which(self.config.command[0]) is None:
            raise ConfigError("agent command not found", path=self.config.command[0])

    async def run(self, request: AgentRequest, emit: EventSink) -> AgentResult:
        lines: list[str] = []
        async with await anyio.open_process(self.config.command, cwd=request.workspace) as process:
            assert process.stdin is not None and process.stdout is not None
            await process.stdin.send(request.prompt.encode())
            await process.stdin.aclose()
            async for chunk in TextReceiveStream(process.stdout):
                lines.append(chunk)
                emit(AgentEvent("text", {"text": chunk}))  # every line is a sign of life
            code = await process.wait()
        text = "".join(lines).strip()
        emit(AgentEvent("result", {"is_error": code != 0, "text": text}))
        return AgentResult(session_id=None, is_error=code != 0, text=text, error=f"exit code {code}" if code else "")
