"""`overseer doctor`: is everything overseer needs here, and if not, what to do about it.

Each check gives one line: what it found, or what is wrong and how to fix it. Nothing here calls a
model service: the claude CLI is asked its version, its credentials are looked for (never read, never
tried), and the supervisor LLM gets the same preflight `overseer run` gives it (a local model loads;
a server is asked whether it has the model, not asked to answer).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from overseer.cli.common import EXIT_FAILED, EXIT_OK, JsonOption, WorkspaceOption, print_json, stdout
from overseer.errors import OverseerError

if TYPE_CHECKING:
    from overseer.config import OverseerConfig

_VERSION_TIMEOUT_S = 30
_KEYS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
_CLOUDS = {"CLAUDE_CODE_USE_BEDROCK": "Amazon Bedrock", "CLAUDE_CODE_USE_VERTEX": "Google Vertex AI"}
_LOGIN_HINT = "set ANTHROPIC_API_KEY (agent.options.env or the environment), or run `claude` once and /login"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # what was found, or what is wrong
    fix: str = ""  # how to fix it, when it is wrong


def doctor(workspace: Path = WorkspaceOption, json_output: bool = JsonOption) -> None:
    """Check the set-up: the claude CLI and its credentials, the sandbox, the supervisor LLM, the
    workspace and the store. One line each; exits 0 only when all is well. Calls no model service."""
    checks = list(run_checks(workspace.expanduser().resolve(), os.environ))
    healthy = all(check.ok for check in checks)
    if json_output:
        print_json({"ok": healthy, "checks": [asdict(check) for check in checks]})
    else:
        console = stdout()
        for check in checks:
            line = f"{check.name}: {check.detail}" + (f" -> {check.fix}" if check.fix else "")
            console.print(("[green]ok  [/]   " if check.ok else "[red]FAIL[/]   ") + line, markup=True, highlight=False)
    raise typer.Exit(EXIT_OK if healthy else EXIT_FAILED)


def run_checks(workspace: Path, environ: Mapping[str, str]) -> Iterator[Check]:
    try:
        from overseer.config import load_config  # pydantic and yaml: `overseer --help` must not pay for them

        config = load_config(workspace, environ)
    except OverseerError as exc:
        yield Check("configuration", False, exc.message, exc.hint)
        return
    from overseer.plugins import AGENTS, Registry

    registry = Registry.from_entry_points()
    agent = _guarded("agent", lambda: registry.create(AGENTS, config.agent, "agent"))
    if isinstance(agent, Check):
        yield agent
    elif config.agent.name == "claude-code":
        yield from _claude_checks(agent, environ)
    else:

        def agent_ready() -> str:
            agent.preflight()
            return f"{config.agent.name} ready"

        yield _checked("agent", agent_ready)
    yield _supervisor(registry, config)
    yield from _workspace_checks(workspace, environ)


def _claude_checks(agent: Any, environ: Mapping[str, str]) -> Iterator[Check]:
    env = {**environ, **agent.config.env}
    yield _claude_cli(agent.cli_path, env)
    yield _credentials(env)
    if not agent.sandboxed:
        yield Check("sandbox", True, "off (agent.options.sandbox: off): Bash runs unconfined")
    else:
        yield _checked("sandbox", lambda: _sandbox(env))


def _sandbox(env: Mapping[str, str]) -> str:
    from overseer.agents.sandbox import check_available

    check_available(env.get("PATH"))  # what the agent's own preflight runs: the probe Claude Code runs
    if platform.system() != "Linux":
        return "the OS sandbox starts"
    found = [shutil.which(program, path=env.get("PATH")) for program in ("bwrap", "socat")]
    return f"bubblewrap starts a user namespace ({found[0]}), socat at {found[1]}"


def _claude_cli(path: Path, env: Mapping[str, str]) -> Check:
    fix = "set agent.options.cli_path to your `claude`, or reinstall claude-agent-sdk"
    if not path.is_file():
        return Check("claude CLI", False, f"not found at {path}", fix)
    try:
        done = subprocess.run(
            [str(path), "--version"], env=dict(env), capture_output=True, text=True, timeout=_VERSION_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("claude CLI", False, f"{path} does not run: {exc}", fix)
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return Check("claude CLI", False, f"{path} --version failed: {why}", fix)
    return Check("claude CLI", True, f"{done.stdout.strip()} at {path}")


def _credentials(env: Mapping[str, str]) -> Check:
    """Where the CLI would find credentials: their presence only, never their value, never tried."""
    base = f" (ANTHROPIC_BASE_URL={env['ANTHROPIC_BASE_URL']})" if env.get("ANTHROPIC_BASE_URL") else ""
    keys = [name for name in _KEYS if env.get(name)]
    if keys:
        return Check("credentials", True, f"{', '.join(keys)} set{base}")
    clouds = [cloud for name, cloud in _CLOUDS.items() if env.get(name, "").lower() in ("1", "true")]
    if clouds:
        return Check("credentials", True, f"{clouds[0]} (its own credentials are not checked here)")
    config_dir = Path(env["CLAUDE_CONFIG_DIR"]) if env.get("CLAUDE_CONFIG_DIR") else Path.home() / ".claude"
    login = config_dir / ".credentials.json"
    if login.is_file():
        return Check("credentials", True, f"a Claude Code login ({login}){base}")
    if platform.system() == "Darwin":
        return Check("credentials", True, "a login would be in the macOS keychain, which is not looked into")
    return Check("credentials", False, f"no API key in the environment and no login in {config_dir}", _LOGIN_HINT)


def _supervisor(registry: Any, config: OverseerConfig) -> Check:
    from overseer.plugins import LLMS

    choice = config.supervisor
    options = ", ".join(f"{key}={value}" for key, value in choice.options.items())
    described = f"{choice.name}" + (f" ({options})" if options else "")

    def ready() -> str:
        llm = registry.create(LLMS, choice, "supervisor")
        llm.preflight()
        try:
            tokens = llm.tokenizer().label
        except OverseerError as exc:
            tokens = f"unknown ({exc.message})"
        return f"{described} ready; token counts: {tokens}"

    return _checked("supervisor", ready)


def _workspace_checks(workspace: Path, environ: Mapping[str, str]) -> Iterator[Check]:
    if not workspace.is_dir():
        yield Check("workspace", False, f"{workspace} does not exist", "create it, or pass --workspace DIR")
        return
    if not os.access(workspace, os.W_OK):
        yield Check("workspace", False, f"{workspace} is not writable", "fix its permissions")
        return
    if shutil.which("git", path=environ.get("PATH")) is None:
        yield Check("workspace", False, "git is not installed (checkpoints are a shadow git repository)", "install git")
        return
    from overseer.workspace.files import STATE_DIR  # pathspec: `overseer --help` must not pay for it

    if not (workspace / STATE_DIR).is_dir():
        yield Check("workspace", False, f"no overseer state in {workspace}", f"run `overseer init {workspace}`")
        yield Check("store", False, "not created yet", f"run `overseer init {workspace}`")
        return
    yield Check("workspace", True, str(workspace))
    yield from _templates(workspace)
    yield _checked("store", lambda: _store(workspace, environ))


def _templates(workspace: Path) -> Iterator[Check]:
    from overseer.supervise.prompts import in_force

    found = in_force(workspace)
    for template in found:
        where = f"{template.name} ({template.path})"
        if template.problem:
            yield Check("templates", False, f"{where} cannot render: {template.problem}", "fix or remove the file")
        elif not template.known:
            yield Check("templates", False, f"{where} replaces nothing", "name it like a packaged template")
    if all(template.known and not template.problem for template in found):
        overrides = sum(template.source != "package" for template in found)
        yield Check("templates", True, f"{len(found)} in force, {overrides} overridden (`overseer templates`)")


def _store(workspace: Path, environ: Mapping[str, str]) -> str:
    from overseer.runtime import open_workspace

    with open_workspace(workspace, environ) as ws:  # opens, migrates if needed: what every command does first
        tasks = len(ws.store.list_tasks(ws.project_id))
        return f"{ws.database} ({tasks} task(s))"


def _guarded(name: str, build: Callable[[], Any]) -> Any:
    """What `build` returns, or a failed Check saying why it could not."""
    try:
        return build()
    except OverseerError as exc:
        where = ", ".join(f"{key}={value}" for key, value in exc.context.items() if value is not None)
        return Check(name, False, f"{exc.message} ({where})" if where else exc.message, exc.hint)


def _checked(name: str, check: Callable[[], str]) -> Check:
    result = _guarded(name, check)
    return result if isinstance(result, Check) else Check(name, True, result)
