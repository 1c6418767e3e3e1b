"""Claude Code as an overseer agent, through Anthropic's `claude-agent-sdk`.

The SDK runs the real `claude` CLI (its bundled binary unless `cli_path` names another) with the
inherited environment, so `ANTHROPIC_BASE_URL`, API keys and a Claude Code login all work. Every
tool call passes a PreToolUse hook that asks `ToolGuard`; permissions are never skipped: the hook
allows or denies each call itself, or defers one that a breakpoint `tool:` rule matches: the run
ends with the call pending until a developer answers it (approval.py). Every Bash command runs in
Claude Code's own OS sandbox, walled by the attempt's `Boundary` (see `sandbox.py`); each run gets a
temp directory of its own, removed when the run ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ClaudeSDKError,
    CLINotFoundError,
    HookMatcher,
    RateLimitEvent,
    ResultMessage,
    SystemMessage,
    TextBlock,
    ToolResultBlock,
    UserMessage,
    query,
)
from claude_agent_sdk.types import HookContext, HookInput, PreToolUseHookSpecificOutput, SyncHookJSONOutput
from pydantic import BaseModel, ConfigDict, Field

from overseer.agents.approval import AnsweredCall, Answers, ToolRules
from overseer.agents.arbiter import Arbiter, CommandPolicy, CommandRisk
from overseer.agents.base import AgentEvent, AgentRequest, EventSink
from overseer.agents.guard import GuardDecision, ToolGuard
from overseer.agents.honesty import SERVER, TOOL_NAMES, all_reports, honesty_server, report_event
from overseer.agents.lifeline import tied_to_parent
from overseer.agents.sandbox import (
    DEFAULT_READABLE,
    OPT_OUT,
    Boundary,
    check_available,
    claude_settings,
    sandbox_event,
)
from overseer.domain import AgentReport, AgentResult, DeferredCall, ToolCall
from overseer.errors import AgentError, ConfigError
from overseer.llm.base import LLM
from overseer.text import clip
from overseer.workspace.files import STATE_DIR

_EXCERPT = 2000  # characters of a tool result kept in the event log
_SANDBOX_MISSING = "Sandbox required but unavailable"
# The CLI retries a rate-limited or failed request ten times over about 3 minutes, silently; with
# two, the output monitor does the waiting, visibly (orchestrator/running.py). The user's value wins.
_CLI_RETRIES = "2"


class ClaudeCodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cli_path: Path | None = None  # None: the CLI bundled with claude-agent-sdk
    model: str | None = None  # None: Claude Code's own default
    max_turns: int = Field(default=40, ge=1)
    deny_commands: list[str] = Field(default_factory=list)  # the user's own patterns, on top of `commands`
    commands: CommandPolicy = Field(default_factory=CommandPolicy)  # the permission arbiter's policy per class
    env: dict[str, str] = Field(default_factory=dict)  # merged over the inherited environment
    # Bash runs in Claude Code's OS sandbox; `off` (an explicit opt-out) lets it run unconfined.
    sandbox: bool = True
    allowed_domains: list[str] = Field(default_factory=list)  # hosts sandboxed commands may reach
    readable: list[str] = Field(default_factory=lambda: list(DEFAULT_READABLE))  # opened in the hidden home


def bundled_cli() -> Path:
    import claude_agent_sdk

    return Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"


class ClaudeCodeAgent:
    name: ClassVar[str] = "claude-code"
    config_model: ClassVar[type[BaseModel]] = ClaudeCodeConfig

    def __init__(self, config: ClaudeCodeConfig) -> None:
        self.config = config
        self.risk: CommandRisk | None = None
        self.tool_rules = ToolRules({})

    def use_risk_model(self, llm: LLM) -> None:
        """Let a trusted supervisor model judge commands no rule covers (runtime.py gives it)."""
        self.risk = CommandRisk(llm)

    def stop_before(self, rules: Mapping[str, str]) -> None:
        """Defer the tool calls these breakpoint rules match (name -> "Bash(git push*)"; runtime.py)."""
        self.tool_rules = ToolRules(rules)

    @property
    def cli_path(self) -> Path:
        return self.config.cli_path or bundled_cli()

    @property
    def sandboxed(self) -> bool:
        """Whether Bash runs in the OS sandbox (the orchestrator watches outside the workspace when not)."""
        return self.config.sandbox

    def own_paths(self, home: Path) -> list[Path]:
        """Where the CLI keeps its own state (sessions, settings): its writes there are not the agent's work,
        so the after-attempt check skips them."""
        paths = [home / ".claude", home / ".claude.json", home / ".config" / "anthropic"]
        config_dir = self.config.env.get("CLAUDE_CONFIG_DIR", os.environ.get("CLAUDE_CONFIG_DIR"))
        return [*paths, Path(config_dir)] if config_dir else paths

    def preflight(self) -> None:
        path = self.cli_path
        if not path.is_file():
            raise ConfigError(
                "claude CLI not found",
                path=str(path),
                hint="set agent.options.cli_path to your `claude`, or reinstall claude-agent-sdk",
            )
        if self.config.sandbox:
            check_available(self.config.env.get("PATH", os.environ.get("PATH")))

    async def run(self, request: AgentRequest, emit: EventSink) -> AgentResult:
        self.preflight()
        with tempfile.TemporaryDirectory(prefix="overseer-attempt-", ignore_cleanup_errors=True) as temp:
            boundary = self.boundary(request.workspace, Path.home(), Path(temp))
            emit(AgentEvent("sandbox", sandbox_event(boundary, sandboxed=self.config.sandbox)))
            arbiter = Arbiter(self.config.commands, sandboxed=self.config.sandbox, risk=self.risk)
            guard = ToolGuard(request.workspace, self.config.deny_commands, boundary=boundary, arbiter=arbiter)
            run = self._new_run(guard, request, emit)
            await self._converse(request, run, boundary)
        return run.finish()

    def _new_run(self, guard: ToolGuard, request: AgentRequest, emit: EventSink) -> _Run:
        return _Run(guard, emit, rules=self.tool_rules, answered=request.answered)

    def boundary(self, workspace: Path, home: Path, temp_dir: Path) -> Boundary:
        """The walls of one run; with the sandbox off nothing closes the network, so no domain list applies."""
        domains = self.config.allowed_domains if self.config.sandbox else None
        return Boundary.around(
            workspace,
            home=home,
            temp_dir=temp_dir,
            readable=self.config.readable,
            allowed_domains=domains,
            protected=[workspace / STATE_DIR],
        )

    async def _converse(self, request: AgentRequest, run: _Run, boundary: Boundary) -> None:
        try:
            async for message in query(prompt=request.prompt, options=self._options(request, run, boundary)):
                run.take(message)
        except CLINotFoundError as exc:
            raise ConfigError("claude CLI not found", path=str(self.cli_path)) from exc
        except ClaudeSDKError as exc:
            if _SANDBOX_MISSING in str(exc):  # the CLI's own check (failIfUnavailable) disagreed with ours
                raise ConfigError(
                    f"the sandbox cannot start: {exc}", hint=f"apt-get install bubblewrap socat, or {OPT_OUT}"
                ) from exc
            if run.result is None:  # an error after the result (exit code 1 on an API error) is no news
                raise AgentError(f"claude CLI failed: {exc}", hint=run.stderr_tail()) from exc

    def _options(self, request: AgentRequest, run: _Run, boundary: Boundary) -> ClaudeAgentOptions:
        temp = str(boundary.temp_dir)
        launcher, lifeline = tied_to_parent(self.cli_path)
        return ClaudeAgentOptions(
            cwd=str(request.workspace),
            cli_path=str(launcher),
            resume=request.session_id,
            model=self.config.model,
            max_turns=self.config.max_turns,
            permission_mode="default",  # the hook below decides every call; nothing is bypassed
            hooks={"PreToolUse": [HookMatcher(matcher=None, hooks=[run.pre_tool_use], on_failure="block")]},
            mcp_servers={SERVER: honesty_server(run.report)},  # the agent's honest way out (honesty.py)
            allowed_tools=list(TOOL_NAMES),
            settings=json.dumps(claude_settings(boundary, sandboxed=self.config.sandbox)),
            add_dirs=[temp],  # a working directory, so the CLI lets its file tools write there too
            # The CLI keeps its per-user temp dir (the sandboxed commands' TMPDIR) under CLAUDE_CODE_TMPDIR.
            env={
                "CLAUDE_CODE_MAX_RETRIES": os.environ.get("CLAUDE_CODE_MAX_RETRIES", _CLI_RETRIES),
                **self.config.env,
                **lifeline,
                "TMPDIR": temp,
                "CLAUDE_CODE_TMPDIR": temp,
            },
            stderr=run.stderr.append,
        )


class _Run:
    """The state of one agent run: calls seen, the session, the result."""

    def __init__(
        self,
        guard: ToolGuard,
        emit: Callable[[AgentEvent], None],
        *,
        rules: ToolRules | None = None,
        answered: tuple[AnsweredCall, ...] = (),
    ) -> None:
        self.guard = guard
        self.emit = emit
        self.rules = rules or ToolRules({})
        self.answers = Answers(answered)
        self.deferred: dict[str, str] = {}  # tool_use_id -> the rule that deferred it
        self.calls: list[ToolCall] = []
        self.session_id: str | None = None
        self.result: ResultMessage | None = None
        self.errors: list[str] = []
        self.stderr: list[str] = []
        self.reports: list[AgentReport] = []

    def report(self, report: AgentReport) -> None:
        """A report through overseer's own tools: kept for the judge, and an event for the store."""
        self.reports.append(report)
        self.emit(report_event(report))

    async def pre_tool_use(self, data: HookInput, tool_use_id: str | None, context: HookContext) -> SyncHookJSONOutput:
        if data["hook_event_name"] != "PreToolUse":  # registered for PreToolUse only; narrows the type
            return {}
        name, tool_input = data["tool_name"], dict(data["tool_input"])
        decision, rule = await self._decide(name, tool_input, tool_use_id or "")
        call = ToolCall(tool_use_id or "", name, tool_input, decision.allowed, decision.reason, decision.category)
        self.calls.append(call)
        event = {
            "id": call.tool_use_id,
            "tool": name,
            "input": tool_input,
            "allowed": call.allowed,
            "reason": call.reason,
            "category": call.category,
        }
        self.emit(AgentEvent("tool_call", {**event, "deferred": rule} if rule else event))
        verdict: Literal["allow", "deny", "defer"] = "defer" if rule else "allow" if decision.allowed else "deny"
        output: PreToolUseHookSpecificOutput = {
            "hookEventName": "PreToolUse",
            "permissionDecision": verdict,
            "permissionDecisionReason": decision.reason or "allowed by overseer",
        }
        return {"hookSpecificOutput": output}

    async def _decide(self, name: str, tool_input: dict[str, Any], tool_use_id: str) -> tuple[GuardDecision, str]:
        """The guard's decision, unless the call is overseer's own, one the developer has answered, or one a
        breakpoint rule holds back for the developer (then the rule's name comes with it)."""
        if name in TOOL_NAMES:  # overseer's own tools only record a report: nothing to judge, nor to ask about
            return GuardDecision(True), ""
        if (answer := self.answers.take(name, tool_input)) is not None:
            return GuardDecision(answer.allowed, answer.hook_reason, "developer"), ""
        if rule := self.rules.first(name, tool_input, self.guard.workspace) or "":
            self.deferred[tool_use_id] = rule
            return GuardDecision(False, f"waits for the developer (breakpoint {rule})", "breakpoint"), rule
        # off the event loop: the arbiter may wait for the supervisor model
        return await asyncio.to_thread(self.guard.check, name, tool_input), ""

    def take(self, message: object) -> None:
        if isinstance(message, SystemMessage) and message.subtype == "init":
            self.session_id = message.data.get("session_id")
            self.emit(AgentEvent("session", {"session_id": self.session_id}))
        elif isinstance(message, AssistantMessage):
            self._assistant(message)
        elif isinstance(message, RateLimitEvent):  # the output monitor waits out a rejected one (monitor.py)
            info = message.rate_limit_info
            data = {"status": info.status, "resets_at": info.resets_at, "type": info.rate_limit_type}
            self.emit(AgentEvent("rate_limit", data))
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
                        "deferred": self._deferred_data(message),
                    },
                )
            )

    def _assistant(self, message: AssistantMessage) -> None:
        if message.error:
            self.errors.append(str(message.error))
        for block in message.content:
            if isinstance(block, TextBlock):
                self.emit(AgentEvent("text", {"text": block.text}))

    def _deferred_call(self, message: ResultMessage) -> DeferredCall | None:
        pending = message.deferred_tool_use
        if pending is None:
            return None
        rule = self.deferred.get(pending.id) or next(reversed(self.deferred.values()), "")
        return DeferredCall(pending.id, pending.name, dict(pending.input), rule)

    def _deferred_data(self, message: ResultMessage) -> dict[str, object] | None:
        deferred = self._deferred_call(message)
        return None if deferred is None else {**deferred.detail(), "rule": deferred.rule}

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
            reports=self._all_reports(text),
            deferred=self._deferred_call(result),
        )

    def _all_reports(self, text: str) -> tuple[AgentReport, ...]:
        """The tools' reports and those the final text writes as lines (recorded as events here)."""
        reports = all_reports(self.reports, text)
        for written in (report for report in reports if report not in self.reports):
            self.emit(report_event(written))
        return reports

    def stderr_tail(self) -> str:
        return " | ".join(line.strip() for line in self.stderr[-5:] if line.strip())


def _excerpt(content: object) -> str:
    if isinstance(content, list):
        content = "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    text = "" if content is None else str(content)
    return clip(text, _EXCERPT)
