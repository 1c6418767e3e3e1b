"""Real attempts for the gates' tests: a workspace snapshotted before and after, as the loop does."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from overseer.domain import AgentResult, Evidence
from overseer.workspace.checkpoints import Checkpoints

Files = Mapping[str, str | bytes | None]  # None: the attempt deletes the file


def write(root: Path, files: Files) -> None:
    for name, content in files.items():
        path = root / name
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def attempt(root: Path, before: Files, after: Files, task: str) -> Evidence:
    """Evidence of a real attempt: `before` snapshotted, then `after` applied and snapshotted."""
    root.mkdir()
    write(root, before)
    checkpoints = Checkpoints(root)
    first = checkpoints.snapshot("before")
    write(root, after)
    last = checkpoints.snapshot("after")
    return Evidence(
        task=task,
        attempt=1,
        workspace=root,
        result=AgentResult(session_id=None, is_error=False, text="Done."),
        changes=checkpoints.changes(first, last),
        diff=checkpoints.diff(first, last),
        checkpoint_before=first,
        checkpoint_after=last,
    )
