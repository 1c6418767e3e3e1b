"""Aider as an overseer agent: `aider --message-file ... --yes-always`, one run per attempt.

Aider lives in a tool environment of its own (tools/aider/, installed by `make setup`), so its
hundred-odd pinned dependencies never constrain overseer's. It is run with everything that would
commit, ask, fetch or run a command turned off: overseer checkpoints the workspace itself, and aider
must not commit, touch the user's git index, add `.aider*` to .gitignore, check for updates, send
analytics, fetch model prices or suggest shell commands. When the workspace is in a git repository
aider reads it (its repo map) through a private copy of the index; otherwise it runs with `--no-git`.

What aider prints becomes events as it comes (every chunk of output is a sign of life): `Applied
edit to PATH` a `tool_call` (an `Edit`), `Tokens: ... Cost: ...` a `tokens` event, a model API
error (`litellm.RateLimitError: ...`) an `api_error` event with the HTTP status it stands for. At
the first API error aider is stopped (`stop_on_api_error`): waiting out a rate limit, stopping on a
refused key and restarting after a crash are the output monitor's to decide, not aider's own retry
loop (about a minute of it, silent to overseer). The model's replies, read from aider's chat
history, are the result text the judge reads claims from; `OVERSEER ...` lines in them are reports
(agents/honesty.py). Aider has no session to resume: a retry's prompt carries the task again.

Aider writes wherever the model names a file (`../x`, an absolute path), so it runs in bubblewrap
within the attempt's `Boundary` (sandbox.py): the workspace, its temp dir and ~/.aider writable,
the home directory and the workspace's neighbours hidden. See docs/agents/aider.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import anyio
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream
from pydantic import BaseModel, ConfigDict, Field

from overseer.agents.base import AgentEvent, AgentRequest, EventSink
from overseer.agents.honesty import parse_reports, report_event
from overseer.agents.lifeline import tied_to_parent
from overseer.agents.sandbox import DEFAULT_READABLE, Boundary, sandbox_event
from overseer.domain import AgentResult, ToolCall
from overseer.errors import AgentError, ConfigError
from overseer.text import clip_tail
from overseer.workspace.files import STATE_DIR

# Where `make setup` installs aider: tools/aider/.venv of the checkout this module is in.
TOOL_ENV = Path(__file__).resolve().parents[3] / "tools" / "aider" / ".venv"
_INSTALL_HINT = "run `make setup` (it installs tools/aider/.venv), or set agent.options.aider_path to your `aider`"
_OWN_FLAGS = (
    "--yes-always",  # every question aider asks (create a file, edit one not in the chat) is answered yes
    "--no-auto-commits",  # overseer checkpoints; aider commits nothing
    "--no-dirty-commits",
    "--no-gitignore",  # nor adds `.aider*` to the user's .gitignore
    "--no-check-update",
    "--no-show-release-notes",
    "--no-analytics",
    "--no-show-model-warnings",
    "--no-suggest-shell-commands",  # aider never runs commands under overseer: the gates do
    "--no-auto-lint",
    "--no-auto-test",
    "--no-detect-urls",  # no fetching of pages named in the prompt
    "--no-pretty",
    "--no-fancy-input",
    "--no-restore-chat-history",
)
_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # litellm's bundled price list, not a download at every start
    "COLUMNS": "10000",  # aider's console wraps at the terminal width: one message, one line
}
# The HTTP status each of litellm's errors stands for, so the monitor can tell a rate limit from a crash.
_STATUS = {
    "RateLimitError": 429,
    "RouterRateLimitError": 429,
    "AuthenticationError": 401,
    "PermissionDeniedError": 403,
    "NotFoundError": 404,
    "BadRequestError": 400,
    "ContextWindowExceededError": 400,
    "ContentPolicyViolationError": 400,
    "UnprocessableEntityError": 422,
    "Timeout": 408,
    "InternalServerError": 500,
    "APIError": 500,
    "BadGatewayError": 502,
    "ServiceUnavailableError": 503,
}
_API_ERROR = re.compile(r"^litellm\.(?P<name>\w+):\s*(?:(?P=name):\s*)?(?:\w+Exception - )?(?P<message>.*)$")
_APPLIED = re.compile(r"^Applied edit to (?P<path>.+)$")
_COMMIT = re.compile(r"^Commit (?P<sha>[0-9a-f]{7,40}) (?P<message>.*)$")
_TOKENS = re.compile(
    r"^Tokens: (?P<sent>[\d.]+k?) sent,.*?(?P<received>[\d.]+k?) received\."
    r"(?: Cost: \$(?P<message>[\d.]+) message, \$(?P<session>[\d.]+) session\.)?"
)
# aider's own settings under the home directory: readable in its sandbox (the rest of the home is hidden)
_AIDER_READABLE = (
    "~/.aider.conf.yml",
    "~/.aider.model.settings.yml",
    "~/.aider.model.metadata.json",
)
_NO_SANDBOX = "set agent.options.sandbox: off to run aider unconfined (docs/agents/aider.md says what that costs)"
_TAGS_CACHE = ".aider.tags.cache.v*"  # aider's repo-map cache, which it keeps in the repository's root
_TAIL = 600
_TIMEOUT = 408  # a request that timed out is the service failing, not refusing
_TEXT_EVERY_S = 1.0


class AiderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    aider_path: Path | None = None  # None: tools/aider/.venv/bin/aider (make setup), else `aider` on PATH
    model: str | None = None  # aider's --model; None: aider's own choice (its config file, the keys it finds)
    edit_format: str | None = None  # whole, diff, udiff...; None: the model's default
    map_tokens: int | None = Field(default=None, ge=0)  # the repo map's size; 0 turns it off
    files: list[str] = Field(default_factory=list)  # added to the chat (editable) from the start
    read: list[str] = Field(default_factory=list)  # added read-only
    # Context window and prices of models litellm does not know (a local server's); also spares aider
    # fetching litellm's price list for them. Keys are model names as given to --model.
    model_metadata: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # aider runs in a bubblewrap sandbox: it writes only the workspace, its temp dir and ~/.aider, and it
    # sees neither the home directory nor the workspace's neighbours; off runs it unconfined.
    sandbox: bool = True
    readable: list[str] = Field(default_factory=lambda: [*DEFAULT_READABLE, *_AIDER_READABLE])
    stream: bool = True
    timeout_s: float | None = Field(default=None, gt=0)  # one model request's timeout (aider's --timeout)
    stop_on_api_error: bool = True  # False: aider retries rate limits and outages itself (up to a minute)
    args: list[str] = Field(default_factory=list)  # more aider flags, after overseer's own (they can override them)
    env: dict[str, str] = Field(default_factory=dict)  # merged over the inherited environment (API keys, base URLs)


def installed_aider() -> Path | None:
    """The `aider` that `make setup` installed, else the one on PATH."""
    local = TOOL_ENV / "bin" / "aider"
    if local.is_file():
        return local
    found = shutil.which("aider")
    return Path(found) if found else None


class AiderAgent:
    name: ClassVar[str] = "aider"
    config_model: ClassVar[type[BaseModel]] = AiderConfig
    has_sessions: ClassVar[bool] = False  # every attempt starts a new chat: its prompt carries the task

    def __init__(self, config: AiderConfig) -> None:
        self.config = config

    @property
    def aider_path(self) -> Path | None:
        return self.config.aider_path or installed_aider()

    @property
    def sandboxed(self) -> bool:
        """Whether aider runs in the sandbox (the after-attempt check watches files outside when not)."""
        return self.config.sandbox

    def own_paths(self, home: Path) -> list[Path]:
        """Aider's own state under the home directory (analytics id, install record, model caches)."""
        return [home / ".aider"]

    def preflight(self) -> None:
        path = self.aider_path
        if path is None or not path.is_file() or not os.access(path, os.X_OK):
            raise ConfigError("aider not found", path=str(path) if path else None, hint=_INSTALL_HINT)
        if self.config.sandbox:
            _check_bwrap(self.config.env.get("PATH", os.environ.get("PATH")))

    async def run(self, request: AgentRequest, emit: EventSink) -> AgentResult:
        self.preflight()
        with tempfile.TemporaryDirectory(prefix="overseer-aider-", ignore_cleanup_errors=True) as temp:
            repo = await _repository(request.workspace, Path(temp))
            caches = set(repo.root.glob(_TAGS_CACHE)) if repo else set()
            argv, env = self._command(request, Path(temp), repo)
            boundary = self.boundary(request.workspace, Path(env.get("HOME") or Path.home()), Path(temp))
            emit(AgentEvent("sandbox", sandbox_event(boundary, sandboxed=self.config.sandbox)))
            if self.config.sandbox:
                argv, env = sandboxed_command(argv, env, boundary, self.own_paths(boundary.home)[0])
            launcher, lifeline = tied_to_parent(Path(argv[0]))  # aider, or the bwrap around it, dies with overseer
            argv, env = [str(launcher), *argv[1:]], {**env, **lifeline}
            run = _Run(emit, Path(temp) / "chat.md", repo.root if repo else request.workspace)
            try:
                await run.follow(argv, request.workspace, env, stop_on_api_error=self.config.stop_on_api_error)
            finally:
                if repo:  # the repo map's cache is aider's, not the agent's work: gone with the run
                    for cache in set(repo.root.glob(_TAGS_CACHE)) - caches:
                        shutil.rmtree(cache, ignore_errors=True)
            return run.finish()

    def boundary(self, workspace: Path, home: Path, temp_dir: Path) -> Boundary:
        """The walls of one run: the workspace and the temp dir writable, overseer's state not."""
        readable = [*self.config.readable, *_installation(self.aider_path)]
        return Boundary.around(
            workspace, home=home, temp_dir=temp_dir, readable=readable, protected=[workspace / STATE_DIR]
        )

    def _command(self, request: AgentRequest, temp: Path, repo: _Repository | None) -> tuple[list[str], dict[str, str]]:
        path = self.aider_path
        assert path is not None  # preflight saw it
        (temp / "prompt.md").write_text(request.prompt, encoding="utf-8")
        config = self.config
        argv = ["--message-file", str(temp / "prompt.md"), *_OWN_FLAGS]
        argv += ["--chat-history-file", str(temp / "chat.md"), "--input-history-file", str(temp / "input.history")]
        argv += ["--subtree-only"] if repo else ["--no-git"]
        argv += [] if config.stream else ["--no-stream"]
        for flag, value in (
            ("--model", config.model),
            ("--edit-format", config.edit_format),
            ("--map-tokens", config.map_tokens),
            ("--timeout", config.timeout_s),
        ):
            argv += [] if value is None else [flag, str(value)]
        if config.model_metadata:
            metadata = temp / "model.metadata.json"
            metadata.write_text(json.dumps(config.model_metadata), encoding="utf-8")
            argv += ["--model-metadata-file", str(metadata)]
        argv += [word for file in config.files for word in ("--file", file)]
        argv += [word for file in config.read for word in ("--read", file)]
        index = {"GIT_INDEX_FILE": str(repo.index)} if repo else {}
        env = {**os.environ, **_ENV, **config.env, **index}
        return [str(path), *argv, *config.args], env


