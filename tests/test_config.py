"""Configuration layers and their order: defaults < user file < workspace file < env < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from overseer.config import load_config, user_config_file
from overseer.errors import ConfigError


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_packaged_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path, {})
    assert (config.agent.name, config.supervisor.name, config.limits.max_attempts) == (
        "claude-code",
        "embedded",
        3,
    )


def test_layers_in_order(tmp_path: Path) -> None:
    write(
        user_config_file(),
        "limits: {max_attempts: 4, attempt_timeout_s: 10}\ndecide: {proceed_threshold: 0.5}\n",
    )
    write(tmp_path / ".overseer" / "config.yaml", "limits: {max_attempts: 5}\n")
    env = {"OVERSEER_LIMITS__ATTEMPT_TIMEOUT_S": "20", "OVERSEER_DECIDE__PROCEED_THRESHOLD": "0.6"}
    config = load_config(tmp_path, env, {"decide": {"proceed_threshold": 0.9}})
    assert config.limits.max_attempts == 5  # workspace beats user
    assert config.limits.attempt_timeout_s == 20  # env beats files
    assert config.decide.proceed_threshold == 0.9  # flags beat env
    assert config.limits.silence_timeout_s == 300  # untouched default


def test_env_values_are_typed(tmp_path: Path) -> None:
    env = {"OVERSEER_GATES__TEST_COMMAND": "[make, check]", "OVERSEER_GATES__SYNTAX": "false"}
    config = load_config(tmp_path, env)
    assert config.gates.test_command == ["make", "check"] and config.gates.syntax is False


def test_a_bad_value_names_the_key(tmp_path: Path) -> None:
    write(tmp_path / ".overseer" / "config.yaml", "limits: {max_attempts: many}\n")
    with pytest.raises(ConfigError, match=r"limits\.max_attempts") as caught:
        load_config(tmp_path, {})
    assert "config.yaml" in str(caught.value)


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"limits\.max_attempt"):
        load_config(tmp_path, {"OVERSEER_LIMITS__MAX_ATTEMPT": "2"})


def test_invalid_yaml(tmp_path: Path) -> None:
    write(tmp_path / ".overseer" / "config.yaml", "limits: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path, {})
