"""Start-up: the one factory that opens a workspace and builds what a command needs.

Library objects take explicit arguments; this module is where the configuration, the store and
the plugins are created, once per command, and passed down.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overseer.agents.base import Closes, JudgesCommandsWithAModel, StopsForApproval, site_of
from overseer.config import OverseerConfig, load_config
from overseer.domain import TRUSTED_REVIEW
from overseer.errors import ConfigError, UsageError
from overseer.llm.stream import Streams, TextSink
from overseer.orchestrator import Orchestrator, Reporter
from overseer.orchestrator.holds import Holds
from overseer.orchestrator.notify import Notifier
from overseer.plugins import AGENTS, LLMS, Registry
from overseer.redact import Redactor
from overseer.state.store import Store, sqlite_url
from overseer.supervise.acceptance import AcceptanceChecks
from overseer.supervise.breakpoints import Breakpoints
from overseer.supervise.calibration import Calibration
from overseer.supervise.decide import DecisionEngine
from overseer.supervise.draft import PromptWriter
from overseer.supervise.judge import Judge
from overseer.supervise.policy import Policy, UnknownFindingCode
from overseer.supervise.review import Reviewer
from overseer.workspace.files import STATE_DIR
from overseer.workspace.host import Site


def state_dir(workspace: Path) -> Path:
    return workspace / STATE_DIR


@dataclass
class Workspace:
    """An opened workspace: its configuration, its store and its project row."""

    path: Path
    config: OverseerConfig
    store: Store
    project_id: int

    @property
    def database(self) -> str:
        return self.config.store.url or str(state_dir(self.path) / "state.db")

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_workspace(
    path: Path,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
    *,
    create: bool = False,
) -> Workspace:
    path = path.expanduser().resolve()
    if not path.is_dir():
        raise UsageError("workspace does not exist", path=str(path), hint="create it first, or pass --workspace DIR")
    if not state_dir(path).is_dir():
        if not create:
            raise UsageError("no overseer state here", path=str(path), hint=f"run `overseer init {path}` first")
        _create_state_dir(path)
    config = load_config(path, environ, overrides)
    url = config.store.url or sqlite_url(state_dir(path) / "state.db")
    store = Store.open(url, redactor=Redactor.from_environ(environ), busy_timeout=config.store.busy_timeout_s)
    try:
        project_id = store.ensure_project(path).id
    except BaseException:
        store.close()
        raise
    return Workspace(path, config, store, project_id)


def _create_state_dir(path: Path) -> None:
    state = state_dir(path)
    state.mkdir()
    # Keep overseer's state out of the user's own git without touching their .gitignore.
    (state / ".gitignore").write_text("*\n", encoding="utf-8")


def policy(ws: Workspace) -> Policy:
    """The packaged policy table with the configuration's overrides; an unknown code is a config error."""
    rows = {code: row.model_dump(exclude_none=True) for code, row in ws.config.policy.items()}
    try:
        return Policy(rows)
    except UnknownFindingCode as exc:
        raise ConfigError(f"invalid configuration: policy: no finding code {exc}", hint="see docs/judge.md") from exc


def reviews(mode: str, trust: float) -> bool:
    """Whether the supervisor model reviews each attempt (supervisor.review in config.py)."""
    return mode == "always" or (mode == "auto" and trust >= TRUSTED_REVIEW)


@contextmanager
def workspace_site(ws: Workspace, registry: Registry) -> Iterator[Site]:
    """Where the workspace's files are, by its configured agent: this directory, or the agent's host
    (claude-ssh). For the commands that reach the files without running an attempt (checkpoints,
    rollback, gc); whatever the agent holds open is closed after."""
    agent = registry.create(AGENTS, ws.config.agent, "agent")
    try:
        yield site_of(agent, ws.path)
    finally:
        if isinstance(agent, Closes):
            agent.close()


def build_orchestrator(
    ws: Workspace,
    registry: Registry,
    reporter: Reporter | None = None,
    holds: Holds | None = None,
    *,
    on_text: TextSink | None = None,
) -> Orchestrator:
    """The agent and the supervisor LLM are checked here, before any attempt is recorded. `on_text`
    sees the supervisor's answers as they come, from providers that stream them.

    `holds` is a test hook (see `orchestrator/holds.py`): points where overseer waits to be killed."""
    holds = holds or Holds()
    agent = registry.create(AGENTS, ws.config.agent, "agent")
    agent.preflight()
    breakpoints = Breakpoints(ws.config.breakpoints)
    if isinstance(agent, StopsForApproval):  # others cannot hold a call back: their tool rules do nothing
        agent.stop_before(breakpoints.tool_rules)
    model = registry.create(LLMS, ws.config.supervisor, "supervisor")
    if on_text is not None and isinstance(model, Streams):
        model.on_text = on_text
    llm = holds.around_review(model)
    trust = ws.config.supervisor.trust
    trust = llm.default_trust if trust is None else trust
    reviewer = Reviewer(llm, trust=trust) if reviews(ws.config.supervisor.review, trust) else None
    if trust >= TRUSTED_REVIEW or reviewer is not None:
        llm.preflight()  # an untrusted model that does not review is asked nothing: never loaded
    if isinstance(agent, JudgesCommandsWithAModel) and trust >= TRUSTED_REVIEW:
        agent.use_risk_model(llm)  # commands no rule covers get a trusted model's risk call (arbiter.py)
    limits = ws.config.limits
    return Orchestrator(
        store=ws.store,
        project_id=ws.project_id,
        workspace=ws.path,
        agent=agent,
        judge=Judge(
            ws.config.gates,
            reviewer,
            policy(ws),
            Calibration.load(ws.path),
            AcceptanceChecks(llm, trust=trust, config=ws.config.gates),
            local_workspace=ws.path,  # the baselines' cache and the templates: overseer's own, always here
        ),
        decider=DecisionEngine(
            proceed_threshold=ws.config.decide.proceed_threshold,
            max_attempts=limits.max_attempts,
            stop_unverified=ws.config.decide.stop_unverified,
        ),
        limits=limits,
        reporter=reporter,
        keep_interrupted=ws.config.on_interrupt == "keep",
        holds=holds,
        prompts=PromptWriter(ws.path, llm if ws.config.supervisor.draft else None, trust=trust),
        breakpoints=breakpoints,
        notifier=Notifier(ws.config.notify),
        site=site_of(agent, ws.path),
    )
