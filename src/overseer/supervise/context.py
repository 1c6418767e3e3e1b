"""What the agent is told about the workspace besides the task: a short list of its files."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

from overseer.workspace.files import project_files

MAX_FILES = 60


def workspace_files(workspace: Path, limit: int = MAX_FILES) -> list[str]:
    found = list(islice(project_files(workspace), limit + 1))
    if len(found) > limit:
        return [*found[:limit], f"... and more (showing the first {limit})"]
    return found
