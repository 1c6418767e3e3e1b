"""Plugins resolve through entry points, built-ins included."""

from __future__ import annotations

import pytest

from overseer.agents.claude_code import ClaudeCodeAgent
from overseer.config import PluginChoice
from overseer.errors import ConfigError
from overseer.llm.embedded import EmbeddedLLM
from overseer.plugins import AGENTS, LLMS, Registry


def test_built_ins_register_through_entry_points() -> None:
    registry = Registry.from_entry_points()
    agent: object = registry.load(AGENTS, "claude-code")
    llm: object = registry.load(LLMS, "embedded")
    assert (agent, llm) == (ClaudeCodeAgent, EmbeddedLLM)


def test_options_are_validated_by_the_plugin_and_the_key_named() -> None:
    registry = Registry.from_entry_points()
    agent = registry.create(AGENTS, PluginChoice(name="claude-code", options={"max_turns": 7}), "agent")
    assert agent.config.max_turns == 7
    with pytest.raises(ConfigError, match=r"agent\.options\.max_turns"):
        registry.create(AGENTS, PluginChoice(name="claude-code", options={"max_turns": "x"}), "agent")


def test_unknown_plugin_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="claude-code"):
        Registry.from_entry_points().load(AGENTS, "cursor")
