"""Configuration: pydantic models, merged from layers in a fixed order (later wins):

1. packaged defaults (`overseer/defaults.yaml`)
2. the user's file (`$XDG_CONFIG_HOME/overseer/config.yaml`, or the platform's config dir)
3. the workspace's file (`<workspace>/.overseer/config.yaml`)
4. `OVERSEER_*` environment variables, `__` between levels: OVERSEER_LIMITS__MAX_ATTEMPTS=5
5. command-line flags

Each plugin validates its own `options` with its own model (see `plugins.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import platformdirs
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from overseer.errors import ConfigError

ENV_PREFIX = "OVERSEER_"
# The process's own variables, not configuration: read before any configuration is loaded.
NOT_CONFIG = frozenset({"OVERSEER_CONFIG", "OVERSEER_SERVE_TOKEN", "OVERSEER_RESIDENT", "OVERSEER_RESIDENT_IDLE_S"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PluginChoice(_Strict):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class Limits(_Strict):
    max_attempts: int = Field(default=3, ge=1)
    attempt_timeout_s: float = Field(default=900, gt=0)
    silence_timeout_s: float = Field(default=300, gt=0)
    agent_restarts: int = Field(default=2, ge=0)  # a crashed agent run is started again this many times
    rate_limit_backoff_s: float = Field(default=30, gt=0)  # the first wait when a rate limit names none; doubles
    rate_limit_backoff_max_s: float = Field(default=900, gt=0)  # the longest of those waits
    rate_limit_max_wait_s: float = Field(default=6 * 3600, ge=0)  # waiting in all, per attempt; then it fails


class SupervisorChoice(PluginChoice):
    # How much the model's review counts, 0..1; from 0.5 its rejection stops an attempt and its
    # approval verifies the work. None: 0 for the packaged tiny model, 0.5 for any other.
    trust: float | None = Field(default=None, ge=0, le=1)
    # A trusted model briefs the agent in each attempt's prompt (supervise/draft.py): one more
    # question per attempt. Off, or with an untrusted model, the templates alone write the prompts.
    draft: bool = True
    # Who reviews each attempt. auto: a trusted model only; an untrusted one's opinion decides
    # nothing and costs seconds per attempt (the packaged tiny model is never even loaded then).
    # always: the untrusted model too, its opinion shown. off: no review; the evidence alone judges.
    review: Literal["auto", "always", "off"] = "auto"


class DecideConfig(_Strict):
    proceed_threshold: float = Field(default=0.7, ge=0, le=1)  # a probability that the attempt is good
    stop_unverified: bool = True  # nothing verified the work: stop for a human rather than proceed


class PolicyRow(_Strict):
    severity: Literal["info", "warning", "blocking"] | None = None
    route: Literal["agent", "human", "overseer", "nobody"] | None = None


class StoreConfig(_Strict):
    url: str | None = None
    busy_timeout_s: float = Field(default=5, ge=0)


class RetentionConfig(_Strict):
    # `overseer gc` prunes events and checkpoints older than this; never an unfinished task's.
    keep_days: float = Field(default=30, ge=0)


class GatesConfig(_Strict):
    syntax: bool = True
    tests: bool = True
    # None: run pytest when the workspace has test files; a configured command always runs.
    test_command: list[str] | None = Field(default=None, min_length=1)
    test_timeout_s: float = Field(default=300, gt=0)
    coverage: bool = True  # name the changed lines no test runs (coverage.py, on the tests gate's run)
    fail_first: bool = True  # the agent's new and edited tests, on the code before it: they must fail there
    examples: bool = True  # run the `>>>` examples of changed functions and of the task
    examples_timeout_s: float = Field(default=60, gt=0)
    lint: bool = True  # the project's configured ruff / flake8 / mypy: new problems on changed lines only
    lint_command: list[str] | None = Field(default=None, min_length=1)  # "{files}" -> the changed .py files
    lint_timeout_s: float = Field(default=120, gt=0)
    # Checks a trusted supervisor model writes from the task, run before and after the attempt; never
    # with an untrusted model (the packaged one), whatever this says. A switch like the others, not
    # "auto"/"off": YAML reads a bare `off` as false.
    acceptance: bool = True
    acceptance_timeout_s: float = Field(default=30, gt=0)  # per check, per snapshot
    scope: bool = True  # deletions, renames, CI, dependencies, secrets, binaries, diff size
    max_diff_lines: int | None = Field(default=None, gt=0)  # None: max(400, 40 x the task's words)


class NotifyConfig(_Strict):
    """Who is told when a task stops for a human (orchestrator/notify.py)."""

    bell: bool = True  # the terminal bell, when overseer runs in a terminal
    desktop: bool = False  # a desktop notification through `notify-send`
    webhook: str | None = None  # a URL that gets a JSON POST
    webhook_timeout_s: float = Field(default=5, gt=0)


class BreakpointRule(_Strict):
    """When to stop for a human (supervise/breakpoints.py). A rule may hold several conditions: it fires
    when any of them holds. `tool` rules stop the agent before the call (overseer resolve --allow/--deny);
    the others stop a task before an attempt is let through, or, for the budgets, before the next one."""

    paths: list[str] = Field(default_factory=list)  # gitignore-style globs any changed path matches
    diff_lines_over: int | None = Field(default=None, ge=0)
    confidence_under: float | None = Field(default=None, ge=0, le=1)  # before an attempt proceeds
    findings: list[str] = Field(default_factory=list)  # finding codes (docs/policy.md)
    first_attempt_tagged: str | None = None  # the first attempt of tasks with this tag
    task_minutes_over: float | None = Field(default=None, gt=0)  # wall time of the task's attempts
    task_cost_usd_over: float | None = Field(default=None, gt=0)  # what the agent reports; unknown counts as spent
    tool: str | None = None  # a tool call: "Bash(git push*)", "Write(*.lock)", "WebFetch"

    @model_validator(mode="after")
    def _has_a_condition(self) -> BreakpointRule:
        if not self.model_dump(exclude_defaults=True):
            raise ValueError("a breakpoint needs a condition (paths, diff_lines_over, confidence_under, ...)")
        return self


class OverseerConfig(_Strict):
    agent: PluginChoice
    supervisor: SupervisorChoice
    limits: Limits = Field(default_factory=Limits)
    decide: DecideConfig = Field(default_factory=DecideConfig)
    gates: GatesConfig = Field(default_factory=GatesConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    policy: dict[str, PolicyRow] = Field(default_factory=dict)  # finding code -> severity/route override
    # name -> rule; a layer adds rules by name, and `name: null` removes one an earlier layer set.
    breakpoints: dict[str, BreakpointRule | None] = Field(default_factory=dict)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    # An interrupted attempt's changes (Ctrl-C, a kill): "restore" the workspace to its checkpoint, or "keep" them.
    on_interrupt: Literal["restore", "keep"] = "restore"


def user_config_file() -> Path:
    return Path(platformdirs.user_config_dir("overseer")) / "config.yaml"


def workspace_config_file(workspace: Path) -> Path:
    return workspace / ".overseer" / "config.yaml"


def load_config(
    workspace: Path, environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None
) -> OverseerConfig:
    files = [user_config_file(), workspace_config_file(workspace)]
    merged = _packaged_defaults()
    for path in files:
        merged = deep_merge(merged, _read_yaml(path))
    merged = deep_merge(merged, env_layer(environ))
    merged = deep_merge(merged, dict(overrides or {}))
    try:
        return OverseerConfig.model_validate(merged)
    except ValidationError as exc:
        raise config_error(exc, "", files) from exc


def config_error(exc: ValidationError, prefix: str, files: list[Path] | None = None) -> ConfigError:
    first = exc.errors()[0]
    key = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "")
    sources = ", ".join(str(p) for p in files or [] if p.exists()) or "defaults and OVERSEER_* environment"
    return ConfigError(f"invalid configuration: {key}: {first['msg']}", hint=f"check {sources}")


def deep_merge(base: dict[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    """OVERSEER_A__B=value -> {"a": {"b": value}}; values are read as YAML scalars (5, true, [x])."""
    layer: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NOT_CONFIG:
            continue
        *parents, leaf = name[len(ENV_PREFIX) :].lower().split("__")
        node = layer
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = _scalar(raw, name)
    return layer


def _scalar(raw: str, name: str) -> Any:
    try:
        return yaml.safe_load(raw) if raw else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid value in {name}", hint=str(exc).splitlines()[0]) from exc


def _packaged_defaults() -> dict[str, Any]:
    text = resources.files("overseer").joinpath("defaults.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError("configuration file is not valid YAML", path=str(path), hint=str(exc)) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("configuration file must hold a mapping", path=str(path))
    return data
