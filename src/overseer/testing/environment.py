"""A clean environment for the `claude` CLI, so that scripted runs never reach a real model."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

DUMMY_API_KEY = "sk-ant-scripted-dummy-key"  # the scripted server accepts anything; this is never valid
_CREDENTIAL_PREFIXES = ("ANTHROPIC_", "CLAUDE_", "CLAUDECODE")


def without_model_credentials(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` less every ANTHROPIC_* and CLAUDE_* variable (keys, tokens, base URLs, config dirs)."""
    return {k: v for k, v in environ.items() if not k.startswith(_CREDENTIAL_PREFIXES)}


def claude_environ(environ: Mapping[str, str], server_url: str, config_dir: Path) -> dict[str, str]:
    """`environ` cleaned of credentials and pointed at a scripted server with a dummy key."""
    clean = without_model_credentials(environ)
    clean.update(
        ANTHROPIC_BASE_URL=server_url,
        ANTHROPIC_API_KEY=DUMMY_API_KEY,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        CLAUDE_CONFIG_DIR=str(config_dir),  # sessions live here, not in the user's ~/.claude
    )
    return clean
