"""Plugins: agents and supervisor LLMs found through entry points.

Built-ins register exactly like third-party plugins (see `[project.entry-points]` in
pyproject.toml): group `overseer.agents` for agents, `overseer.llms` for supervisor LLMs. A plugin
is a class with a `name`, a pydantic `config_model` for its options, and a constructor that takes
one instance of that model.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ValidationError

from overseer.config import PluginChoice, config_error
from overseer.errors import ConfigError

AGENTS = "overseer.agents"
LLMS = "overseer.llms"


class Plugin(Protocol):
    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]

    def __init__(self, config: Any) -> None: ...


class Registry:
    """The entry points of one process, looked up by group and name. Build one per run."""

    def __init__(self, groups: dict[str, dict[str, EntryPoint]]) -> None:
        self._groups = groups

    @classmethod
    def from_entry_points(cls) -> Registry:
        groups = {group: {ep.name: ep for ep in entry_points(group=group)} for group in (AGENTS, LLMS)}
        return cls(groups)

    def with_plugin(self, entry: EntryPoint) -> Registry:
        """A registry that also has `entry` (in its group): for tests and for trying a plugin uninstalled."""
        groups = {group: dict(entries) for group, entries in self._groups.items()}
        groups.setdefault(entry.group, {})[entry.name] = entry
        return Registry(groups)

    def names(self, group: str) -> list[str]:
        return sorted(self._groups.get(group, {}))

    def load(self, group: str, name: str) -> type[Plugin]:
        entry = self._groups.get(group, {}).get(name)
        if entry is None:
            known = ", ".join(self.names(group)) or "none installed"
            raise ConfigError(f"no plugin named {name!r} in {group}", hint=f"known: {known}")
        try:
            plugin: type[Plugin] = entry.load()
        except Exception as exc:  # a broken third-party plugin must name itself, whatever it raised
            raise ConfigError(f"plugin {name!r} failed to load: {exc}", hint=f"entry point {entry.value}") from exc
        return plugin

    def create(self, group: str, choice: PluginChoice, key: str) -> Any:
        plugin = self.load(group, choice.name)
        try:
            options = plugin.config_model.model_validate(choice.options)
        except ValidationError as exc:
            raise config_error(exc, f"{key}.options") from exc
        return plugin(options)