def _installation(aider: Path | None) -> list[str]:
    """What aider needs readable to start: its environment, and the Python that environment runs on."""
    if aider is None:
        return []
    environment = aider.resolve().parent.parent
    python = environment / "bin" / "python"
    return [str(environment), str(python.resolve().parent.parent)] if python.exists() else [str(environment)]


def _check_bwrap(path_env: str | None) -> None:
    bwrap = shutil.which("bwrap", path=path_env)
    if bwrap is None:
        raise ConfigError("aider's sandbox cannot start: bubblewrap (bwrap) is not installed", hint=_NO_SANDBOX)
    done = subprocess.run([bwrap, "--ro-bind", "/", "/", "true"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise ConfigError(f"aider's sandbox cannot start: bubblewrap failed: {why}", hint=_NO_SANDBOX)


def sandboxed_command(
    argv: list[str], env: dict[str, str], boundary: Boundary, state: Path
) -> tuple[list[str], dict[str, str]]:
    """`argv` run by bubblewrap within `boundary`: the file system read-only, each hidden root an empty
    read-only directory (with the readable paths under it brought back), the workspace, the temp dir
    and aider's `state` writable, overseer's own state read-only. The network stays open: aider talks
    to its model, and runs no commands (--no-suggest-shell-commands)."""
    bwrap = shutil.which("bwrap", path=env.get("PATH"))
    assert bwrap is not None  # preflight saw it
    state.mkdir(parents=True, exist_ok=True)
    hidden = sorted(boundary.hidden, key=lambda path: len(path.parts))  # an outer root first: inner ones on top
    writable = (*boundary.writable, state)
    args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--die-with-parent"]
    args += [word for root in hidden for word in ("--tmpfs", str(root))]
    args += [word for path in boundary.readable if path not in writable for word in ("--ro-bind", str(path), str(path))]
    args += [word for path in writable for word in ("--bind", str(path), str(path))]
    args += [word for path in boundary.protected if path.exists() for word in ("--ro-bind", str(path), str(path))]
    args += [word for root in reversed(hidden) for word in ("--remount-ro", str(root))]
    args += ["--chdir", str(boundary.workspace), "--"]
    return [bwrap, *args, *argv], {**env, "TMPDIR": str(boundary.temp_dir)}  # /tmp is read-only in there


@dataclass(frozen=True)
class _Repository:
    root: Path
    index: Path  # a copy of the user's index that aider's `git add` of a new file may change


async def _repository(workspace: Path, temp: Path) -> _Repository | None:
    """The git repository the workspace is in, with a private copy of its index; None when there is none."""
    try:
        found = await anyio.run_process(
            ["git", "-C", str(workspace), "rev-parse", "--show-toplevel", "--git-path", "index"], check=False
        )
    except OSError:  # no git at all: aider cannot use it either
        return None
    lines = found.stdout.decode().splitlines()
    if found.returncode != 0 or len(lines) != 2:
        return None
    index = temp / "index"
    user_index = workspace / lines[1]  # relative to the workspace unless absolute (then `/` keeps it)
    if user_index.is_file():
        shutil.copyfile(user_index, index)
    return _Repository(Path(lines[0]), index)


@dataclass
class _Run:
    """One aider process followed: its output as events, then what it amounted to."""

    emit: EventSink
    chat_history: Path
    root: Path  # aider names files relative to this
    output: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    replies: int = 0
    cost_usd: float | None = None
    api_error: dict[str, Any] | None = None  # the last one, while no reply has come after it
    stopped: bool = False
    exit_code: int | None = None
    unsaid: str = ""
    said_at: float = field(default_factory=time.monotonic)

    async def follow(self, argv: list[str], cwd: Path, env: dict[str, str], *, stop_on_api_error: bool) -> None:
        try:
            process = await anyio.open_process(
                argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT
            )
        except OSError as exc:
            raise AgentError(f"aider could not start: {exc}", path=argv[0]) from exc
        async with process:  # leaving it (also when overseer cancels the run) kills what is still running
            await self._read(process, stop_on_api_error)
            self.exit_code = await process.wait()

    async def _read(self, process: Process, stop_on_api_error: bool) -> None:
        assert process.stdout is not None
        pending = ""
        async for chunk in TextReceiveStream(process.stdout, errors="replace"):
            self._say(chunk)
            *lines, pending = (pending + chunk).split("\n")
            for line in lines:
                self.line(line.rstrip())
            if self.api_error and stop_on_api_error and not self.stopped:
                self.stopped = True
                process.terminate()
        if pending:
            self.line(pending.rstrip())
        self._say("", flush=True)

    def _say(self, chunk: str, *, flush: bool = False) -> None:
        """Output as `text` events: a streamed reply comes a few characters at a time, so pieces are
        gathered for up to `_TEXT_EVERY_S` (still a sign of life each second while aider talks)."""
        self.unsaid += chunk
        now = time.monotonic()
        if self.unsaid and (flush or now - self.said_at >= _TEXT_EVERY_S):
            self.emit(AgentEvent("text", {"text": self.unsaid}))
            self.unsaid, self.said_at = "", now

    def line(self, line: str) -> None:
        self.output.append(line)
        event = self._event(line)
        if event is not None:
            self._say("", flush=True)  # the output that led to it is logged before it
            self.emit(event)

    def _event(self, line: str) -> AgentEvent | None:
        """What one line of aider's output means, if anything."""
        if applied := _APPLIED.match(line):
            call = ToolCall("", "Edit", {"file_path": str(self.root / applied["path"])})
            self.calls.append(call)
            return AgentEvent("tool_call", {"id": "", "tool": "Edit", "input": call.input, "allowed": True})
        if commit := _COMMIT.match(line):
            return AgentEvent("commit", {"sha": commit["sha"], "message": commit["message"]})
        if tokens := _TOKENS.match(line):
            self.replies += 1
            self.api_error = None  # a reply came after it: aider's own retry got through
            self.cost_usd = float(tokens["session"]) if tokens["session"] else self.cost_usd
            sent, received = _count(tokens["sent"]), _count(tokens["received"])
            return AgentEvent("tokens", {"sent": sent, "received": received, "cost_usd": self.cost_usd})
        if error := _API_ERROR.match(line):
            name = error["name"]
            self.api_error = {"error": name, "status": _STATUS.get(name), "message": error["message"]}
            return AgentEvent("api_error", dict(self.api_error))
        return None

    def finish(self) -> AgentResult:
        """The run's result; a crash (aider failed, or the model service did: 5xx, no connection) is
        raised as AgentError, for the output monitor to restart. A refusal by the model service (a 4xx:
        rate limit, key, request) is an error result with its status, for the monitor to read."""
        text = replies_of(_read_text(self.chat_history))
        error, crashed = self._error()
        status = self.api_error["status"] if self.api_error else None
        self.emit(AgentEvent("result", {"is_error": bool(error), "text": error or text, "api_error_status": status}))
        if crashed:
            raise AgentError(error, hint=clip_tail("\n".join(self.output).strip(), _TAIL))
        reports = parse_reports(text)
        for report in reports:
            self.emit(report_event(report))
        return AgentResult(
            session_id=None,
            is_error=bool(error),
            text=text,
            error=error,
            num_turns=self.replies,
            cost_usd=self.cost_usd,
            tool_calls=tuple(self.calls),
            reports=reports,
        )

    def _error(self) -> tuple[str, bool]:
        """What went wrong, if anything, and whether it was a crash."""
        if self.api_error:
            status = self.api_error["status"]
            said = f"model API error{f' (HTTP {status})' if status else ''}: {self.api_error['error']}"
            refused = status is not None and 400 <= status < 500 and status != _TIMEOUT
            return f"{said}: {self.api_error['message']}", not refused
        if self.exit_code:
            return f"aider exited with code {self.exit_code}", True
        if not self.replies:
            return "aider ended without a reply from the model", True
        return "", False


def _count(tokens: str) -> int:
    """aider's token counts: 777, 2.0k, 12k."""
    return round(float(tokens[:-1]) * 1000) if tokens.endswith("k") else int(float(tokens))


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def replies_of(chat_history: str) -> str:
    """The model's replies in aider's chat history (markdown): what follows the first user message
    (`#### ` lines), less aider's own output (quoted `> ` lines); replies are separated by a blank line."""
    replies: list[str] = []
    reply: list[str] = []
    started = False
    for line in chat_history.splitlines():
        if line.startswith("#### "):
            started = True
        if line.startswith(("#### ", "> ")) or line == ">" or not started:
            if any(part.strip() for part in reply):
                replies.append("\n".join(reply).strip())
            reply = []
        else:
            reply.append(line)
    if any(part.strip() for part in reply):
        replies.append("\n".join(reply).strip())
    return "\n\n".join(replies)
