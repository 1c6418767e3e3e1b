"""What the agent is told about the workspace besides the task: a short list of its files."""

from __future__ import annotations

import os
from pathlib import Path

from overseer.workspace.ignore import IgnoreRules

MAX_FILES = 60


def workspace_files(workspace: Path, limit: int = MAX_FILES) -> list[str]:
    rules = IgnoreRules.load(workspace)
    found: list[str] = []
    for root, dirs, files in os.walk(workspace):
        rel_root = Path(root).relative_to(workspace).as_posix()
        prefix = "" if rel_root == "." else rel_root + "/"
        dirs[:] = sorted(d for d in dirs if not rules.ignored(prefix + d, is_dir=True))
        found.extend(prefix + f for f in sorted(files) if not rules.ignored(prefix + f))
        if len(found) >= limit:
            return [*found[:limit], f"... and more (showing the first {limit})"]
    return found
