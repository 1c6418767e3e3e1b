"""Claude Code as an overseer agent, through Anthropic's `claude-agent-sdk`.

The SDK runs the real `claude` CLI (its bundled binary unless `cli_path` names another) with the
inherited environment, so `ANTHROPIC_BASE_URL`, API keys and a Claude Code login all work. Every
tool call passes a PreToolUse hook that asks `ToolGuard`; permissions are never skipped: the hook
allows or denies each call itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ClaudeSDKError,
    CLINotFoundError,
    HookMatcher,
    ResultMessage,
    SystemMessage,
    TextBlock,
    ToolResultBlock,
    UserMessage,
    query,
)
from claude_agent_sdk.types import HookContext, HookInput, PreToolUseHookSpecificOutput, SyncHookJSONOutput
from pydantic import BaseModel, ConfigDict, Field

from overseer.agents.base import AgentEvent, AgentRequest, EventSink
from overseer.agents.guard import DEFAULT_DENY_COMMANDS, ToolGuard
from overseer.domain import AgentResult, ToolCall
from overseer.errors import AgentError, ConfigError
from overseer.text import clip

_EXCERPT = 2000  # characters of a tool result kept in the event log


class ClaudeCodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cli_path: Path | None = None  # None: the CLI bundled with claude-agent-sdk
    model: str | None = None  # None: Claude Code's own default
    max_turns: int = Field(default=40, ge=1)
    deny_commands: list[str] = Field(default_factory=lambda: list(DEFAULT_DENY_COMMANDS))
    env: dict[str, str] = Field(default_factory=dict)  # merged over the inherited environment


def bundled_cli() -> Path:
    import claude_agent_sdk

    return Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"


class ClaudeCodeAgent:
    name: ClassVar[str] = "claude-code"
    config_model: ClassVar[type[BaseModel]] = ClaudeCodeConfig

    def __init__(self, config: ClaudeCodeConfig) -> None:
        self.config = config

    @property
    def cli_path(self) -> Path:
        return self.config.cli_path or bundled_cli()

    def preflight(self) -> None:
        path = self.cli_path
        if not path.is_file():
            raise ConfigError(
                "claude CLI not found",
                path=str(path),
                hint="set agent.options.cli_path to your `claude`, or reinstall claude-agent-sdk",
            )

    async def run(self, request: AgentRequest, emit: EventSink) -> AgentResult:
        self.preflight()
        run = _Run(ToolGuard(request.workspace, self.config.deny_commands), emit)
        try:
            async for message in query(prompt=request.prompt, options=self._options(request, run)):
                run.take(message)
        except CLINotFoundError as exc:
            raise ConfigError("claude CLI not found", path=str(self.cli_path)) from exc
        except ClaudeSDKError as exc:
            if run.result is None:  # an error after the result (exit code 1 on an API error) is no news
                raise AgentError(f"claude CLI failed: {exc}", hint=run.stderr_tail()) from exc
        return run.finish()

    def _options(self, request: AgentRequest, run: _Run) -> ClaudeAgentOptions:
        return ClaudeAgentOptions(
            cwd=str(request.workspace),
            cli_path=str(self.cli_path),
            resume=request.session_id,
            model=self.config.model,
            max_turns=self.config.max_turns,
            permission_mode="default",  # the hook below decides every call; nothing is bypassed
            hooks={"PreToolUse": [HookMatcher(matcher=None, hooks=[run.pre_tool_use], on_failure="block")]},
            env=dict(self.config.env),
            stderr=run.stderr.append,
        )


class _Run:
    """The state of one agent run: calls seen, the session, the result."""

    def __init__(self, guard: ToolGuard, emit: Callable[[AgentEvent], None]) -> None:
        self.guard = guard
        self.emit = emit
        self.calls: list[ToolCall] = []
        self.session_id: str | None = None
        self.result: ResultMessage | None = None
        self.errors: list[str] = []
        self.stderr: list[str] = []

    async def pre_tool_use(self, data: HookInput, tool_use_id: str | None, context: HookContext) -> SyncHookJSONOutput:
        if data["hook_event_name"] != "PreToolUse":  # registered for PreToolUse only; narrows the type
            return {}
        name, tool_input = data["tool_name"], dict(data["tool_input"])
        decision = self.guard.check(name, tool_input)
        call = ToolCall(tool_use_id or "", name, tool_input, decision.allowed, decision.reason)
        self.calls.append(call)
        self.emit(
            AgentEvent(
                "tool_call",
                {
                    "id": call.tool_use_id,
                    "tool": name,
                    "input": tool_input,
                    "allowed": call.allowed,
                    "reason": call.reason,
                },
            )
        )
        output: PreToolUseHookSpecificOutput = {
            "hookEventName": "PreToolUse",
            "permissionDecision": "allow" if decision.allowed else "deny",
            "permissionDecisionReason": decision.reason or "allowed by overseer",
        }
        return {"hookSpecificOutput": output}

    def take(self, message: object) -> None:
        if isinstance(message, SystemMessage) and message.subtype == "init":
            self.session_id = message.data.get("session_id")
            self.emit(AgentEvent("session", {"session_id": self.session_id}))
        elif isinstance(message, AssistantMessage):
            self._assistant(message)
        elif isinstance(message, UserMessage) and isinstance(message.content, list):
            for block in message.content:
                if isinstance(block, ToolResultBlock):
                    self.emit(
                        AgentEvent(
                            "tool_result",
                            {
                                "id": block.tool_use_id,
                                "is_error": bool(block.is_error),
                                "content": _excerpt(block.content),
                            },
                        )
                    )
        elif isinstance(message, ResultMessage):
            self.result = message
            self.session_id = message.session_id or self.session_id
            self.emit(
                AgentEvent(
                    "result",
                    {
                        "is_error": message.is_error,
                        "subtype": message.subtype,
                        "text": message.result or "",
                        "turns": message.num_turns,
                        "api_error_status": message.api_error_status,
                    },
                )
            )

    def _assistant(self, message: AssistantMessage) -> None:
        if message.error:
            self.errors.append(str(message.error))
        for block in message.content:
            if isinstance(block, TextBlock):
                self.emit(AgentEvent("text", {"text": block.text}))

    def finish(self) -> AgentResult:
        result = self.result
        if result is None:
            raise AgentError("claude CLI ended without a result", hint=self.stderr_tail())
        text = result.result or ""
        error = ""
        if result.is_error:  # the result text carries the API's own message ("API Error: 400 ...")
            error = text or "; ".join(result.errors or self.errors) or f"claude reported an error ({result.subtype})"
        return AgentResult(
            session_id=self.session_id,
            is_error=result.is_error,
            text=text,
            error=error,
            num_turns=result.num_turns,
            cost_usd=result.total_cost_usd,
            tool_calls=tuple(self.calls),
        )

    def stderr_tail(self) -> str:
        return " | ".join(line.strip() for line in self.stderr[-5:] if line.strip())


def _excerpt(content: object) -> str:
    if isinstance(content, list):
        content = "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    text = "" if content is None else str(content)
    return clip(text, _EXCERPT)
