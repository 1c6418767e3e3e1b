"""Fixtures for the workspace layer: a real directory per test, and real git for the user's repo.
(The real sshd for a workspace on another machine, `ssh_server` and `ssh_host`, is in tests/conftest.py.)"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from overseer.workspace.checkpoints import Checkpoints


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
def checkpoints(workspace: Path) -> Checkpoints:
    return Checkpoints(workspace)


@pytest.fixture
def user_git(workspace: Path) -> Callable[..., str]:
    """Run the user's own git in the workspace, as the user would: their repo, their index."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    identity = ["-c", "user.name=User", "-c", "user.email=user@example.com", "-c", "init.defaultBranch=main"]

    def run(*args: str) -> str:
        proc = subprocess.run(
            ["git", *identity, *args], cwd=workspace, env=env, capture_output=True, text=True, check=True
        )
        return proc.stdout.strip()

    return run
